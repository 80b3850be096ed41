/// A residual block `y = x + body(x)`: the body's layers run in order and their output,
/// which must have the input's shape, is added to the input.
///
/// Parameter names follow this PyTorch module, a `Sequential` whose forward adds its input
/// (see examples/models/README.md), so a block at position 3 whose body holds a `Linear`
/// first names it `3.0.weight`:
///
/// ```python
/// class Residual(nn.Sequential):
///     def forward(self, x):
///         return x + super().forward(x)
/// ```
///
/// ```swift
/// let block = Residual([Linear(64, 64), ReLU()])   // x: [N, 64] -> [N, 64]
/// ```
public final class Residual: Layer, FLOPCounting {
    /// The body, in forward order.
    public let layers: [any Layer]
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var cachedShape: [Int] = []

    /// A residual block around `layers` (at least one).
    public init(_ layers: [any Layer]) {
        precondition(!layers.isEmpty, "Residual: the body needs at least one layer")
        self.layers = layers
    }

    /// PyTorch-style repr: `Residual(` then one indented line per body layer, then `)`.
    public var description: String {
        let body = layers.enumerated().map { i, layer in
            "  (\(i)): " + layer.description.replacingOccurrences(of: "\n", with: "\n  ")
        }
        return (["Residual("] + body + [")"]).joined(separator: "\n")
    }
    /// The body's trainable tensors, named `INDEX.NAME` within the block.
    public var parameterSpecs: [TensorSpec] {
        layers.enumerated().flatMap { i, layer in
            layer.parameterSpecs.map { TensorSpec("\(i).\($0.name)", $0.shape, isInteger: $0.isInteger) }
        }
    }
    /// The body's non-trainable tensors, named `INDEX.NAME` within the block.
    public var bufferSpecs: [TensorSpec] {
        layers.enumerated().flatMap { i, layer in
            layer.bufferSpecs.map { TensorSpec("\(i).\($0.name)", $0.shape, isInteger: $0.isInteger) }
        }
    }
    /// Points each body layer at its window, in forward order.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        var p = 0, b = 0
        for layer in layers {
            layer.bind(parameters: parameters + p, gradients: gradients + p, buffers: buffers + b)
            p += layer.parameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) }
            b += layer.bufferSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) }
        }
    }
    /// Initialises the body's layers in order from the model's one stream.
    public func resetParameters(rng: inout SeededRNG) {
        for layer in layers { layer.resetParameters(rng: &rng) }
    }
    /// Training or evaluation behaviour, for every body layer.
    public func setTraining(_ training: Bool) {
        for layer in layers { layer.setTraining(training) }
    }
    /// Reseeds every stochastic body layer, each from its own stream of `seed`.
    public func setRandomSeed(_ seed: UInt64) {
        for (i, layer) in layers.enumerated() { layer.setRandomSeed(seed &+ (UInt64(i + 1) &* 0xD1B5_4A32_D192_ED03)) }
    }
    /// The input's shape, when the body maps it to itself; otherwise an error naming both.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        var s = shape
        for layer in layers { s = try layer.outputShape(forInput: s) }
        guard s == shape else { throw NeuralNetError.inputShapeMismatch(expected: shape, got: s) }
        return shape
    }
    /// The body's forward + backward FLOPs per sample (the addition is not counted).
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        var total = 0, s = inputShape
        for (i, layer) in layers.enumerated() {
            if let counted = layer as? FLOPCounting {
                total += counted.trainingFLOPs(inputShape: s, computeInputGradient: computeInputGradient || i > 0)
            }
            s = (try? layer.outputShape(forInput: s)) ?? s
        }
        return total
    }

    /// x: [N, ...] -> x + body(x): [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            output.resize(to: x.shape)
            gradInput.resize(to: x.shape)
        }
        var y = x
        for layer in layers { y = layer.forward(y) }
        precondition(y.shape == x.shape, "Residual.forward: the body maps \(x.shape) to \(y.shape)")
        let a = x.data, b = y.data, out = output.data
        for i in 0..<x.count { out[i] = a[i] + b[i] }
        return output
    }

    /// dy -> dx = dy + body'ᵀ dy; the body's parameter gradients accumulate as usual.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "Residual.backward: gradient \(dy.shape), output \(output.shape)")
        var g = dy
        var i = layers.count - 1
        while i >= 0 {
            if let dx = layers[i].backward(g, computeInputGradient: i > 0 || computeInputGradient) { g = dx }
            i -= 1
        }
        guard computeInputGradient else { return nil }
        let a = dy.data, b = g.data, dx = gradInput.data
        for j in 0..<dy.count { dx[j] = a[j] + b[j] }
        return gradInput
    }
}

extension Sequential {
    /// Every layer in forward order, with each residual block followed by its body's
    /// layers (recursively): for settings that must reach layers inside blocks too.
    public var allLayers: [any Layer] {
        func walk(_ layers: [any Layer]) -> [any Layer] {
            layers.flatMap { layer -> [any Layer] in
                guard let block = layer as? Residual else { return [layer] }
                return [layer] + walk(block.layers)
            }
        }
        return walk(layers)
    }
}

/// Fuses (or unfuses) each `Conv2d` or `BatchNorm` followed by a `ReLU` in `layers`, and
/// inside residual bodies; see ``Sequential/setLayerFusion(_:)``.
func setReLUFusion(_ layers: [any Layer], _ enabled: Bool) {
    for (a, b) in zip(layers, layers.dropFirst()) {
        if let conv = a as? Conv2d, let relu = b as? ReLU {
            conv.fusesReLU = enabled
            relu.fusedIntoPrevious = enabled
        }
        if let norm = a as? BatchNorm, let relu = b as? ReLU {
            norm.fusesReLU = enabled
            relu.fusedIntoPrevious = enabled
        }
    }
    for case let block as Residual in layers { setReLUFusion(block.layers, enabled) }
}
