/// Per-channel standardisation `x = (x - mean[c]) / std[c]`, fitted on the training set and
/// applied identically to every split. Codable, so a checkpoint can store it.
///
/// The channel is dimension 0 of a three-dimensional sample shape `[C, H, W]`; any other
/// shape (flat `[F]`, `[H, W]`, ...) is treated as a single channel.
///
/// ```swift
/// let norm = Normalization.fit(train)     // statistics of the training set only
/// train.normalize(norm); test.normalize(norm)
/// ```
public struct Normalization: Codable, Sendable, Equatable {
    /// The mean of each channel.
    public let mean: [Float]
    /// The standard deviation of each channel (all positive).
    public let std: [Float]

    /// Explicit statistics, e.g. the published ones of a dataset. Throws
    /// ``DataError/invalidNormalization(reason:)`` when the arrays are empty, differ in
    /// length, or a value is not finite or a std is not positive.
    public init(mean: [Float], std: [Float]) throws {
        guard !mean.isEmpty, mean.count == std.count else {
            throw DataError.invalidNormalization(
                reason: "mean has \(mean.count) values and std \(std.count); need the same positive number")
        }
        guard mean.allSatisfy({ $0.isFinite }) else {
            throw DataError.invalidNormalization(reason: "mean \(mean) has a non-finite value")
        }
        guard std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw DataError.invalidNormalization(reason: "std \(std) must be finite and positive")
        }
        self.mean = mean
        self.std = std
    }

    /// The number of channels statistics are kept for: `shape[0]` when `shape` is
    /// `[C, H, W]`, otherwise 1.
    public static func channelCount(for shape: [Int]) -> Int {
        shape.count == 3 ? shape[0] : 1
    }

    /// Throws ``DataError/invalidNormalization(reason:)`` unless these statistics fit samples
    /// of `sampleShape` (one mean and std per channel); call it before
    /// ``Dataset/normalize(_:)`` on statistics that come from outside, e.g. a checkpoint.
    public func check(sampleShape: [Int]) throws {
        let channels = Self.channelCount(for: sampleShape)
        guard mean.count == channels else {
            throw DataError.invalidNormalization(
                reason: "statistics for \(mean.count) channel(s), but samples of shape \(sampleShape) "
                    + "have \(channels); fit the normalization on this dataset again")
        }
    }

    /// The per-channel mean and (population) standard deviation of `d`, accumulated in
    /// `Double`. A constant channel (std 0) gets std 1 so that applying it only centres.
    public static func fit(_ d: Dataset) -> Normalization {
        let channels = channelCount(for: d.sampleShape)
        let perChannel = d.sampleSize / channels
        var sum = [Double](repeating: 0, count: channels)
        var sumSq = [Double](repeating: 0, count: channels)
        d.features.withUnsafeBufferPointer { buf in
            guard var p = buf.baseAddress else { return }
            for _ in 0..<d.count {
                for c in 0..<channels {
                    var s = 0.0, s2 = 0.0
                    for j in 0..<perChannel {
                        let v = Double(p[j])
                        s += v
                        s2 += v * v
                    }
                    sum[c] += s
                    sumSq[c] += s2
                    p += perChannel
                }
            }
        }
        let n = Double(max(1, d.count * perChannel))
        var mean = [Float](), std = [Float]()
        for c in 0..<channels {
            let m = sum[c] / n
            let variance = max(0, sumSq[c] / n - m * m)
            let s = Float(variance.squareRoot())
            mean.append(Float(m))
            std.append(s > 1e-12 && s.isFinite ? s : 1)
        }
        return Normalization(uncheckedMean: mean, std: std)
    }

    private init(uncheckedMean mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    private enum CodingKeys: String, CodingKey { case mean, std }

    /// Decodes and validates like ``init(mean:std:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(mean: c.decode([Float].self, forKey: .mean), std: c.decode([Float].self, forKey: .std))
    }

    /// Encodes `mean` and `std` as two arrays.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mean, forKey: .mean)
        try c.encode(std, forKey: .std)
    }
}
