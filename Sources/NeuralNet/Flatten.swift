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
    /// `"Flatten(start_dim=1, end_dim=-1)"`, as PyTorch prints it.
    public var description: String { "Flatten(start_dim=1, end_dim=-1)" }
    /// Any per-sample shape, flattened: [C, H, W] -> [C·H·W].
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
    /// dy: [N, F] -> dx: [N, ...], a view of dy in the input's shape; no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == flatShape, "Flatten.backward: gradient \(dy.shape), output \(flatShape)")
        guard computeInputGradient else { return nil }
        if gradView == nil { gradView = Tensor(viewing: dy.data, shape: inputShape) }
        gradView!.aim(at: dy.data, shape: inputShape)
        return gradView
    }
}
