import Testing

@testable import Datasets

@Suite struct DistributedSamplerTests {
    @Test func orderIsAPermutationIdenticalOnAllRanks() throws {
        let world = 4
        let samplers = try (0..<world).map {
            try DistributedSampler(count: 1000, batchPerRank: 8, worldSize: world, rank: $0, seed: 42)
        }
        for epoch in 0..<3 {
            let orders = samplers.map { $0.order(epoch: epoch) }
            for o in orders.dropFirst() { #expect(o == orders[0]) }
            #expect(orders[0].sorted() == (0..<1000).map { Int32($0) })
            #expect(orders[0] != (0..<1000).map { Int32($0) }, "shuffled")
        }
    }

    @Test(arguments: [(1, 1), (2, 3), (3, 5), (4, 8), (5, 2)])
    func rankSlicesPartitionTheOneRankBatch(world: Int, batch: Int) throws {
        let count = 997
        let one = try DistributedSampler(count: count, batchPerRank: batch * world, worldSize: 1, rank: 0, seed: 7)
        let ranks = try (0..<world).map {
            try DistributedSampler(count: count, batchPerRank: batch, worldSize: world, rank: $0, seed: 7)
        }
        #expect(ranks[0].globalBatch == batch * world)
        #expect(ranks[0].stepsPerEpoch == count / (batch * world))
        #expect(ranks[0].stepsPerEpoch == one.stepsPerEpoch)
        #expect(ranks[0].droppedPerEpoch == count % (batch * world))
        for epoch in [0, 5] {
            let order = ranks[0].order(epoch: epoch)
            #expect(order == one.order(epoch: epoch))
            var seen = Set<Int32>()
            for step in 0..<one.stepsPerEpoch {
                var union = [Int32]()
                for r in ranks {
                    let range = r.rankRange(step: step)
                    #expect(range.count == batch)
                    union += order[range]
                }
                #expect(union == Array(order[one.rankRange(step: step)]))
                for i in union { #expect(seen.insert(i).inserted, "sample \(i) taken twice") }
            }
            #expect(seen.count == one.stepsPerEpoch * batch * world)
        }
    }

    @Test func rankRangeFormula() throws {
        let s = try DistributedSampler(count: 100, batchPerRank: 4, worldSize: 3, rank: 2, seed: 0)
        #expect(s.rankRange(step: 0) == 8..<12)
        #expect(s.rankRange(step: 1) == 20..<24)
        #expect(s.rankRange(step: 7, rank: 0) == 84..<88)
        #expect(s.stepsPerEpoch == 8)
    }

    @Test func ordersDifferAcrossEpochsAndSeeds() throws {
        let a = try DistributedSampler(count: 500, batchPerRank: 10, worldSize: 2, rank: 0, seed: 1)
        let b = try DistributedSampler(count: 500, batchPerRank: 10, worldSize: 2, rank: 0, seed: 2)
        #expect(a.order(epoch: 0) != a.order(epoch: 1))
        #expect(a.order(epoch: 0) != b.order(epoch: 0))
        #expect(a.order(epoch: 3) == a.order(epoch: 3), "deterministic")
    }

    @Test func noShuffleIsIdentity() throws {
        let s = try DistributedSampler(count: 50, batchPerRank: 5, worldSize: 2, rank: 1, seed: 9, shuffle: false)
        #expect(s.order(epoch: 4) == (0..<50).map { Int32($0) })
        #expect(s.rankRange(step: 0) == 5..<10)
    }

    @Test func tooSmallDatasetIsRejected() {
        let e = dataError { _ = try DistributedSampler(count: 100, batchPerRank: 32, worldSize: 4, rank: 0, seed: 0) }
        guard case .invalidSampler(let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(reason.contains("100 samples") && reason.contains("32 per rank") && reason.contains("4 ranks"))
        // Exactly one global batch is enough.
        #expect((try? DistributedSampler(count: 128, batchPerRank: 32, worldSize: 4, rank: 3, seed: 0))?.stepsPerEpoch == 1)
    }

    @Test func badConfigurationsAreRejected() {
        for (b, w, r) in [(0, 1, 0), (4, 0, 0), (4, 2, 2), (4, 2, -1)] {
            guard case .invalidSampler? = dataError({
                _ = try DistributedSampler(count: 100, batchPerRank: b, worldSize: w, rank: r, seed: 0)
            }) else { Issue.record("accepted b=\(b) w=\(w) r=\(r)"); continue }
        }
    }

    @Test func batchesFeedCopyBatch() throws {
        let d = SyntheticDataset.make(count: 40, sampleShape: [3], classCount: 4, seed: 3)
        let s = try DistributedSampler(count: d.count, batchPerRank: 6, worldSize: 2, rank: 1, seed: 5)
        let order = s.order(epoch: 0)
        var x = [Float](repeating: -1, count: 6 * 3)
        var y = [Int32](repeating: -1, count: 6)
        let range = s.rankRange(step: 2)
        order[range].withUnsafeBufferPointer { idx in
            x.withUnsafeMutableBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    d.copyBatch(indices: idx, features: xb.baseAddress!, labels: yb.baseAddress!)
                }
            }
        }
        for (k, i) in order[range].enumerated() {
            #expect(y[k] == d.labels[Int(i)])
            #expect(Array(x[k * 3 ..< k * 3 + 3]) == Array(d.features[Int(i) * 3 ..< Int(i) * 3 + 3]))
        }
    }
}
