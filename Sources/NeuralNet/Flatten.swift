/// Flattens every dimension after the batch, PyTorch's `nn.Flatten()`; a view, no copy.
///
/// ```swift
/// Flatten()   // [N, 32, 11, 11] -> [N, 3872]
/// ```
public final class Flatten: Layer {
    private var view: Tensor?
    private var gradView: Tensor?
    private var inputShape: [Int] = []
    private var flatShape: [Int] = []
    /// A flatten layer.
    public init() {}
    /// PyTorch-style repr of this layer.
    public var description: String { "Flatten(start_dim=1, end_dim=-1)" }
    /// Per-sample output shape, or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] { [shape.reduce(1, *)] }
    /// x: [N, ...] -> [N, F]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&inputShape, x) {
            flatShape = [x.shape[0], x.count / max(x.shape[0], 1)]
            view = Tensor(viewing: x.data, shape: flatShape)
            gradView = nil
        }
        view!.aim(at: x.data, shape: flatShape)
        return view!
    }
    /// Accumulates parameter gradients; returns the input gradient when asked.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == flatShape, "Flatten.backward: gradient \(dy.shape), output \(flatShape)")
        guard computeInputGradient else { return nil }
        if gradView == nil { gradView = Tensor(viewing: dy.data, shape: inputShape) }
        gradView!.aim(at: dy.data, shape: inputShape)
        return gradView
    }
}
