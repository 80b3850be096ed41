import Foundation
import Testing
@testable import NeuralNet

/// The one row-wise softmax that ``Softmax``, ``LogSoftmax`` and ``CrossEntropyLoss`` share.
@Suite struct RowSoftmaxTests {
    /// Softmax and log-softmax of `row` in Double, the reference.
    func reference(_ row: [Float]) -> (probabilities: [Double], logProbabilities: [Double]) {
        let m = Double(row.max()!)
        let lse = m + log(row.reduce(0.0) { $0 + exp(Double($1) - m) })
        return (row.map { exp(Double($0) - lse) }, row.map { Double($0) - lse })
    }

    @Test func rowMatchesDoubleReferenceAndReportsFirstMaximum() {
        let row: [Float] = [1, 3, -2, 3, 0.5]
        var y = [Float](repeating: .nan, count: row.count)
        let (p, logp) = reference(row)
        let stats = row.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { rowSoftmax(x.baseAddress!, into: $0.baseAddress!, count: row.count, writing: .probabilities) }
        }
        #expect(stats.argmax == 1, "ties go to the first maximum")
        #expect(stats.maximum == 3)
        assertClose(y, p.map(Float.init), rtol: 1e-6, atol: 1e-7, "probabilities")
        assertClose(stats.logSumExp, Float(Double(row[0]) - logp[0]), rtol: 1e-6, atol: 1e-6, "log-sum-exp")
        _ = row.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { rowSoftmax(x.baseAddress!, into: $0.baseAddress!, count: row.count, writing: .logProbabilities) }
        }
        assertClose(y, logp.map(Float.init), rtol: 1e-6, atol: 1e-6, "log-probabilities")
    }

    @Test func hugeLogitsStayFinite() {
        let row: [Float] = [1e4, 1e4 - 1, -1e4, 1e4 - 3]
        var y = [Float](repeating: .nan, count: row.count)
        _ = row.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { rowSoftmax(x.baseAddress!, into: $0.baseAddress!, count: row.count, writing: .probabilities) }
        }
        assertClose(y, reference(row).probabilities.map(Float.init), rtol: 1e-5, atol: 1e-7)
        #expect(y.allSatisfy { $0.isFinite })
    }

    @Test func emptyRowWritesNothing() {
        var y: [Float] = [42]
        let stats = [Float(7)].withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer { rowSoftmax(x.baseAddress!, into: $0.baseAddress!, count: 0, writing: .probabilities) }
        }
        #expect(y == [42] && stats.argmax == 0 && stats.sumOfExponentials == 0)
    }

    /// The three users agree bit for bit: CE's probabilities are Softmax's output, and CE
    /// summed over rows is NLL of LogSoftmax's output (`lse - x` is `-(x - lse)` exactly).
    @Test func softmaxLogSoftmaxAndCrossEntropyAgreeExactly() throws {
        let x = randomTensor([6, 7], seed: 21, scale: 4)
        let labels: [Int32] = [0, 6, 3, 3, 1, 5]
        let softmax = Softmax(), logSoftmax = LogSoftmax()
        _ = try hosted(softmax, inputShape: [7])
        _ = try hosted(logSoftmax, inputShape: [7])
        let p = softmax.forward(x).values
        let logp = logSoftmax.forward(x)
        for reduction in [Reduction.sum, .mean] {
            let ce = CrossEntropyLoss(reduction: reduction), nll = NLLLoss(reduction: reduction)
            let ceLoss = labels.withUnsafeBufferPointer { ce.forward(x, labels: $0).loss }
            let nllLoss = labels.withUnsafeBufferPointer { nll.forward(logp, labels: $0) }
            #expect(ceLoss == nllLoss, "\(reduction): cross-entropy \(ceLoss), NLL of log-softmax \(nllLoss)")
        }
        // Sum reduction and scale 1: the gradient is p - onehot, with p as Softmax writes it.
        let ce = CrossEntropyLoss(reduction: .sum)
        _ = labels.withUnsafeBufferPointer { ce.forward(x, labels: $0) }
        let g = ce.backward().values
        for r in 0..<6 {
            for j in 0..<7 {
                let i = r * 7 + j
                let expected = j == Int(labels[r]) ? p[i] - 1 : p[i]
                #expect(g[i] == expected, "row \(r) class \(j): \(g[i]) vs \(expected)")
            }
        }
    }
}
