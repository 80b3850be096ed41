import MPI

/// Start-up check that every rank trains the same thing: the same configuration and the
/// same data. One small all-reduce of a hash when all agree; on a mismatch, the first
/// differing setting (in key order) is named with both values, or, when the settings agree
/// but the data read differs, both data fingerprints are given.
enum ConfigurationCheck {
    /// Collective. Throws a ``CollectiveError`` (the same on every rank) on a mismatch.
    static func verify(_ configuration: TrainingConfiguration, data: DataFingerprint, world: Communicator) throws {
        guard world.size > 1 else { return }
        let settings = configuration.flattened()
        let text = settings.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        let hash = fnv1a(Array(text.utf8)) ^ data.hash &* 0x9E37_79B9_7F4A_7C15
        if try allEqual(hash, world) { return }

        // Some rank differs. Every rank compares its settings with rank 0's, key by key
        // over the union of both key sets (an optional setting given on one rank only is a
        // key the other lacks), and the lowest differing rank names its first difference.
        let rootText = try Collective.broadcast(string: text, from: 0, world)
        var root: [String: String] = [:]
        for line in rootText.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            root[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let mine = Dictionary(settings.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        let firstDifference = Set(root.keys).union(mine.keys).sorted().first { root[$0] != mine[$0] }
        let rootData = try Collective.broadcast(string: data.description, from: 0, world)
        let differs = firstDifference != nil || rootData != data.description
        var lowest = [differs ? world.rank : world.size]
        try world.allreduce(&lowest, op: .min)
        let other = lowest[0]
        guard other < world.size else { return }   // equal after all (a hash collision of unequal text cannot happen here)

        // Rank `other` sends "key=value", "key" (not set there), or "" (settings agree) and its data.
        let report = firstDifference.map { key in mine[key].map { "\(key)=\($0)" } ?? key } ?? ""
        let otherReport = try Collective.broadcast(string: report, from: other, world)
        let otherData = try Collective.broadcast(string: data.description, from: other, world)
        if !otherReport.isEmpty {
            let parts = otherReport.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let otherValue = parts.count > 1 ? String(parts[1]) : "not set"
            let rootValue = root[key] ?? "not set"
            throw CollectiveError(
                "the ranks were started with different configurations: '\(key)' is \(rootValue) on rank 0 "
                    + "but \(otherValue) on rank \(other); start every rank with the same flags and config file")
        }
        let path = configuration.data.map { " behind --data \($0)" } ?? ""
        throw CollectiveError(
            "the ranks read different \(configuration.dataset) data\(path): rank 0 read \(rootData) but rank \(other) read \(otherData); "
                + "give every rank the same files (a stale copy or another mount on some node?)")
    }

    /// Whether `value` is the same on every rank (one all-reduce, ``Communicator/minMax(_:)``).
    static func allEqual(_ value: UInt64, _ world: Communicator) throws -> Bool {
        let range = try world.minMax(Int64(bitPattern: value))
        return range.min == range.max
    }
}

/// What a rank read as its training and test data: the sample counts and a 64-bit hash of
/// the features' bit patterns and the labels, taken before normalisation. Ranks compare
/// fingerprints at start-up, so that different files behind one `--data` path are found
/// before they silently train different replicas.
public struct DataFingerprint: Sendable, Equatable, CustomStringConvertible {
    /// Training samples.
    public let trainCount: Int
    /// Test samples (0 when there is no test set).
    public let testCount: Int
    /// Validation samples (0 when there is no validation set).
    public let validationCount: Int
    /// The hash of the training, test and validation features and labels, in that order.
    public let hash: UInt64

    /// Hashes the sets (1-2 GB/s on one core).
    public init(train: (features: [Float], labels: [Int32]), test: (features: [Float], labels: [Int32])?,
                validation: (features: [Float], labels: [Int32])? = nil) {
        var h = DataHasher()
        for set in [train, test, validation] {
            guard let set else { h.add([Int32]()); continue }   // an absent set still counts
            h.add(set.features)
            h.add(set.labels)
        }
        trainCount = train.labels.count
        testCount = test?.labels.count ?? 0
        validationCount = validation?.labels.count ?? 0
        hash = h.value
    }

    /// `60000 training + 10000 test samples, hash 0x0123456789abcdef`.
    public var description: String {
        let hex = String(hash, radix: 16)
        let validation = validationCount > 0 ? " + \(validationCount) validation" : ""
        return "\(trainCount) training + \(testCount) test\(validation) samples, hash 0x" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// A fast non-cryptographic 64-bit hash of arrays, four independent multiply-xorshift
/// lanes over 8-byte words; it tells different data apart, it is no defence against
/// tampering (checkpoints use SHA-256 for that).
struct DataHasher {
    private var lanes: (UInt64, UInt64, UInt64, UInt64) = (0x243F_6A88_85A3_08D3, 0x1319_8A2E_0370_7344, 0xA409_3822_299F_31D0, 0x082E_FA98_EC4E_6C89)
    private var length: UInt64 = 0

    @inline(__always)
    private static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let x = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
        return x ^ (x >> 29)
    }

    mutating func add<T>(_ values: [T]) {
        values.withUnsafeBytes { raw in
            let words = raw.count / 8
            var (a, b, c, d) = lanes
            if let base = raw.baseAddress {
                var i = 0
                while i + 4 <= words {
                    a = Self.mix(a, base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
                    b = Self.mix(b, base.loadUnaligned(fromByteOffset: i * 8 + 8, as: UInt64.self))
                    c = Self.mix(c, base.loadUnaligned(fromByteOffset: i * 8 + 16, as: UInt64.self))
                    d = Self.mix(d, base.loadUnaligned(fromByteOffset: i * 8 + 24, as: UInt64.self))
                    i += 4
                }
                while i < words { a = Self.mix(a, base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)); i += 1 }
            }
            var tail: UInt64 = 0
            for byte in raw[(words * 8)...] { tail = tail << 8 | UInt64(byte) }
            length &+= UInt64(raw.count)
            b = Self.mix(b, tail)
            c = Self.mix(c, length)   // array boundaries count: [a][bc] differs from [ab][c]
            lanes = (a, b, c, d)
        }
    }

    var value: UInt64 {
        var h = Self.mix(lanes.0, lanes.1)
        h = Self.mix(h, lanes.2)
        h = Self.mix(h, lanes.3)
        return Self.mix(h, length)
    }
}
