import Foundation

/// How a loss combines per-element terms: their mean (PyTorch's default) or their sum.
public enum Reduction: Sendable, Equatable {
    /// Average over the batch (over every element for MSE and BCE).
    case mean
    /// Sum over the batch.
    case sum
}

extension Reduction {
    /// The loss from the sum of `count` per-element (or per-row) terms: their mean or the sum.
    func loss(total: Double, count: Int) -> Float {
        Float(self == .mean ? total / Double(count) : total)
    }
    /// The factor of d(scale·loss)/d(term): `scale / count` for the mean, `scale` for the sum.
    func gradientScale(_ scale: Float, count: Int) -> Float {
        self == .mean ? scale / Float(count) : scale
    }
}

/// Cross-entropy from raw logits and Int32 class indices, fused with a numerically stable
/// log-softmax (log-sum-exp), PyTorch's `nn.CrossEntropyLoss`.
///
/// Token-wise logits `[N, T, C]` (a ``Linear`` over a sequence) take `N·T` labels, row-major
/// (sample `n`'s step `t` at `n·T + t`): each row is one term, the mean is over all `N·T`,
/// and `correct` counts rows, as PyTorch's loss on `logits.view(-1, C)`.
///
/// ```swift
/// let ce = CrossEntropyLoss()
/// let (loss, correct) = ce.forward(logits, labels: labels)   // logits [N, C], labels [N]
/// model.backward(ce.backward())                              // d loss / d logits, [N, C]
/// ```
public final class CrossEntropyLoss {
    /// `.mean`: the average of the N rows' cross-entropies (PyTorch's default); `.sum`: their sum.
    public let reduction: Reduction
    private let probabilities = Tensor(shape: [0])
    private let gradient = Tensor(shape: [0])
    private var labels: [Int32] = []
    private var cachedShape: [Int] = []

    /// A loss, e.g. `CrossEntropyLoss(reduction: .sum)` to add the rows' losses.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    // logits: [N, C] (or [N, T, C]), labels: [N] (or [N·T]) -> scalar loss, number of argmax hits
    /// The loss and how many rows' argmax equals their label.
    public func forward(_ logits: Tensor, labels: UnsafeBufferPointer<Int32>) -> (loss: Float, correct: Int) {
        precondition((logits.shape.count == 2 || logits.shape.count == 3)
                     && logits.count == labels.count * logits.shape[logits.shape.count - 1],
                     "CrossEntropyLoss: logits \(logits.shape) and \(labels.count) labels")
        if shapeChanged(&cachedShape, logits) {
            probabilities.resize(to: logits.shape)
            gradient.resize(to: logits.shape)
            self.labels = [Int32](repeating: 0, count: labels.count)
        }
        let n = labels.count, c = logits.shape[logits.shape.count - 1]
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
        return (reduction.loss(total: total, count: n), correct)
    }

    // -> dlogits: [N, C] (or [N, T, C]) = scale · (softmax - onehot) (/ rows for mean)
    /// d(scale·loss)/d(logits) for the last `forward`; a loss-owned, reused tensor.
    public func backward(scale: Float = 1) -> Tensor {
        let n = labels.count, c = gradient.shape[gradient.shape.count - 1]
        let k = reduction.gradientScale(scale, count: n)
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
    /// `.mean`: the average of `-logp[n, label[n]]` over the N rows; `.sum`: their sum.
    public let reduction: Reduction
    private let gradient = Tensor(shape: [0])
    private var labels: [Int32] = []

    /// A loss, e.g. `NLLLoss()` for the mean over rows.
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
        return reduction.loss(total: total, count: n)
    }

    // -> dlogProbs: [N, C], -scale (/N) at each label, 0 elsewhere
    /// d(scale·loss)/d(logProbs) for the last `forward`.
    public func backward(scale: Float = 1) -> Tensor {
        let n = gradient.shape[0], c = gradient.shape[1]
        let k = reduction.gradientScale(scale, count: n)
        gradient.fill(0)
        for r in 0..<n { gradient.data[r * c + Int(labels[r])] = -k }
        return gradient
    }
}

/// Shared part of the losses whose terms are per element of a prediction and a target of
/// the same shape (``MSELoss``, ``BCEWithLogitsLoss``): `forward` keeps each term's
/// derivative, and `backward` scales them by the reduction.
public class ElementwiseLoss {
    /// Mean over all elements or sum.
    public let reduction: Reduction
    /// d(term)/d(input) per element, up to `derivativeFactor`, from the last `forward`.
    let derivative = Tensor(shape: [0])
    private let gradient = Tensor(shape: [0])
    private let derivativeFactor: Float

    init(reduction: Reduction, derivativeFactor: Float) {
        self.reduction = reduction
        self.derivativeFactor = derivativeFactor
    }

    /// Checks that `input` and `target` have one shape and sizes the buffers for it.
    @inline(__always)
    func prepare(_ input: Tensor, _ target: Tensor, loss: String, inputName: String) {
        precondition(input.shape == target.shape, "\(loss): \(inputName) \(input.shape), target \(target.shape)")
        if derivative.shape != input.shape { derivative.resize(to: input.shape); gradient.resize(to: input.shape) }
    }

    // -> d(scale·loss)/d(input): same shape as the last forward's input
    /// d(scale·loss)/d(input) for the last `forward`: the kept derivatives times
    /// `scale` (/ count for the mean); a loss-owned, reused tensor.
    public func backward(scale: Float = 1) -> Tensor {
        let k = derivativeFactor * reduction.gradientScale(scale, count: derivative.count)
        let d = derivative.data, g = gradient.data
        for i in 0..<derivative.count { g[i] = k * d[i] }
        return gradient
    }
}

/// Mean squared error between a prediction and a target of the same shape, PyTorch's
/// `nn.MSELoss` (mean over every element, or sum). Its gradient is
/// `2·scale·(prediction - target)` (/ count for the mean).
///
/// ```swift
/// let mse = MSELoss()
/// let loss = mse.forward(prediction, target: target)
/// model.backward(mse.backward())
/// ```
public final class MSELoss: ElementwiseLoss {
    /// A loss, e.g. `MSELoss(reduction: .sum)` for the sum of squared differences.
    public init(reduction: Reduction = .mean) { super.init(reduction: reduction, derivativeFactor: 2) }

    // prediction, target: same shape -> scalar
    /// The loss; `target` must have the prediction's shape.
    public func forward(_ prediction: Tensor, target: Tensor) -> Float {
        prepare(prediction, target, loss: "MSELoss", inputName: "prediction")
        var total = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            derivative.data[i] = d   // the derivative of d² is 2·d; the 2 is applied in backward
            total += Double(d * d)
        }
        return reduction.loss(total: total, count: prediction.count)
    }
}

/// Binary cross-entropy on logits, PyTorch's `nn.BCEWithLogitsLoss`, in the stable form
/// `max(x, 0) - x·t + log(1 + e^-|x|)`, with targets in [0, 1] of the logits' shape. Its
/// gradient is `scale·(sigmoid(x) - t)` (/ count for the mean).
///
/// ```swift
/// let bce = BCEWithLogitsLoss()
/// let loss = bce.forward(logits, target: targets)   // both [N, K]
/// ```
public final class BCEWithLogitsLoss: ElementwiseLoss {
    /// A loss, e.g. `BCEWithLogitsLoss()` for the mean over every element.
    public init(reduction: Reduction = .mean) { super.init(reduction: reduction, derivativeFactor: 1) }

    // logits, target: same shape -> scalar
    /// The loss of `logits` against `target`.
    public func forward(_ logits: Tensor, target: Tensor) -> Float {
        prepare(logits, target, loss: "BCEWithLogitsLoss", inputName: "logits")
        var total = 0.0
        for i in 0..<logits.count {
            let x = logits.data[i], t = target.data[i]
            total += Double(max(x, 0) - x * t + log1pf(expf(-abs(x))))
            derivative.data[i] = 1 / (1 + expf(-x)) - t
        }
        return reduction.loss(total: total, count: logits.count)
    }
}

/// Mean absolute error between a prediction and a target of the same shape, PyTorch's
/// `nn.L1Loss` (mean over every element, or sum). Its gradient is
/// `scale·sign(prediction - target)` (/ count for the mean), 0 where they are equal.
///
/// ```swift
/// let l1 = L1Loss()
/// let loss = l1.forward(prediction, target: target)
/// model.backward(l1.backward())
/// ```
public final class L1Loss: ElementwiseLoss {
    /// A loss, e.g. `L1Loss(reduction: .sum)` for the sum of absolute differences.
    public init(reduction: Reduction = .mean) { super.init(reduction: reduction, derivativeFactor: 1) }

    // prediction, target: same shape -> scalar
    /// The loss; `target` must have the prediction's shape.
    public func forward(_ prediction: Tensor, target: Tensor) -> Float {
        prepare(prediction, target, loss: "L1Loss", inputName: "prediction")
        var total = 0.0
        for i in 0..<prediction.count {
            let d = prediction.data[i] - target.data[i]
            derivative.data[i] = d > 0 ? 1 : (d < 0 ? -1 : 0)
            total += Double(abs(d))
        }
        return reduction.loss(total: total, count: prediction.count)
    }
}

/// The losses a model trains with on class labels, by their model-file and `--loss` names.
public enum LossKind: String, CaseIterable, Codable, Sendable {
    /// Softmax cross-entropy on raw outputs (``CrossEntropyLoss``).
    case crossEntropy = "cross-entropy"
    /// Negative log-likelihood of log-probabilities (``NLLLoss``); the model ends with `log-softmax`.
    case nll
    /// Mean squared error against one-hot targets (``MSELoss``).
    case mse
    /// Binary cross-entropy on logits against one-hot targets (``BCEWithLogitsLoss``).
    case bceWithLogits = "bce-with-logits"
    /// Mean absolute error against one-hot targets (``L1Loss``).
    case l1

    /// Whether the loss compares the outputs with one-hot targets (mse, bce-with-logits, l1).
    public var usesOneHotTargets: Bool { self == .mse || self == .bceWithLogits || self == .l1 }
}

/// A loss of model outputs `[N, C]` against class labels, any ``LossKind``: class-index
/// losses take the labels as they are, the others compare with one-hot targets (built in a
/// reused tensor). `correct` counts the rows whose largest output is the label's.
///
/// ```swift
/// let loss = ClassificationLoss(.mse)
/// let (value, correct) = loss.forward(outputs, labels: labels)
/// model.backward(loss.backward(scale: 1))
/// ```
public final class ClassificationLoss {
    /// Which loss.
    public let kind: LossKind
    private let crossEntropy = CrossEntropyLoss()
    private let nll = NLLLoss()
    private let mse = MSELoss()
    private let bce = BCEWithLogitsLoss()
    private let l1 = L1Loss()
    private let oneHot = Tensor(shape: [0])

    /// A loss of the given kind (mean over the batch, and over the classes for the
    /// one-hot kinds, as PyTorch's defaults).
    public init(_ kind: LossKind = .crossEntropy) { self.kind = kind }

    /// The loss of `output` `[N, C]` for `labels` `[N]`, and the argmax hits.
    public func forward(_ output: Tensor, labels: UnsafeBufferPointer<Int32>) -> (loss: Float, correct: Int) {
        if kind == .crossEntropy { return crossEntropy.forward(output, labels: labels) }
        precondition(output.shape.count == 2 && output.shape[0] == labels.count,
                     "ClassificationLoss: output \(output.shape) and \(labels.count) labels")
        let n = output.shape[0], c = output.shape[1]
        var correct = 0
        for r in 0..<n {
            let row = output.data + r * c
            var best = 0
            for j in 1..<max(c, 1) where row[j] > row[best] { best = j }
            if best == Int(labels[r]) { correct += 1 }
        }
        if kind == .nll { return (nll.forward(output, labels: labels), correct) }
        if oneHot.shape != output.shape { oneHot.resize(to: output.shape) }
        oneHot.fill(0)
        for r in 0..<n {
            let label = Int(labels[r])
            precondition(label >= 0 && label < c, "ClassificationLoss: label \(label) outside 0..<\(c)")
            oneHot.data[r * c + label] = 1
        }
        switch kind {
        case .mse: return (mse.forward(output, target: oneHot), correct)
        case .bceWithLogits: return (bce.forward(output, target: oneHot), correct)
        default: return (l1.forward(output, target: oneHot), correct)
        }
    }

    /// d(scale·loss)/d(output) for the last `forward`; a loss-owned, reused tensor.
    public func backward(scale: Float = 1) -> Tensor {
        switch kind {
        case .crossEntropy: return crossEntropy.backward(scale: scale)
        case .nll: return nll.backward(scale: scale)
        case .mse: return mse.backward(scale: scale)
        case .bceWithLogits: return bce.backward(scale: scale)
        case .l1: return l1.backward(scale: scale)
        }
    }
}
