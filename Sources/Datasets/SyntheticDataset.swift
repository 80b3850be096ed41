import Randomness

/// A seeded, learnable dataset for tests and benchmarks, of any sample shape and class count.
///
/// Each class has a fixed random prototype (standard normal values, drawn from
/// `SeededRNG(seed: seed, stream: 0)`); each sample is its class's prototype plus Gaussian
/// noise of standard deviation `noise`. Labels cycle through the classes (balanced within
/// one) in a seeded random order. The same arguments always give the same dataset.
///
/// ```swift
/// let d = SyntheticDataset.make(count: 512, sampleShape: [1, 8, 8], classCount: 4, seed: 7)
/// ```
public enum SyntheticDataset {
    /// Makes `count` samples of `sampleShape` in `classCount` classes; see the type's docs.
    public static func make(count: Int, sampleShape: [Int], classCount: Int, seed: UInt64) -> Dataset {
        make(count: count, sampleShape: sampleShape, classCount: classCount, seed: seed, noise: 0.5)
    }

    /// As ``make(count:sampleShape:classCount:seed:)`` with an explicit noise level
    /// (larger is harder to learn).
    public static func make(count: Int, sampleShape: [Int], classCount: Int, seed: UInt64, noise: Float)
        -> Dataset
    {
        precondition(count >= 0, "SyntheticDataset: count \(count) must be non-negative")
        precondition(classCount > 0, "SyntheticDataset: class count \(classCount) must be positive")
        precondition(!sampleShape.isEmpty && sampleShape.allSatisfy { $0 > 0 },
                     "SyntheticDataset: sample shape \(sampleShape) must be non-empty and positive")
        precondition(noise >= 0 && noise.isFinite, "SyntheticDataset: noise \(noise) must be >= 0")
        let size = sampleShape.reduce(1, *)
        var protoRNG = SeededRNG(seed: seed, stream: 0)
        let prototypes = (0..<(classCount * size)).map { _ in protoRNG.nextNormal() }
        var labelRNG = SeededRNG(seed: seed, stream: 1)
        let order = labelRNG.permutation(count)
        let labels = order.map { Int32(Int($0) % classCount) }
        var noiseRNG = SeededRNG(seed: seed, stream: 2)
        var features = [Float](repeating: 0, count: count * size)
        for i in 0..<count {
            let c = Int(labels[i])
            for j in 0..<size {
                features[i * size + j] = prototypes[c * size + j] + noise * noiseRNG.nextNormal()
            }
        }
        return Dataset(
            unchecked: "synthetic(seed: \(seed))", sampleShape: sampleShape, classCount: classCount,
            features: features, labels: labels)
    }
}
