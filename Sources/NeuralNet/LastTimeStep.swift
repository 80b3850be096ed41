/// The last step of a sequence, `y[n] = x[n, T-1]`: `[N, T, H] -> [N, H]`, what PyTorch
/// code writes as `output[:, -1]` after a batch-first ``LSTM`` or ``GRU`` to classify or
/// predict from a whole sequence. No parameters.
///
/// ```swift
/// let layers: [any Layer] = [LSTM(8, 64), LastTimeStep(), Linear(64, 10)]   // [N, T, 8] -> [N, 10]
/// ```
public final class LastTimeStep: Layer {
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var cachedShape: [Int] = []

    /// A last-step selector.
    public init() {}
    public var description: String { "LastTimeStep()" }
    /// Per-sample `[T, H]` -> `[H]`; anything but a non-empty sequence is an error.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] >= 1 else {
            throw NeuralNetError.inputShapeMismatch(expected: [max(shape.first ?? 1, 1), shape.last ?? 1], got: shape)
        }
        return [shape[1]]
    }
    /// x: [N, T, H] -> [N, H]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 3 && x.shape[1] >= 1, "LastTimeStep.forward: input \(x.shape), expected [N, T, H]")
            output.resize(to: [x.shape[0], x.shape[2]])
            gradInput.resize(to: x.shape)
            gradInput.fill(0)   // only the last step's rows are ever written
        }
        let n = x.shape[0], steps = x.shape[1], h = x.shape[2]
        for b in 0..<n { (output.data + b * h).update(from: x.data + (b * steps + steps - 1) * h, count: h) }
        return output
    }
    /// dy: [N, H] -> dx: [N, T, H], zero except at the last step
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "LastTimeStep.backward: gradient \(dy.shape), output \(output.shape)")
        guard computeInputGradient else { return nil }
        let n = cachedShape[0], steps = cachedShape[1], h = cachedShape[2]
        for b in 0..<n { (gradInput.data + (b * steps + steps - 1) * h).update(from: dy.data + b * h, count: h) }
        return gradInput
    }
}
