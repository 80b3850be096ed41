/// Zeroes each element with probability `p` in training and scales the rest by `1/(1-p)`;
/// the identity in evaluation. PyTorch's `nn.Dropout`. Masks come from ``SeededRNG``,
/// reseeded by ``Sequential/setRandomSeed(_:)``.
public final class Dropout: ElementwiseActivation, Layer {
    /// Drop probability.
    public let p: Float
    private var training = true
    private var rng = SeededRNG(seed: 0)
    private let mask = Tensor(shape: [0])
    private var maskShape: [Int] = []
    private var lastWasTraining = false

    /// A dropout layer with drop probability `p` in `[0, 1)`.
    public init(p: Float = 0.5) {
        precondition(p >= 0 && p < 1, "Dropout: p \(p) must be in [0, 1)")
        self.p = p
    }
    /// PyTorch-style repr of this layer.
    public var description: String { "Dropout(p=\(p), inplace=False)" }
    /// Training or evaluation behaviour.
    public func setTraining(_ training: Bool) { self.training = training }
    /// Reseeds the layer's random stream.
    public func setRandomSeed(_ seed: UInt64) { rng = SeededRNG(seed: seed) }
    /// x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        lastWasTraining = training
        guard training else { output.data.update(from: x.data, count: x.count); return output }
        if maskShape != x.shape { maskShape = x.shape; mask.resize(to: x.shape) }
        let a = x.data, y = output.data, m = mask.data, scale = 1 / (1 - p)
        for i in 0..<x.count {
            m[i] = rng.nextFloat() < p ? 0 : scale
            y[i] = a[i] * m[i]
        }
        return output
    }
    /// Accumulates parameter gradients; returns the input gradient when asked.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Dropout")
        guard computeInputGradient else { return nil }
        if !lastWasTraining { gradInput.data.update(from: dy.data, count: dy.count); return gradInput }
        let g = dy.data, m = mask.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * m[i] }
        return gradInput
    }
}
