import CConvKernels
import Foundation

/// Shared storage of the element-wise activations: the cached input, a reused output and a
/// reused input gradient, all the shape of the input.
public class ElementwiseActivation {
    let output = Tensor(shape: [0])
    let gradInput = Tensor(shape: [0])
    var input: Tensor?
    private var cachedShape: [Int] = []

    init() {}

    /// Per-sample shape is unchanged.
    public func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    @inline(__always)
    func prepare(_ x: Tensor) {
        if shapeChanged(&cachedShape, x) {
            output.resize(to: x.shape)
            gradInput.resize(to: x.shape)
        }
        input = x
    }

    // x: [N, C] -> [N, C]
    /// ``Softmax`` and ``LogSoftmax``: ``rowSoftmax(_:into:count:writing:)`` on every row.
    @inline(__always)
    func forwardRows(_ x: Tensor, writing kind: RowSoftmaxOutput, _ name: String) -> Tensor {
        prepare(x)
        precondition(x.shape.count == 2, "\(name): input \(x.shape) must be [N, C]")
        let c = x.shape[1]
        for r in 0..<x.shape[0] {
            _ = rowSoftmax(x.data + r * c, into: output.data + r * c, count: c, writing: kind)
        }
        return output
    }

    @inline(__always)
    func checkGradient(_ dy: Tensor, _ name: String) {
        precondition(dy.shape == output.shape, "\(name).backward: gradient \(dy.shape), output \(output.shape)")
    }
}

/// `max(0, x)`, PyTorch's `nn.ReLU`. Any shape.
///
/// ```swift
/// ReLU().forward(Tensor(shape: [2], values: [-1, 2])).values   // [0, 2]
/// ```
public final class ReLU: ElementwiseActivation, Layer {
    /// A ReLU.
    public override init() {}
    /// `"ReLU()"`, as PyTorch prints it.
    public var description: String { "ReLU()" }
    /// Set by ``Sequential`` when the layer before is a ``Conv2d`` or a ``BatchNorm`` that
    /// applies this rectifier itself (in its output pass, and its mask in its gradient
    /// pass): then this layer hands tensors through unchanged.
    var fusedIntoPrevious = false
    /// y = max(0, x) (x itself when fused into the layer before); x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        if fusedIntoPrevious { input = x; return x }
        prepare(x)
        let a = x.data, y = output.data
        for i in 0..<x.count { y[i] = a[i] > 0 ? a[i] : 0 }
        return output
    }
    /// dx = dy where the output is positive, else 0; no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        if fusedIntoPrevious {
            precondition(dy.shape == input?.shape, "ReLU.backward: gradient \(dy.shape), output \(input?.shape ?? [])")
            return computeInputGradient ? dy : nil
        }
        checkGradient(dy, "ReLU")
        guard computeInputGradient else { return nil }
        let y = output.data, g = dy.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * (y[i] > 0 ? 1 : 0) }   // branch-free: vectorises
        return gradInput
    }
}

/// `x` for `x > 0`, else `negativeSlope·x`; PyTorch's `nn.LeakyReLU` (default slope 0.01).
public final class LeakyReLU: ElementwiseActivation, Layer {
    /// The slope for negative inputs.
    public let negativeSlope: Float
    /// A leaky ReLU, e.g. `LeakyReLU(negativeSlope: 0.2)`.
    public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
    /// `"LeakyReLU(negative_slope=0.01)"`, as PyTorch prints it.
    public var description: String { "LeakyReLU(negative_slope=\(negativeSlope))" }
    /// y = x · (x > 0 ? 1 : slope); x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        let a = x.data, y = output.data, s = negativeSlope
        for i in 0..<x.count { y[i] = a[i] * (a[i] > 0 ? 1 : s) }
        return output
    }
    /// dx = dy · (x > 0 ? 1 : slope); no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "LeakyReLU")
        guard computeInputGradient, let x = input else { return nil }
        let a = x.data, g = dy.data, dx = gradInput.data, s = negativeSlope
        for i in 0..<dy.count { dx[i] = g[i] * (a[i] > 0 ? 1 : s) }
        return gradInput
    }
}

/// `1 / (1 + e^-x)`, PyTorch's `nn.Sigmoid`. Any shape.
public final class Sigmoid: ElementwiseActivation, Layer {
    /// A sigmoid.
    public override init() {}
    /// `"Sigmoid()"`, as PyTorch prints it.
    public var description: String { "Sigmoid()" }
    /// y = 1 / (1 + e^-x); x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        let a = x.data, y = output.data
        for i in 0..<x.count { y[i] = 1 / (1 + expf(-a[i])) }
        return output
    }
    /// dx = dy · y · (1 - y); no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Sigmoid")
        guard computeInputGradient else { return nil }
        let y = output.data, g = dy.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * y[i] * (1 - y[i]) }
        return gradInput
    }
}

/// Hyperbolic tangent, PyTorch's `nn.Tanh`. Any shape.
public final class Tanh: ElementwiseActivation, Layer {
    /// A tanh.
    public override init() {}
    /// `"Tanh()"`, as PyTorch prints it.
    public var description: String { "Tanh()" }
    /// y = tanh(x); x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        let a = x.data, y = output.data
        for i in 0..<x.count { y[i] = tanhf(a[i]) }
        return output
    }
    /// dx = dy · (1 - y²); no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Tanh")
        guard computeInputGradient else { return nil }
        let y = output.data, g = dy.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * (1 - y[i] * y[i]) }
        return gradInput
    }
}

/// `log(1 + e^x)` (linear above `threshold` like PyTorch's `nn.Softplus(beta=1, threshold=20)`).
public final class Softplus: ElementwiseActivation, Layer {
    /// Above this input the output is `x` itself.
    public let threshold: Float
    /// A softplus.
    public init(threshold: Float = 20) { self.threshold = threshold }
    /// `"Softplus(beta=1.0, threshold=20.0)"`, as PyTorch prints it.
    public var description: String { "Softplus(beta=1.0, threshold=\(threshold))" }
    /// y = log(1 + e^x), or x above `threshold`; x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        let a = x.data, y = output.data
        for i in 0..<x.count { y[i] = a[i] > threshold ? a[i] : log1pf(expf(a[i])) }
        return output
    }
    /// dx = dy · sigmoid(x), or dy above `threshold`; no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Softplus")
        guard computeInputGradient, let x = input else { return nil }
        let a = x.data, g = dy.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = a[i] > threshold ? g[i] : g[i] / (1 + expf(-a[i])) }
        return gradInput
    }
}

/// `x` for `x > 0`, else `alpha·(e^x - 1)`; PyTorch's `nn.ELU` (alpha 1).
public final class ELU: ElementwiseActivation, Layer {
    /// Scale of the negative branch.
    public let alpha: Float
    /// An ELU.
    public init(alpha: Float = 1) { self.alpha = alpha }
    /// `"ELU(alpha=1.0)"`, as PyTorch prints it.
    public var description: String { "ELU(alpha=\(alpha))" }
    /// y = x for x > 0, else α·(e^x - 1); x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        let a = x.data, y = output.data
        for i in 0..<x.count { y[i] = a[i] > 0 ? a[i] : alpha * expm1f(a[i]) }
        return output
    }
    /// dx = dy for x > 0, else dy · (y + α); no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "ELU")
        guard computeInputGradient, let x = input else { return nil }
        let a = x.data, y = output.data, g = dy.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = a[i] > 0 ? g[i] : g[i] * (y[i] + alpha) }
        return gradInput
    }
}

/// Softmax over the last dimension of `[N, C]`, PyTorch's `nn.Softmax(dim=1)`.
public final class Softmax: ElementwiseActivation, Layer {
    /// A softmax over dim 1.
    public override init() {}
    /// `"Softmax(dim=1)"`, as PyTorch prints it.
    public var description: String { "Softmax(dim=1)" }
    /// y = e^x / Σ e^x along each row; x: [N, C] -> [N, C]
    public func forward(_ x: Tensor) -> Tensor { forwardRows(x, writing: .probabilities, "Softmax") }
    /// dx = y ⊙ (dy - Σ dy·y) along each row; no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "Softmax")
        guard computeInputGradient else { return nil }
        let c = dy.shape[1]
        for r in 0..<dy.shape[0] {
            let y = output.data + r * c, g = dy.data + r * c, dx = gradInput.data + r * c
            var dot: Float = 0
            for j in 0..<c { dot += g[j] * y[j] }
            for j in 0..<c { dx[j] = y[j] * (g[j] - dot) }
        }
        return gradInput
    }
}

/// Log-softmax over the last dimension of `[N, C]`, PyTorch's `nn.LogSoftmax(dim=1)`;
/// pair it with ``NLLLoss``.
public final class LogSoftmax: ElementwiseActivation, Layer {
    /// A log-softmax over dim 1.
    public override init() {}
    /// `"LogSoftmax(dim=1)"`, as PyTorch prints it.
    public var description: String { "LogSoftmax(dim=1)" }
    /// y = x - log Σ e^x along each row; x: [N, C] -> [N, C]
    public func forward(_ x: Tensor) -> Tensor { forwardRows(x, writing: .logProbabilities, "LogSoftmax") }
    /// dx = dy - e^y · Σ dy along each row; no parameters.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "LogSoftmax")
        guard computeInputGradient else { return nil }
        let c = dy.shape[1]
        for r in 0..<dy.shape[0] {
            let y = output.data + r * c, g = dy.data + r * c, dx = gradInput.data + r * c
            var sum: Float = 0
            for j in 0..<c { sum += g[j] }
            for j in 0..<c { dx[j] = g[j] - expf(y[j]) * sum }
        }
        return gradInput
    }
}

/// The Gaussian error linear unit `x·Φ(x)`, PyTorch's `nn.GELU()`: exact (through the
/// normal CDF) by default, or `nn.GELU(approximate='tanh')`,
/// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. Any shape.
///
/// Computed eight lanes at a time: Φ from a Chebyshev fit of `erfc` (Numerical Recipes'
/// `erfcc`, relative error below 1.2e-7 everywhere, so also in the far negative tail) and a
/// vector `exp`, in an AVX2/FMA kernel (CConvKernels) where the CPU has them, else in
/// Swift SIMD; forward also stores dy/dx, so backward is one multiply.
///
/// ```swift
/// GELU()                         // [N, T, 512] -> [N, T, 512]
/// GELU(approximation: .tanh)     // GPT-2's form
/// ```
public final class GELU: ElementwiseActivation, Layer {
    /// How Φ is computed.
    public enum Approximation: String, Sendable {
        /// Exact, `Φ(x) = erfc(-x/√2) / 2` (PyTorch's `approximate='none'`).
        case none
        /// The tanh form (PyTorch's `approximate='tanh'`).
        case tanh
    }
    /// The form of Φ in use.
    public let approximation: Approximation
    private let derivative = Tensor(shape: [0])   // dy/dx at the last forward's input
    /// True when this CPU runs the AVX2/FMA kernel (x86-64 with both).
    static let vectorKernelAvailable: Bool = {
        #if arch(x86_64)
        return lockstep_conv_direct_available() != 0
        #else
        return false
        #endif
    }()
    /// Whether forward takes the AVX2/FMA kernel (internal: tests turn it off to check the
    /// Swift path too).
    var usesVectorKernel = GELU.vectorKernelAvailable
    /// A GELU, exact unless told otherwise.
    public init(approximation: Approximation = .none) { self.approximation = approximation }
    public var description: String { "GELU(approximate='\(approximation.rawValue)')" }

    /// x: [N, ...] -> [N, ...]
    public func forward(_ x: Tensor) -> Tensor {
        prepare(x)
        if derivative.shape != x.shape { derivative.resize(to: x.shape) }
        let a = x.data, y = output.data, dydx = derivative.data
        #if arch(x86_64)
        if usesVectorKernel {
            lockstep_gelu_forward(a, x.count, approximation == .tanh ? 1 : 0, y, dydx)
            return output
        }
        #endif
        var i = 0
        while i + 8 <= x.count {
            let (v, d) = approximation == .none ? Self.exact(loadVector(a + i)) : Self.tanhForm(loadVector(a + i))
            storeVector(y + i, v); storeVector(dydx + i, d)
            i += 8
        }
        if i < x.count {
            var lanes = SIMD8<Float>(repeating: 0)
            for j in 0..<(x.count - i) { lanes[j] = a[i + j] }
            let (v, d) = approximation == .none ? Self.exact(lanes) : Self.tanhForm(lanes)
            for j in 0..<(x.count - i) { y[i + j] = v[j]; dydx[i + j] = d[j] }
        }
        return output
    }

    /// Accumulates parameter gradients; returns the input gradient when asked.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        checkGradient(dy, "GELU")
        guard computeInputGradient else { return nil }
        let g = dy.data, d = derivative.data, dx = gradInput.data
        for i in 0..<dy.count { dx[i] = g[i] * d[i] }
        return gradInput
    }

    // exact:  y = x·Φ(x),  dy/dx = Φ(x) + x·φ(x),  φ(x) = e^{-x²/2} / √(2π)
    @inline(__always)
    static func exact(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        // erfc(z) for z = |x|/√2 ≥ 0: t·exp(-z² + P(t)), t = 1/(1 + z/2)
        let z = x.replacing(with: -x, where: x .< 0) * 0.70710678118654752
        let t = 1 / (1 + 0.5 * z)
        var p = SIMD8<Float>(repeating: 0.17087277)
        p = p * t - 0.82215223
        p = p * t + 1.48851587
        p = p * t - 1.13520398
        p = p * t + 0.27886807
        p = p * t - 0.18628806
        p = p * t + 0.09678418
        p = p * t + 0.37409196
        p = p * t + 1.00002368
        p = p * t - 1.26551223
        let half = t * vectorExp(p - z * z) * 0.5                  // erfc(z)/2 = Φ(-|x|)
        let cdf = half.replacing(with: 1 - half, where: x .>= 0)  // Φ(x)
        let pdf = vectorExp(x * x * -0.5) * 0.39894228040143268
        return (x * cdf, cdf + x * pdf)
    }

    // tanh:   u = √(2/π)·(x + 0.044715·x³),  y = x·(1 + tanh u)/2,
    //         dy/dx = (1 + tanh u)/2 + x·(1 - tanh² u)·√(2/π)·(1 + 3·0.044715·x²)/2
    @inline(__always)
    static func tanhForm(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
        let c: Float = 0.79788456080286536, k: Float = 0.044715
        let x2 = x * x
        let u = x * c * (x2 * k + 1)
        // (1 + tanh u)/2 = e/(e + 1) and 1 - tanh² u = 4e/(e + 1)² with e = exp(2u): no
        // cancellation in the negative tail
        let e = vectorExp(u * 2), r = 1 / (e + 1)
        let halfOnePlus = e * r
        let slope = e * r * r * (x2 * (3 * k) + 1) * (c * 2)
        return (x * halfOnePlus, halfOnePlus + x * slope)
    }
}
