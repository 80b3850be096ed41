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
