import Foundation

/// How a loss combines per-element terms: their mean (PyTorch's default) or their sum.
public enum Reduction: Sendable, Equatable {
    /// Average over the batch (over every element for MSE and BCE).
    case mean
    /// Sum over the batch.
    case sum
}

/// Cross-entropy from raw logits and Int32 class indices, fused with a numerically stable
/// log-softmax (log-sum-exp), PyTorch's `nn.CrossEntropyLoss`.
///
/// ```swift
/// let ce = CrossEntropyLoss()
/// let (loss, correct) = ce.forward(logits, labels: labels)   // logits [N, C], labels [N]
/// model.backward(ce.backward())                              // d loss / d logits, [N, C]
/// ```
public final class CrossEntropyLoss {
    /// Mean or sum over the batch.
    public let reduction: Reduction
    private let probabilities = Tensor(shape: [0])
    private let gradient = Tensor(shape: [0])
    private var labels: [Int32] = []
    private var cachedShape: [Int] = []

    /// A loss with the given reduction.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    // logits: [N, C], labels: [N] -> scalar loss, number of argmax hits
    /// The loss and how many rows' argmax equals their label.
    public func forward(_ logits: Tensor, labels: UnsafeBufferPointer<Int32>) -> (loss: Float, correct: Int) {
        precondition(logits.shape.count == 2 && logits.shape[0] == labels.count,
                     "CrossEntropyLoss: logits \(logits.shape) and \(labels.count) labels")
        if shapeChanged(&cachedShape, logits) {
            probabilities.resize(to: logits.shape)
            gradient.resize(to: logits.shape)
            self.labels = [Int32](repeating: 0, count: logits.shape[0])
        }
        let n = logits.shape[0], c = logits.shape[1]
        var total = 0.0, correct = 0
        self.labels.withUnsafeMutableBufferPointer { stored in
            for r in 0..<n {
                let label = Int(labels[r])
                precondition(label >= 0 && label < c, "CrossEntropyLoss: label \(label) outside 0..<\(c)")
                stored[r] = labels[r]
                let a = logits.data + r * c
                let row = rowSoftmax(a, into: probabilities.data + r * c, count: c, writing: .probabilities)
                if row.argmax == label { correct += 1 }
                total += Double(row.logSumExp - a[label])
            }
        }
        let loss = reduction == .mean ? total / Double(n) : total
        return (Float(loss), correct)
    }

    // -> dlogits: [N, C] = scale · (softmax - onehot) (/ N for mean)
    /// d(scale·loss)/d(logits) for the last `forward`; a loss-owned, reused tensor.
    public func backward(scale: Float = 1) -> Tensor {
        let n = gradient.shape[0], c = gradient.shape[1]
        let k = reduction == .mean ? scale / Float(n) : scale
        let p = probabilities.data, g = gradient.data
        for i in 0..<(n * c) { g[i] = k * p[i] }
        labels.withUnsafeBufferPointer { l in
            for r in 0..<n { g[r * c + Int(l[r])] -= k }
        }
        return gradient
    }
}

/// Negative log-likelihood on log-probabilities (e.g. after ``LogSoftmax``), PyTorch's
/// `nn.NLLLoss`: `-logp[n, label[n]]`, averaged or summed.
///
/// ```swift
/// let loss = NLLLoss().forward(logProbs, labels: labels)   // logProbs [N, C]
/// ```
public final class NLLLoss {
    /// Mean or sum over the batch.
    public let reduction: Reduction
    private let gradient = Tensor(shape: [0])
    private var labels: [Int32] = []

    /// A loss with the given reduction.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    // logProbs: [N, C], labels: [N] -> scalar
    /// The loss for log-probabilities and class indices.
    public func forward(_ logProbs: Tensor, labels: UnsafeBufferPointer<Int32>) -> Float {
        precondition(logProbs.shape.count == 2 && logProbs.shape[0] == labels.count,
                     "NLLLoss: input \(logProbs.shape) and \(labels.count) labels")
        if gradient.shape != logProbs.shape { gradient.resize(to: logProbs.shape) }
        let n = logProbs.shape[0], c = logProbs.shape[1]
        if self.labels.count != n { self.labels = [Int32](repeating: 0, count: n) }
        var total = 0.0
        for r in 0..<n {
            let label = Int(labels[r])
            precondition(label >= 0 && label < c, "NLLLoss: label \(label) outside 0..<\(c)")
            self.labels[r] = labels[r]
            total -= Double(logProbs.data[r * c + label])
        }
        return Float(reduction == .mean ? total / Double(n) : total)
    }

    // -> dlogProbs: [N, C], -scale (/N) at each label, 0 elsewhere
    /// d(scale·loss)/d(logProbs) for the last `forward`.
    public func backward(scale: Float = 1) -> Tensor {
        let n = gradient.shape[0], c = gradient.shape[1]
        let k = reduction == .mean ? scale / Float(n) : scale
        gradient.fill(0)
        for r in 0..<n { gradient.data[r * c + Int(labels[r])] = -k }
        return gradient
    }
}

/// Mean squared error between a prediction and a target of the same shape, PyTorch's
/// `nn.MSELoss` (mean over every element, or sum).
///
/// ```swift
/// let mse = MSELoss()
/// let loss = mse.forward(prediction, target: target)
/// model.backward(mse.backward())
/// ```
public final class MSELoss {
    /// Mean over all elements or sum.
    public let reduction: Reduction
    private let gradient = Tensor(shape: [0])
    private let difference = Tensor(shape: [0])

    /// A loss with the given reduction.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    // prediction, target: same shape -> scalar
    /// The loss; `target` must have the prediction's shape.
    public func forward(_ prediction: Tensor, target: Tensor) -> Float {
        precondition(prediction.shape == target.shape, "MSELoss: prediction \(prediction.shape), target \(target.shape)")
        if difference.shape != prediction.shape { difference.resize(to: prediction.shape); gradient.resize(to: prediction.shape) }
        var total = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            difference.data[i] = d
            total += Double(d * d)
        }
        return Float(reduction == .mean ? total / Double(prediction.count) : total)
    }

    /// d(scale·loss)/d(prediction) = 2·scale·(prediction - target) (/ count for mean).
    public func backward(scale: Float = 1) -> Tensor {
        let k = 2 * (reduction == .mean ? scale / Float(difference.count) : scale)
        for i in 0..<difference.count { gradient.data[i] = k * difference.data[i] }
        return gradient
    }
}

/// Binary cross-entropy on logits, PyTorch's `nn.BCEWithLogitsLoss`, in the stable form
/// `max(x, 0) - x·t + log(1 + e^-|x|)`, with targets in [0, 1] of the logits' shape.
///
/// ```swift
/// let bce = BCEWithLogitsLoss()
/// let loss = bce.forward(logits, target: targets)   // both [N, K]
/// ```
public final class BCEWithLogitsLoss {
    /// Mean over all elements or sum.
    public let reduction: Reduction
    private let gradient = Tensor(shape: [0])
    private let residual = Tensor(shape: [0])   // sigmoid(x) - t

    /// A loss with the given reduction.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    // logits, target: same shape -> scalar
    /// The loss of `logits` against `target`.
    public func forward(_ logits: Tensor, target: Tensor) -> Float {
        precondition(logits.shape == target.shape, "BCEWithLogitsLoss: logits \(logits.shape), target \(target.shape)")
        if gradient.shape != logits.shape { gradient.resize(to: logits.shape); residual.resize(to: logits.shape) }
        var total = 0.0
        for i in 0..<logits.count {
            let x = logits.data[i], t = target.data[i]
            total += Double(max(x, 0) - x * t + log1pf(expf(-abs(x))))
            residual.data[i] = 1 / (1 + expf(-x)) - t
        }
        return Float(reduction == .mean ? total / Double(logits.count) : total)
    }

    /// d(scale·loss)/d(logits) = scale·(sigmoid(x) - t) (/ count for mean).
    public func backward(scale: Float = 1) -> Tensor {
        let k = reduction == .mean ? scale / Float(gradient.count) : scale
        for i in 0..<gradient.count { gradient.data[i] = k * residual.data[i] }
        return gradient
    }
}
