/// 2-D max pooling, PyTorch's `nn.MaxPool2d(kernel_size, stride=kernel_size, padding=0)`.
///
/// ```swift
/// MaxPool2d(kernelSize: 2)   // [N, C, 28, 28] -> [N, C, 14, 14]
/// ```
public final class MaxPool2d: Pool2d, Layer {
    private var argmax: UnsafeMutablePointer<Int32> = .allocate(capacity: 1)
    private var argmaxCapacity = 1

    /// A max pool; `stride` defaults to `kernelSize`.
    public init(kernelSize: Int, stride: Int? = nil) {
        super.init("MaxPool2d", kernelSize: kernelSize, stride: stride)
    }
    deinit { argmax.deallocate() }
    /// `"MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"`, as PyTorch prints it.
    public var description: String { "MaxPool2d(kernel_size=\(kernelSize), stride=\(stride), padding=0, dilation=1, ceil_mode=False)" }
    /// y = the maximum of each window, its index kept for backward; x: [N, C, H, W] -> [N, C, H', W']
    public func forward(_ x: Tensor) -> Tensor {
        if prepare(x) && output.count > argmaxCapacity {
            argmax.deallocate()
            argmax = .allocate(capacity: output.count)
            argmaxCapacity = output.count
        }
        let (planes, h, w, oh, ow) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3], output.shape[2], output.shape[3])
        let k = kernelSize
        if k == 2 && stride == 2 {   // the common case, branch-free
            for pl in 0..<planes {
                let src = x.data + pl * h * w, dst = output.data + pl * oh * ow, arg = argmax + pl * oh * ow
                for y in 0..<oh {
                    for xo in 0..<ow {
                        let i0 = 2 * y * w + 2 * xo
                        let a = src[i0], b = src[i0 + 1], c = src[i0 + w], d = src[i0 + w + 1]
                        let top = b > a ? b : a, ti = b > a ? i0 + 1 : i0
                        let bottom = d > c ? d : c, bi = d > c ? i0 + w + 1 : i0 + w
                        dst[y * ow + xo] = bottom > top ? bottom : top
                        arg[y * ow + xo] = Int32(bottom > top ? bi : ti)
                    }
                }
            }
            return output
        }
        for pl in 0..<planes {
            let src = x.data + pl * h * w, dst = output.data + pl * oh * ow, arg = argmax + pl * oh * ow
            for y in 0..<oh {
                for xo in 0..<ow {
                    var best = -Float.infinity, bestIndex = (y * stride) * w + xo * stride
                    for i in 0..<k {
                        let row = (y * stride + i) * w + xo * stride
                        for j in 0..<k where src[row + j] > best {
                            best = src[row + j]
                            bestIndex = row + j
                        }
                    }
                    dst[y * ow + xo] = best
                    arg[y * ow + xo] = Int32(bestIndex)
                }
            }
        }
        return output
    }
    /// dy: [N, C, H', W'] -> dx: [N, C, H, W], routed to each window's maximum
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard prepareBackward(dy, computeInputGradient) else { return nil }
        let planes = gradInput.shape[0] * gradInput.shape[1], hw = gradInput.shape[2] * gradInput.shape[3]
        let ohw = output.shape[2] * output.shape[3]
        for pl in 0..<planes {
            let g = dy.data + pl * ohw, arg = argmax + pl * ohw, dx = gradInput.data + pl * hw
            for q in 0..<ohw { dx[Int(arg[q])] += g[q] }
        }
        return gradInput
    }
}

/// 2-D average pooling, PyTorch's `nn.AvgPool2d(kernel_size, stride=kernel_size, padding=0)`.
///
/// ```swift
/// AvgPool2d(kernelSize: 2)   // [N, C, 28, 28] -> [N, C, 14, 14]
/// ```
public final class AvgPool2d: Pool2d, Layer {
    /// An average pool; `stride` defaults to `kernelSize`.
    public init(kernelSize: Int, stride: Int? = nil) {
        super.init("AvgPool2d", kernelSize: kernelSize, stride: stride)
    }
    /// `"AvgPool2d(kernel_size=2, stride=2, padding=0)"`, as PyTorch prints it.
    public var description: String { "AvgPool2d(kernel_size=\(kernelSize), stride=\(stride), padding=0)" }
    /// y = the mean of each window; x: [N, C, H, W] -> [N, C, H', W']
    public func forward(_ x: Tensor) -> Tensor {
        _ = prepare(x)
        let (planes, h, w, oh, ow) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3], output.shape[2], output.shape[3])
        let k = kernelSize
        let scale = 1 / Float(k * k)
        for pl in 0..<planes {
            let src = x.data + pl * h * w, dst = output.data + pl * oh * ow
            for y in 0..<oh {
                for xo in 0..<ow {
                    var s: Float = 0
                    for i in 0..<k {
                        let row = src + (y * stride + i) * w + xo * stride
                        for j in 0..<k { s += row[j] }
                    }
                    dst[y * ow + xo] = s * scale
                }
            }
        }
        return output
    }
    /// dy: [N, C, H', W'] -> dx: [N, C, H, W], spread evenly over each window
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard prepareBackward(dy, computeInputGradient) else { return nil }
        let planes = gradInput.shape[0] * gradInput.shape[1], h = gradInput.shape[2], w = gradInput.shape[3]
        let oh = output.shape[2], ow = output.shape[3], k = kernelSize
        let scale = 1 / Float(k * k)
        for pl in 0..<planes {
            let g = dy.data + pl * oh * ow, dx = gradInput.data + pl * h * w
            for y in 0..<oh {
                for xo in 0..<ow {
                    let v = g[y * ow + xo] * scale
                    for i in 0..<k {
                        let row = dx + (y * stride + i) * w + xo * stride
                        for j in 0..<k { row[j] += v }
                    }
                }
            }
        }
        return gradInput
    }
}

/// Shared part of ``MaxPool2d`` and ``AvgPool2d``: the window, the output shape, and the
/// reused output and input-gradient tensors.
public class Pool2d {
    /// Window side.
    public let kernelSize: Int
    /// Step between windows (defaults to `kernelSize`).
    public let stride: Int
    let output = Tensor(shape: [0])
    let gradInput = Tensor(shape: [0])
    private let name: String
    private var cachedShape: [Int] = []

    init(_ name: String, kernelSize: Int, stride: Int?) {
        precondition(kernelSize > 0 && (stride ?? 1) > 0,
                     "\(name): kernel \(kernelSize), stride \(String(describing: stride)) must be positive")
        self.name = name
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
    }

    /// No padding: [C, H, W] -> [C, (H-k)/s+1, (W-k)/s+1]; an input smaller than the window
    /// is an error naming it.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 3, shape[1] >= kernelSize, shape[2] >= kernelSize else {
            throw NeuralNetError.inputShapeMismatch(expected: [0, kernelSize, kernelSize], got: shape)
        }
        return [shape[0], (shape[1] - kernelSize) / stride + 1, (shape[2] - kernelSize) / stride + 1]
    }

    /// Sizes the output and input gradient for `x` when its shape changed; returns whether it did.
    @inline(__always)
    func prepare(_ x: Tensor) -> Bool {
        guard shapeChanged(&cachedShape, x) else { return false }
        precondition(x.shape.count == 4, "\(name): input \(x.shape) must be [N, C, H, W]")
        output.resize(to: [x.shape[0]] + (try! outputShape(forInput: Array(x.shape.dropFirst()))))
        gradInput.resize(to: x.shape)
        return true
    }

    /// Checks `dy` against the output and zeroes the input gradient when it is wanted;
    /// returns `computeInputGradient`.
    @inline(__always)
    func prepareBackward(_ dy: Tensor, _ computeInputGradient: Bool) -> Bool {
        precondition(dy.shape == output.shape, "\(name).backward: gradient \(dy.shape), output \(output.shape)")
        guard computeInputGradient else { return false }
        gradInput.fill(0)
        return true
    }
}
