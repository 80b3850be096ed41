import Testing

@testable import Datasets

@Suite struct EvaluationRangeTests {
    @Test func coversEverySampleExactlyOnceAndIsBalanced() {
        for count in [0, 1, 2, 3, 7, 10, 64, 99, 100, 101, 10_000] {
            for world in 1...9 {
                let ranges = (0..<world).map { evaluationRange(count: count, rank: $0, worldSize: world) }
                var next = 0
                for r in ranges {
                    #expect(r.lowerBound == next, "count \(count) world \(world): gap or overlap at \(r)")
                    next = r.upperBound
                }
                #expect(next == count, "count \(count) world \(world): covers \(next)")
                let sizes = ranges.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1, "count \(count) world \(world): sizes \(sizes)")
                #expect(sizes.reduce(0, +) == count)
            }
        }
    }

    @Test func examples() {
        #expect(evaluationRange(count: 10, rank: 0, worldSize: 3) == 0..<4)
        #expect(evaluationRange(count: 10, rank: 1, worldSize: 3) == 4..<7)
        #expect(evaluationRange(count: 10, rank: 2, worldSize: 3) == 7..<10)
        #expect(evaluationRange(count: 2, rank: 3, worldSize: 4).isEmpty)
        #expect(evaluationRange(count: 2, rank: 1, worldSize: 4) == 1..<2)
    }
}
