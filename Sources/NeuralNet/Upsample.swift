/// Nearest-neighbour upsampling by an integer factor, PyTorch's
/// `nn.Upsample(scale_factor=s, mode='nearest')` on images: every pixel becomes an
/// `s × s` block. No parameters.
///
/// ```swift
/// Upsample(scale: 2)   // [N, C, 7, 7] -> [N, C, 14, 14]
/// ```
public final class Upsample: Layer {
    /// The integer scale factor in both directions.
    public let scale: Int
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var cachedShape: [Int] = []

    /// An upsampler; traps on a scale below 1.
    public init(scale: Int) {
        precondition(scale >= 1, "Upsample: scale \(scale) must be at least 1")
        self.scale = scale
    }
    public var description: String { "Upsample(scale_factor=\(scale).0, mode='nearest')" }
    /// Per-sample `[C, H, W]` -> `[C, s·H, s·W]`, or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 3 else { throw NeuralNetError.inputShapeMismatch(expected: [max(shape.first ?? 1, 1), 1, 1], got: shape) }
        return [shape[0], scale * shape[1], scale * shape[2]]
    }
    /// x: [N, C, H, W] -> [N, C, s·H, s·W]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 4, "Upsample.forward: input \(x.shape), expected [N, C, H, W]")
            output.resize(to: [x.shape[0], x.shape[1], scale * x.shape[2], scale * x.shape[3]])
            gradInput.resize(to: x.shape)
        }
        let planes = x.shape[0] * x.shape[1], h = x.shape[2], w = x.shape[3], s = scale, ow = s * w
        for pl in 0..<planes {
            let src = x.data + pl * h * w, dst = output.data + pl * h * w * s * s
            for y in 0..<h {
                let row = dst + y * s * ow, from = src + y * w
                for xo in 0..<w {
                    let v = from[xo]
                    for j in 0..<s { row[xo * s + j] = v }
                }
                for i in 1..<s { (row + i * ow).update(from: row, count: ow) }
            }
        }
        return output
    }
    /// dy: [N, C, s·H, s·W] -> dx: [N, C, H, W], each pixel the sum of its block
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "Upsample.backward: gradient \(dy.shape), output \(output.shape)")
        guard computeInputGradient else { return nil }
        let planes = cachedShape[0] * cachedShape[1], h = cachedShape[2], w = cachedShape[3], s = scale, ow = s * w
        for pl in 0..<planes {
            let g = dy.data + pl * h * w * s * s, dx = gradInput.data + pl * h * w
            for y in 0..<h {
                for xo in 0..<w {
                    var sum: Float = 0
                    for i in 0..<s {
                        let row = g + (y * s + i) * ow + xo * s
                        for j in 0..<s { sum += row[j] }
                    }
                    dx[y * w + xo] = sum
                }
            }
        }
        return gradInput
    }
}
