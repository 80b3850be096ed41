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
    /// `"Dropout(p=0.5, inplace=False)"`, as PyTorch prints it.
    public var description: String { "Dropout(p=\(p), inplace=False)" }
    /// Training draws a mask per forward; evaluation copies the input through.
    public func setTraining(_ training: Bool) { self.training = training }
    /// Restarts the mask stream from `seed`: the same seed draws the same masks.
    public func setRandomSeed(_ seed: UInt64) { rng = SeededRNG(seed: seed) }
    /// y = x ⊙ mask, each mask element 0 with probability p, else 1/(1-p); x: [N, ...] -> [N, ...]
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
    /// dx = dy ⊙ the last forward's mask (dy itself after an evaluation forward); no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Dropout")
        guard computeInputGradient else { return nil }
        if !lastWasTraining { gradInput.data.update(from: dy.data, count: dy.count); return gradInput }
        let g = dy.data, m = mask.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * m[i] }
        return gradInput
    }
}
