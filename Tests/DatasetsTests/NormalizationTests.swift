import Foundation
import Testing

@testable import Datasets

/// Per-channel mean and std computed directly, for comparison.
private func channelStats(_ d: Dataset) -> (mean: [Double], std: [Double]) {
    let channels = Normalization.channelCount(for: d.sampleShape)
    let per = d.sampleSize / channels
    var mean = [Double](), std = [Double]()
    for c in 0..<channels {
        var values = [Double]()
        for i in 0..<d.count {
            values += d.features[(i * channels + c) * per ..< (i * channels + c + 1) * per].map(Double.init)
        }
        let m = values.reduce(0, +) / Double(values.count)
        mean.append(m)
        std.append((values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count)).squareRoot())
    }
    return (mean, std)
}

@Suite struct NormalizationTests {
    @Test func perChannelFitThenApplyGivesZeroMeanUnitStd() throws {
        // Three channels with very different offsets and scales.
        var d = SyntheticDataset.make(count: 200, sampleShape: [3, 4, 5], classCount: 3, seed: 11)
        let shifted = d.features.enumerated().map { i, v -> Float in
            let c = (i / 20) % 3
            return v * Float(c + 1) * 3 + Float(c) * 10
        }
        d = try Dataset(name: "s", sampleShape: d.sampleShape, classCount: 3, features: shifted, labels: d.labels)
        let before = channelStats(d)
        let n = Normalization.fit(d)
        #expect(n.mean.count == 3 && n.std.count == 3)
        for c in 0..<3 {
            #expect(abs(Double(n.mean[c]) - before.mean[c]) < 1e-3)
            #expect(abs(Double(n.std[c]) - before.std[c]) < 1e-3 * before.std[c])
        }
        #expect(n.mean[2] > n.mean[0] + 15, "channels are fitted separately")
        d.normalize(n)
        let after = channelStats(d)
        for c in 0..<3 {
            #expect(abs(after.mean[c]) < 1e-4)
            #expect(abs(after.std[c] - 1) < 1e-4)
        }
    }

    @Test func flatSamplesAreOneChannel() throws {
        var d = SyntheticDataset.make(count: 100, sampleShape: [7], classCount: 2, seed: 1)
        let n = Normalization.fit(d)
        #expect(n.mean.count == 1)
        d.normalize(n)
        let s = channelStats(d)
        #expect(abs(s.mean[0]) < 1e-4 && abs(s.std[0] - 1) < 1e-4)
    }

    @Test func explicitStatisticsAndValidation() throws {
        var d = try Dataset(name: "e", sampleShape: [2], classCount: 1, features: [1, 3, 5, 7], labels: [0, 0])
        d.normalize(try Normalization(mean: [1], std: [2]))
        #expect(d.features == [0, 1, 2, 3])
        for (m, s) in [([Float](), [Float]()), ([0, 0], [1]), ([0], [0]), ([0], [-1]), ([.nan], [1])] {
            guard case .invalidNormalization? = dataError({ _ = try Normalization(mean: m, std: s) }) else {
                Issue.record("accepted mean \(m) std \(s)"); continue
            }
        }
    }

    @Test func checkRejectsWrongChannelCount() throws {
        let n = try Normalization(mean: [0, 0, 0], std: [1, 1, 1])
        try n.check(sampleShape: [3, 8, 8])
        guard case .invalidNormalization(let reason)? = dataError({ try n.check(sampleShape: [1, 28, 28]) }) else {
            Issue.record("channel mismatch accepted"); return
        }
        #expect(reason.contains("3 channel(s)") && reason.contains("[1, 28, 28]"))
        #expect(dataError { try n.check(sampleShape: [784]) } != nil)
    }

    @Test func constantChannelGetsUnitStd() throws {
        let d = try Dataset(name: "c", sampleShape: [3], classCount: 1, features: [4, 4, 4, 4, 4, 4], labels: [0, 0])
        let n = Normalization.fit(d)
        #expect(n.mean == [4] && n.std == [1])
    }

    @Test func codableRoundTripValidates() throws {
        let n = try Normalization(mean: [0.2860, 0.5], std: [0.3530, 0.25])
        let json = try JSONEncoder().encode(n)
        #expect(try JSONDecoder().decode(Normalization.self, from: json) == n)
        let bad = Data(#"{"mean":[0],"std":[0]}"#.utf8)
        #expect(throws: DataError.self) { _ = try JSONDecoder().decode(Normalization.self, from: bad) }
    }
}
