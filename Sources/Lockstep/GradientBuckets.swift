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
    private let gradients: UnsafeMutableBufferPointer<Float>
    private let world: Communicator
    private var nextToLaunch = 0
    private var readyFrom: Int
    private var firstError: MPIError?
    /// When set, each bucket's launch and observed completion are recorded.
    var timeline: Timeline?
    private var launchedAt: [Double]

    init(arena: ParameterArena, world: Communicator, bucketBytes: Int) {
        self.gradients = arena.gradients
        self.world = world
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
        self.ranges = ranges
        self.requests = ranges.map { _ in Request() }
        self.launchedAt = [Double](repeating: 0, count: ranges.count)
        self.readyFrom = arena.parameterCount
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

    /// Starts any bucket not yet started and waits for all of them.
    func finish() throws(MPIError) {
        while nextToLaunch < ranges.count {
            launch(nextToLaunch)
            nextToLaunch += 1
        }
        for (i, request) in requests.enumerated() where !request.isComplete {
            try request.wait()
            timeline?.record(.bucket, launchedAt[i], MPIEnvironment.wallTime(), detail: Int32(i))
        }
        if let firstError { throw firstError }
    }
}
