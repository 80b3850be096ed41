import Testing

@testable import Lockstep

/// The data fingerprint that ranks compare at start-up tells different data apart.
@Suite struct DataFingerprintTests {
    private func fingerprint(_ features: [Float], _ labels: [Int32], test: ([Float], [Int32])? = nil) -> DataFingerprint {
        DataFingerprint(train: (features, labels), test: test.map { (features: $0.0, labels: $0.1) })
    }

    @Test func equalDataGivesEqualFingerprints() {
        let x = (0..<4096).map { Float($0) * 0.25 }, y = (0..<512).map { Int32($0 % 10) }
        #expect(fingerprint(x, y) == fingerprint(x, y))
        #expect(fingerprint(x, y).description.hasPrefix("512 training + 0 test samples, hash 0x"))
    }

    @Test func anyChangedValueChangesTheHash() {
        let x = (0..<4099).map { Float($0) * 0.25 }, y = (0..<13).map { Int32($0 % 10) }
        let base = fingerprint(x, y).hash
        // Every position: the 4 lanes, the remainder words and the tail bytes.
        for i in x.indices {
            var changed = x
            changed[i] = changed[i].nextUp
            #expect(fingerprint(changed, y).hash != base, "feature \(i)")
        }
        for i in y.indices {
            var changed = y
            changed[i] += 1
            #expect(fingerprint(x, changed).hash != base, "label \(i)")
        }
    }

    @Test func whereTheTrainingSetEndsCounts() {
        let x: [Float] = [1, 2, 3, 4], y: [Int32] = [0, 1]
        let split = fingerprint([1, 2], [0], test: ([3, 4], [1]))
        #expect(split.hash != fingerprint(x, y).hash)
        #expect(split.description.hasPrefix("1 training + 1 test samples"))
    }
}
