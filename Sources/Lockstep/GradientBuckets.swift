import MPI
import NeuralNet

/// The gradient arena cut into contiguous buckets, walked from the last layer back, each
/// all-reduced with a non-blocking `MPI_Iallreduce` as soon as backward has finished
/// every gradient in it, so communication overlaps the rest of backward (as in PyTorch
/// DDP). Bucket edges fall on tensor edges; a bucket holds at most `bucketBytes` unless
/// one tensor alone is larger. Nothing is allocated per step: the requests are reused.
final class GradientBuckets {
    /// Bucket ranges in launch order: highest offsets (last layers) first.
    let ranges: [Range<Int>]
    private let requests: [Request]
    private let arena: ParameterArena
    private var gradients: UnsafeMutableBufferPointer<Float> { arena.gradients }
    private let world: Communicator
    /// Start buckets during backward (`overlap`); otherwise all go in one call after it
    /// (`blocking`).
    let launchEarly: Bool
    private var nextToLaunch = 0
    private var readyFrom: Int
    private var firstError: MPIError?
    /// Seconds spent inside ``gradientsReady(_:)`` launching and progressing buckets
    /// (communication work done during backward); the trainer reads and resets it.
    var progressSeconds = 0.0
    /// When set, each bucket's launch and observed completion are recorded.
    var timeline: Timeline?
    private var launchedAt: [Double]

    init(arena: ParameterArena, world: Communicator, bucketBytes: Int, launchEarly: Bool = true) {
        self.arena = arena
        self.world = world
        self.launchEarly = launchEarly
        let ranges = Self.ranges(for: arena, bucketBytes: bucketBytes)
        self.ranges = ranges
        self.requests = ranges.map { _ in Request() }
        self.launchedAt = [Double](repeating: 0, count: ranges.count)
        self.readyFrom = arena.parameterCount
    }

    /// The bucket ranges for `arena`, in launch order (highest offsets first).
    static func ranges(for arena: ParameterArena, bucketBytes: Int) -> [Range<Int>] {
        let floatsPerBucket = max(1, bucketBytes / MemoryLayout<Float>.stride)
        var ranges: [Range<Int>] = []
        var upper = arena.parameterCount
        for view in arena.views.sorted(by: { $0.offset > $1.offset }) {
            // Close the bucket before a tensor that would take it past the cap, so the
            // last layers' gradients leave while the big early layers are still in backward.
            let filled = upper - view.range.upperBound
            if filled > 0 && filled + view.count > floatsPerBucket {
                ranges.append(view.range.upperBound..<upper)
                upper = view.range.upperBound
            }
        }
        if upper > 0 { ranges.append(0..<upper) }
        return ranges
    }

    /// Prepares for a new backward pass.
    func begin() {
        nextToLaunch = 0
        readyFrom = gradients.count
        firstError = nil
    }

    /// Called by backward with each layer's finished gradient range (descending offsets):
    /// starts every bucket that is now complete, and lets MPI progress the ones in flight.
    func gradientsReady(_ range: Range<Int>) {
        guard launchEarly, world.size > 1 else { return }
        let entered = MPIEnvironment.wallTime()
        defer { progressSeconds += MPIEnvironment.wallTime() - entered }
        readyFrom = min(readyFrom, range.lowerBound)
        while nextToLaunch < ranges.count && ranges[nextToLaunch].lowerBound >= readyFrom {
            launch(nextToLaunch)
            nextToLaunch += 1
        }
        // Open MPI progresses non-blocking collectives only inside MPI calls.
        for i in 0..<nextToLaunch where !requests[i].isComplete {
            do {
                if try requests[i].test() { timeline?.record(.bucket, launchedAt[i], MPIEnvironment.wallTime(), detail: Int32(i)) }
            } catch { if firstError == nil { firstError = error } }
        }
    }

    private func launch(_ i: Int) {
        let r = ranges[i]
        let bucket = UnsafeMutableBufferPointer(rebasing: gradients[r])
        if timeline != nil { launchedAt[i] = MPIEnvironment.wallTime() }
        do { try world.iallreduce(bucket, op: .sum, into: requests[i]) } catch { if firstError == nil { firstError = error } }
    }

    /// All-reduces every bucket not yet started in one blocking call (Open MPI's tuned
    /// algorithms beat its non-blocking ones once there is no backward left to overlap),
    /// then waits for the ones in flight.
    func finish() throws(MPIError) {
        guard world.size > 1 else { return }   // a world of one has nothing to reduce
        if nextToLaunch < ranges.count {
            // The unstarted buckets are contiguous: from 0 up to the end of the first of them.
            let rest = UnsafeMutableBufferPointer(rebasing: gradients[0..<ranges[nextToLaunch].upperBound])
            let start = timeline != nil ? MPIEnvironment.wallTime() : 0
            do { try world.allreduce(rest, op: .sum) } catch { if firstError == nil { firstError = error } }
            for i in nextToLaunch..<ranges.count { timeline?.record(.bucket, start, MPIEnvironment.wallTime(), detail: Int32(i)) }
            nextToLaunch = ranges.count
        }
        for (i, request) in requests.enumerated() where !request.isComplete {
            try request.wait()
            timeline?.record(.bucket, launchedAt[i], MPIEnvironment.wallTime(), detail: Int32(i))
        }
        if let firstError { throw firstError }
    }
}
