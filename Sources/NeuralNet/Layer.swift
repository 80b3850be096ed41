/// One layer of a ``Sequential`` model, with forward and an explicit backward.
///
/// A layer owns its output and input-gradient tensors and reuses them while the batch
/// shape stays the same. `backward` ACCUMULATES (`+=`) into the layer's parameter
/// gradients in the arena and returns the gradient with respect to its input (or nil when
/// asked not to compute it, as for a model's first layer).
///
/// ```swift
/// let fc = Linear(784, 10)
/// let y = fc.forward(x)                       // [N, 784] -> [N, 10]
/// let dx = fc.backward(dy, computeInputGradient: true)
/// ```
public protocol Layer: AnyObject {
    /// PyTorch-style repr, e.g. `Linear(in_features=784, out_features=10, bias=True)`.
    var description: String { get }
    /// Trainable tensors this layer needs, in arena order (e.g. `weight`, `bias`).
    var parameterSpecs: [TensorSpec] { get }
    /// Non-trainable tensors (e.g. `running_mean`).
    var bufferSpecs: [TensorSpec] { get }
    /// Gives the layer its windows into the arenas (pointers at its first element).
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
              buffers: UnsafeMutablePointer<Float>)
    /// Fills the parameters with PyTorch's default initialisation (and buffers with their defaults).
    func resetParameters(rng: inout SeededRNG)
    /// Per-sample output shape for a per-sample input shape, or an error naming the mismatch.
    func outputShape(forInput shape: [Int]) throws -> [Int]
    /// Runs the layer; the result is layer-owned and valid until the next `forward`.
    func forward(_ input: Tensor) -> Tensor
    /// Accumulates parameter gradients and returns d(loss)/d(input) when asked.
    func backward(_ gradOutput: Tensor, computeInputGradient: Bool) -> Tensor?
    /// Switches training (batch statistics, dropout) and evaluation behaviour.
    func setTraining(_ training: Bool)
    /// Reseeds a stochastic layer; others ignore it.
    func setRandomSeed(_ seed: UInt64)
}

extension Layer {
    /// None: the layer has no parameters.
    public var parameterSpecs: [TensorSpec] { [] }
    /// None: the layer keeps no running statistics.
    public var bufferSpecs: [TensorSpec] { [] }
    /// Nothing to bind for a layer without parameters or buffers.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {}
    /// Nothing to fill for a layer without parameters.
    public func resetParameters(rng: inout SeededRNG) {}
    /// Ignored: the layer behaves the same in training and evaluation.
    public func setTraining(_ training: Bool) {}
    /// Ignored: the layer draws no random numbers.
    public func setRandomSeed(_ seed: UInt64) {}
    /// Trainable element count.
    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

/// Checks that `input` has the shape the layer last configured for, reconfiguring on change.
/// Layers compare the incoming shape with their cached one so a steady-state step makes no
/// allocation.
@inline(__always)
func shapeChanged(_ cached: inout [Int], _ input: Tensor) -> Bool {
    if cached == input.shape { return false }
    cached = input.shape
    return true
}

/// The children of a composite layer (``TransformerBlock``), named like a PyTorch module's
/// attributes and laid out one after another in the parent's windows of the arenas, so that
/// a child's `weight` becomes the parent's `ln1.weight` and, in a ``Sequential``, the
/// state_dict key `3.ln1.weight`.
struct Sublayers {
    /// `(attribute name, layer)` in arena order.
    let children: [(name: String, layer: any Layer)]

    /// The children's trainable specs, prefixed with their names.
    var parameterSpecs: [TensorSpec] {
        children.flatMap { child in
            child.layer.parameterSpecs.map { TensorSpec("\(child.name).\($0.name)", $0.shape, isInteger: $0.isInteger) }
        }
    }
    /// The children's non-trainable specs, prefixed with their names.
    var bufferSpecs: [TensorSpec] {
        children.flatMap { child in
            child.layer.bufferSpecs.map { TensorSpec("\(child.name).\($0.name)", $0.shape, isInteger: $0.isInteger) }
        }
    }
    /// Binds each child to its consecutive windows.
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
              buffers: UnsafeMutablePointer<Float>) {
        var p = 0, b = 0
        for child in children {
            child.layer.bind(parameters: parameters + p, gradients: gradients + p, buffers: buffers + b)
            p += child.layer.parameterCount
            b += child.layer.bufferSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) }
        }
    }
    /// Initialises the children in order from one stream.
    func resetParameters(rng: inout SeededRNG) {
        for child in children { child.layer.resetParameters(rng: &rng) }
    }
    /// Training or evaluation behaviour for every child.
    func setTraining(_ training: Bool) {
        for child in children { child.layer.setTraining(training) }
    }
    /// Reseeds every child, each from its own stream of `seed`.
    func setRandomSeed(_ seed: UInt64) {
        for (i, child) in children.enumerated() { child.layer.setRandomSeed(seed ^ (UInt64(i + 1) &* 0xBF58_476D_1CE4_E5B9)) }
    }
}
