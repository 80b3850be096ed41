import Randomness

/// An in-memory classification dataset: `count` samples of shape `sampleShape`, stored
/// row-major in one flat `Float` array, and one `Int32` label per sample in `0..<classCount`.
///
/// Sample `i` occupies `features[i * sampleSize ..< (i + 1) * sampleSize]`.
///
/// ```swift
/// let d = try Dataset(name: "toy", sampleShape: [2], classCount: 2,
///                     features: [0, 1, 1, 0], labels: [1, 0])
/// d.count        // 2
/// d.sampleSize   // 2
/// ```
public struct Dataset: Sendable {
    /// A human-readable name, e.g. `"fashion-mnist/train"`.
    public let name: String
    /// The shape of one sample, e.g. `[1, 28, 28]` (channels, height, width) or `[F]`.
    public let sampleShape: [Int]
    /// The number of classes; every label lies in `0..<classCount`.
    public let classCount: Int
    /// All samples, `count * sampleSize` floats, row-major.
    public private(set) var features: [Float]
    /// One label per sample, in `0..<classCount`.
    public let labels: [Int32]

    /// The number of samples.
    public var count: Int { labels.count }
    /// The number of floats in one sample: the product of `sampleShape`.
    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// A dataset from flat features and labels, validated: every dimension of
    /// `sampleShape` positive, `classCount` positive, `features.count == labels.count *
    /// product(sampleShape)`, every label in `0..<classCount`. Throws ``DataError/invalidDataset(reason:)``
    /// or ``DataError/labelOutOfRange(path:index:label:classCount:)``.
    public init(
        name: String, sampleShape: [Int], classCount: Int, features: [Float], labels: [Int32]
    ) throws {
        guard !sampleShape.isEmpty, sampleShape.allSatisfy({ $0 > 0 }) else {
            throw DataError.invalidDataset(
                reason: "\(name): sample shape \(sampleShape) must have at least one dimension, all positive")
        }
        guard classCount > 0 else {
            throw DataError.invalidDataset(reason: "\(name): class count \(classCount) must be positive")
        }
        let size = sampleShape.reduce(1, *)
        guard features.count == labels.count * size else {
            throw DataError.invalidDataset(
                reason: "\(name): \(labels.count) labels x sample shape \(sampleShape) need "
                    + "\(labels.count * size) feature values, found \(features.count)")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw DataError.labelOutOfRange(
                path: name, index: bad, label: Int(labels[bad]), classCount: classCount)
        }
        self.init(unchecked: name, sampleShape: sampleShape, classCount: classCount,
                  features: features, labels: labels)
    }

    init(unchecked name: String, sampleShape: [Int], classCount: Int, features: [Float], labels: [Int32]) {
        self.name = name
        self.sampleShape = sampleShape
        self.classCount = classCount
        self.features = features
        self.labels = labels
    }

    /// The samples in `range` as a new dataset (copies them), e.g. for a validation split.
    public func slice(_ range: Range<Int>) -> Dataset {
        precondition(range.lowerBound >= 0 && range.upperBound <= count,
                     "Dataset.slice: range \(range) outside 0..<\(count)")
        let s = sampleSize
        return Dataset(
            unchecked: "\(name)[\(range.lowerBound)..<\(range.upperBound)]",
            sampleShape: sampleShape, classCount: classCount,
            features: Array(features[range.lowerBound * s ..< range.upperBound * s]),
            labels: Array(labels[range]))
    }

    /// The samples at `indices`, in that order, as a new dataset (copies them).
    public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
        let s = sampleSize
        var features = [Float]()
        features.reserveCapacity(indices.count * s)
        var labels = [Int32]()
        labels.reserveCapacity(indices.count)
        for i in indices {
            precondition(i >= 0 && i < count, "Dataset.subset: index \(i) outside 0..<\(count)")
            features.append(contentsOf: self.features[i * s ..< (i + 1) * s])
            labels.append(self.labels[i])
        }
        return Dataset(unchecked: name ?? "\(self.name)[\(indices.count) samples]", sampleShape: sampleShape,
                       classCount: classCount, features: features, labels: labels)
    }

    /// Splits off a random `fraction` of the samples (rounded, at least one, and at least one
    /// left to train on) as a validation set. The choice is a pure function of `seed`, so
    /// every rank and every resumption holds out the same samples; both parts keep the
    /// original order.
    public func holdingOut(fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset) {
        precondition(fraction > 0 && fraction < 1 && count >= 2, "Dataset.holdingOut: fraction \(fraction) of \(count) samples")
        let held = min(count - 1, max(1, Int((fraction * Double(count)).rounded())))
        // Stream 0x76616c ("val") keeps this draw apart from the shuffles (streams = epochs).
        var rng = SeededRNG(seed: seed, stream: 0x76_616C)
        let order = rng.permutation(count)
        var isHeld = [Bool](repeating: false, count: count)
        for i in order[0..<held] { isHeld[Int(i)] = true }
        let trainIndices = (0..<count).filter { !isHeld[$0] }
        let validationIndices = (0..<count).filter { isHeld[$0] }
        return (subset(trainIndices, name: "\(name) (training part)"),
                subset(validationIndices, name: "\(name) (validation part)"))
    }

    /// Copies the samples at `indices` into `features` (`indices.count * sampleSize` floats,
    /// in order) and their labels into `labels` (`indices.count` values). No allocation.
    ///
    /// ```swift
    /// order[sampler.rankRange(step: s)].withUnsafeBufferPointer {
    ///     dataset.copyBatch(indices: $0, features: x, labels: y)
    /// }
    /// ```
    public func copyBatch(
        indices: UnsafeBufferPointer<Int32>, features out: UnsafeMutablePointer<Float>,
        labels outLabels: UnsafeMutablePointer<Int32>
    ) {
        guard !indices.isEmpty else { return }
        let s = sampleSize
        let n = count
        features.withUnsafeBufferPointer { src in
            labels.withUnsafeBufferPointer { lab in
                let base = src.baseAddress!
                var dst = out
                for (k, raw) in indices.enumerated() {
                    let i = Int(raw)
                    precondition(i >= 0 && i < n, "Dataset.copyBatch: index \(i) outside 0..<\(n)")
                    dst.update(from: base + i * s, count: s)
                    dst += s
                    outLabels[k] = lab[i]
                }
            }
        }
    }

    /// Copies the contiguous samples in `range` into `features` (`range.count * sampleSize`
    /// floats) and their labels into `labels`. No allocation; used for evaluation shards.
    public func copyRange(
        _ range: Range<Int>, features out: UnsafeMutablePointer<Float>,
        labels outLabels: UnsafeMutablePointer<Int32>
    ) {
        precondition(range.lowerBound >= 0 && range.upperBound <= count,
                     "Dataset.copyRange: range \(range) outside 0..<\(count)")
        guard !range.isEmpty else { return }
        let s = sampleSize
        features.withUnsafeBufferPointer { src in
            out.update(from: src.baseAddress! + range.lowerBound * s, count: range.count * s)
        }
        labels.withUnsafeBufferPointer { lab in
            outLabels.update(from: lab.baseAddress! + range.lowerBound, count: range.count)
        }
    }

    /// Applies `n` in place: `x = (x - mean[c]) / std[c]` for every value of channel `c`
    /// (see ``Normalization/channelCount(for:)``). The channel count must match.
    public mutating func normalize(_ n: Normalization) {
        let channels = Normalization.channelCount(for: sampleShape)
        precondition(n.mean.count == channels,
                     "Dataset.normalize: \(n.mean.count) channel statistics for sample shape "
                        + "\(sampleShape) with \(channels) channel(s)")
        let perChannel = sampleSize / channels
        let samples = count
        let scale = n.std.map { 1 / $0 }
        let mean = n.mean
        features.withUnsafeMutableBufferPointer { buf in
            var p = buf.baseAddress!
            for _ in 0..<samples {
                for c in 0..<channels {
                    let m = mean[c], k = scale[c]
                    for j in 0..<perChannel { p[j] = (p[j] - m) * k }
                    p += perChannel
                }
            }
        }
    }

    /// How many samples of each class the dataset holds, indexed by label.
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for l in labels { counts[Int(l)] += 1 }
        return counts
    }
}
