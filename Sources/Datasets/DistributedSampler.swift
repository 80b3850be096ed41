import Randomness

/// Splits each epoch's mini-batches across ranks so that every rank trains on a disjoint
/// slice of ONE shared permutation.
///
/// - Each epoch has one permutation of `0..<count`, drawn from
///   `SeededRNG(seed: seed, stream: epoch)`, identical on every rank (no communication).
///   `shuffle: false` gives the identity order.
/// - The global batch is `batchPerRank * worldSize`. At step `s`, rank `r` takes
///   `order[(s * W + r) * b ..< (s * W + r + 1) * b]`.
/// - **Remainder policy (drop last):** `stepsPerEpoch = count / globalBatch`; the
///   `count % globalBatch` samples at the end of the permutation are not used that
///   epoch (like PyTorch's `drop_last=True`). Every rank takes the same number of equally
///   sized steps, and a run with W ranks of b samples sees exactly the samples, in the
///   same steps, of a run with 1 rank of W*b samples. Because the permutation changes
///   every epoch, different samples are dropped each epoch.
///
/// ```swift
/// let sampler = try DistributedSampler(count: train.count, batchPerRank: 64,
///                                      worldSize: world.size, rank: world.rank, seed: 42)
/// let order = sampler.order(epoch: epoch)
/// for step in 0..<sampler.stepsPerEpoch {
///     order[sampler.rankRange(step: step)].withUnsafeBufferPointer {
///         train.copyBatch(indices: $0, features: x, labels: y)
///     }
/// }
/// ```
public struct DistributedSampler: Sendable {
    /// The number of samples in the dataset.
    public let count: Int
    /// Samples per rank per step (b).
    public let batchPerRank: Int
    /// The number of ranks (W).
    public let worldSize: Int
    /// This rank, in `0..<worldSize`.
    public let rank: Int
    /// The seed of the shuffles.
    public let seed: UInt64
    /// Whether each epoch is shuffled; `false` gives the identity order.
    public let shuffle: Bool

    /// Validates the configuration; throws ``DataError/invalidSampler(reason:)`` when a value
    /// is out of range or `count` is smaller than one global batch.
    public init(count: Int, batchPerRank: Int, worldSize: Int, rank: Int, seed: UInt64, shuffle: Bool = true)
        throws
    {
        guard batchPerRank > 0 else {
            throw DataError.invalidSampler(reason: "batch per rank \(batchPerRank) must be positive")
        }
        guard worldSize > 0 else {
            throw DataError.invalidSampler(reason: "world size \(worldSize) must be positive")
        }
        guard rank >= 0 && rank < worldSize else {
            throw DataError.invalidSampler(reason: "rank \(rank) must be in 0..<\(worldSize)")
        }
        guard count <= Int(Int32.max) else {
            throw DataError.invalidSampler(reason: "dataset of \(count) samples exceeds Int32 indices")
        }
        let (global, overflow) = batchPerRank.multipliedReportingOverflow(by: worldSize)
        guard !overflow, count >= global else {
            throw DataError.invalidSampler(
                reason: "dataset has \(count) samples, fewer than one global batch of "
                    + "\(batchPerRank) per rank x \(worldSize) ranks = \(overflow ? Int.max : global); "
                    + "use a smaller --batch-size or fewer ranks")
        }
        self.count = count
        self.batchPerRank = batchPerRank
        self.worldSize = worldSize
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
    }

    /// Samples per step across all ranks: `batchPerRank * worldSize`.
    public var globalBatch: Int { batchPerRank * worldSize }

    /// Full global batches per epoch: `count / globalBatch` (the remainder is dropped).
    public var stepsPerEpoch: Int { count / globalBatch }

    /// The samples left out each epoch: `count % globalBatch`.
    public var droppedPerEpoch: Int { count % globalBatch }

    /// The epoch's order of sample indices (a permutation of `0..<count`, the same on every
    /// rank). Allocates once; call it once per epoch.
    public func order(epoch: Int) -> [Int32] {
        if shuffle {
            var rng = SeededRNG(seed: seed, stream: UInt64(bitPattern: Int64(epoch)))
            return rng.permutation(count)
        }
        return (0..<count).map { Int32(truncatingIfNeeded: $0) }
    }

    /// This rank's positions in ``order(epoch:)`` for `step` (in `0..<stepsPerEpoch`).
    public func rankRange(step: Int) -> Range<Int> {
        rankRange(step: step, rank: rank)
    }

    /// Any rank's positions in ``order(epoch:)`` for `step`:
    /// `(step * worldSize + rank) * batchPerRank ..< ... + batchPerRank`.
    public func rankRange(step: Int, rank r: Int) -> Range<Int> {
        precondition(step >= 0 && step < stepsPerEpoch,
                     "DistributedSampler.rankRange: step \(step) outside 0..<\(stepsPerEpoch)")
        precondition(r >= 0 && r < worldSize, "DistributedSampler.rankRange: rank \(r) outside 0..<\(worldSize)")
        let start = (step * worldSize + r) * batchPerRank
        return start ..< start + batchPerRank
    }
}

/// The contiguous shard of `0..<count` that `rank` evaluates: ranks get balanced ranges
/// (sizes differ by at most one, the first `count % worldSize` ranks one larger) that
/// together cover every sample exactly once, with no padding or duplicates. A rank's range
/// is empty when `count < worldSize` leaves nothing for it. Sum the ranks' loss and
/// correct counts, not their means.
///
/// ```swift
/// evaluationRange(count: 10, rank: 0, worldSize: 3)   // 0..<4
/// evaluationRange(count: 10, rank: 2, worldSize: 3)   // 7..<10
/// ```
public func evaluationRange(count: Int, rank: Int, worldSize: Int) -> Range<Int> {
    precondition(count >= 0, "evaluationRange: count \(count) must be non-negative")
    precondition(worldSize > 0 && rank >= 0 && rank < worldSize,
                 "evaluationRange: rank \(rank) outside 0..<\(worldSize)")
    let base = count / worldSize
    let extra = count % worldSize
    let start = rank * base + min(rank, extra)
    return start ..< start + base + (rank < extra ? 1 : 0)
}
