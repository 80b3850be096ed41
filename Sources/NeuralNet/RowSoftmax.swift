import Foundation

/// What ``rowSoftmax(_:into:count:writing:)`` writes for a row.
public enum RowSoftmaxOutput: Sendable {
    /// `e^(x_j - m) / s`, the softmax (``Softmax``, ``CrossEntropyLoss``).
    case probabilities
    /// `x_j - (m + log s)`, the log-softmax (``LogSoftmax``).
    case logProbabilities
}

/// What ``rowSoftmax(_:into:count:writing:)`` found in a row on its way.
public struct RowSoftmaxStatistics: Sendable {
    /// Index of the row's first maximum (the prediction ``CrossEntropyLoss`` counts).
    public var argmax: Int
    /// The row's maximum `m`.
    public var maximum: Float
    /// `s = Σ e^(x_j - m)`, summed in order `j = 0..<count`.
    public var sumOfExponentials: Float
    /// `log Σ e^(x_j) = m + log s`.
    public var logSumExp: Float { maximum + logf(sumOfExponentials) }
}

// x: [C] -> y: [C], one row
/// The numerically stable softmax or log-softmax of one row of `count` logits, the one
/// place where ``Softmax``, ``LogSoftmax`` and ``CrossEntropyLoss`` compute it: the
/// maximum `m` (first one wins), `s = Σ e^(x_j - m)`, then `y_j = e^(x_j - m) · (1/s)` or
/// `y_j = x_j - (m + log s)`. `y` must not overlap `x`. An empty row writes nothing.
///
/// ```swift
/// let stats = rowSoftmax(logits + r * c, into: probabilities + r * c, count: c, writing: .probabilities)
/// let loss = stats.logSumExp - logits[r * c + label]
/// ```
@inline(__always)
public func rowSoftmax(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count c: Int,
                writing output: RowSoftmaxOutput) -> RowSoftmaxStatistics {
    guard c > 0 else { return RowSoftmaxStatistics(argmax: 0, maximum: -.infinity, sumOfExponentials: 0) }
    var m = x[0], best = 0
    for j in 1..<c where x[j] > m { m = x[j]; best = j }
    var s: Float = 0
    switch output {
    case .probabilities:
        for j in 0..<c { let e = expf(x[j] - m); y[j] = e; s += e }
        let inv = 1 / s
        for j in 0..<c { y[j] *= inv }
    case .logProbabilities:
        for j in 0..<c { s += expf(x[j] - m) }
        let lse = m + logf(s)
        for j in 0..<c { y[j] = x[j] - lse }
    }
    return RowSoftmaxStatistics(argmax: best, maximum: m, sumOfExponentials: s)
}
