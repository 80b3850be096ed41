import Testing

@testable import Datasets

@Suite struct DatasetTests {
    @Test func initValidates() {
        guard case .invalidDataset? = dataError({
            _ = try Dataset(name: "a", sampleShape: [2], classCount: 2, features: [1, 2, 3], labels: [0, 1])
        }) else { Issue.record("size mismatch accepted"); return }
        guard case .invalidDataset? = dataError({
            _ = try Dataset(name: "a", sampleShape: [0], classCount: 2, features: [], labels: [])
        }) else { Issue.record("zero dimension accepted"); return }
        guard case .invalidDataset? = dataError({
            _ = try Dataset(name: "a", sampleShape: [1], classCount: 0, features: [], labels: [])
        }) else { Issue.record("zero classes accepted"); return }
        #expect(dataError {
            _ = try Dataset(name: "a", sampleShape: [1], classCount: 2, features: [0, 0, 0], labels: [0, 2, 1])
        } == .labelOutOfRange(path: "a", index: 1, label: 2, classCount: 2))
    }

    @Test func sliceCopyRangeAndCopyBatch() throws {
        let features = (0..<12).map(Float.init)
        let d = try Dataset(name: "d", sampleShape: [1, 3], classCount: 4, features: features, labels: [3, 1, 0, 2])
        #expect(d.count == 4 && d.sampleSize == 3)
        let s = d.slice(1..<3)
        #expect(s.count == 2 && s.labels == [1, 0] && s.features == [3, 4, 5, 6, 7, 8] && s.sampleShape == [1, 3])

        var x = [Float](repeating: -1, count: 9)
        var y = [Int32](repeating: -1, count: 3)
        x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                d.copyRange(1..<4, features: xb.baseAddress!, labels: yb.baseAddress!)
            }
        }
        #expect(x == [3, 4, 5, 6, 7, 8, 9, 10, 11] && y == [1, 0, 2])

        let indices: [Int32] = [2, 0, 2]
        indices.withUnsafeBufferPointer { idx in
            x.withUnsafeMutableBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    d.copyBatch(indices: idx, features: xb.baseAddress!, labels: yb.baseAddress!)
                }
            }
        }
        #expect(x == [6, 7, 8, 0, 1, 2, 6, 7, 8] && y == [0, 3, 0])
    }

    @Test func syntheticIsSeededBalancedAndLearnable() {
        let a = SyntheticDataset.make(count: 400, sampleShape: [2, 3, 3], classCount: 4, seed: 5)
        let b = SyntheticDataset.make(count: 400, sampleShape: [2, 3, 3], classCount: 4, seed: 5)
        let c = SyntheticDataset.make(count: 400, sampleShape: [2, 3, 3], classCount: 4, seed: 6)
        #expect(a.features == b.features && a.labels == b.labels)
        #expect(a.features != c.features)
        #expect(a.sampleShape == [2, 3, 3] && a.features.count == 400 * 18)
        #expect(a.classCounts() == [100, 100, 100, 100])
        #expect(a.labels != a.labels.sorted(), "labels are shuffled")
        // Learnable: the nearest class mean (from the first half) classifies the second half well.
        let n = a.sampleSize
        var means = [[Float]](repeating: [Float](repeating: 0, count: n), count: 4)
        var counts = [Float](repeating: 0, count: 4)
        for i in 0..<200 {
            let l = Int(a.labels[i])
            counts[l] += 1
            for j in 0..<n { means[l][j] += a.features[i * n + j] }
        }
        for l in 0..<4 { means[l] = means[l].map { $0 / counts[l] } }
        var correct = 0
        for i in 200..<400 {
            let dists = (0..<4).map { l in (0..<n).reduce(Float(0)) { $0 + pow2(a.features[i * n + $1] - means[l][$1]) } }
            if dists.firstIndex(of: dists.min()!) == Int(a.labels[i]) { correct += 1 }
        }
        #expect(correct > 180, "nearest-mean accuracy \(correct)/200")
    }
}

private func pow2(_ x: Float) -> Float { x * x }

@Suite struct ValidationSplitTests {
    func dataset(_ n: Int) throws -> Dataset {
        try Dataset(name: "toy", sampleShape: [2], classCount: 3,
                    features: (0..<(2 * n)).map(Float.init), labels: (0..<n).map { Int32($0 % 3) })
    }

    @Test func holdsOutASeededFractionAndKeepsEverySampleOnce() throws {
        let d = try dataset(100)
        let (train, validation) = d.holdingOut(fraction: 0.2, seed: 7)
        #expect(validation.count == 20 && train.count == 80)
        // Every sample lands in exactly one part, in the original order within each.
        let firsts = (train.features + validation.features).enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        #expect(Set(firsts) == Set(stride(from: 0, to: 200, by: 2).map(Float.init)))
        let trainFirsts = stride(from: 0, to: train.features.count, by: 2).map { train.features[$0] }
        #expect(trainFirsts == trainFirsts.sorted())
        #expect(zip(validation.labels, stride(from: 0, to: validation.features.count, by: 2)).allSatisfy {
            Int($0.0) == (Int(validation.features[$0.1]) / 2) % 3 })
    }

    @Test func theSameSeedGivesTheSameSplitAndAnotherSeedAnother() throws {
        let d = try dataset(50)
        #expect(d.holdingOut(fraction: 0.3, seed: 1).validation.features == d.holdingOut(fraction: 0.3, seed: 1).validation.features)
        #expect(d.holdingOut(fraction: 0.3, seed: 1).validation.features != d.holdingOut(fraction: 0.3, seed: 2).validation.features)
    }

    @Test func tinyFractionsStillHoldOutOneAndLeaveOne() throws {
        let d = try dataset(3)
        #expect(d.holdingOut(fraction: 0.01, seed: 1).validation.count == 1)
        #expect(d.holdingOut(fraction: 0.99, seed: 1).train.count == 1)
    }
}
