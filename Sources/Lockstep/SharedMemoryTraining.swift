import MPI
import NeuralNet

/// `--allreduce shared`: the gradient sum and the optimizer step of ranks that share one
/// node, through MPI-3 shared memory and without a single MPI message.
///
/// Two windows hold the training state. In the first, every rank's gradient arena (backward
/// writes it in place). In the second, ONE copy of the parameters and of the optimizer
/// state, which every rank's model and optimizer use directly. The parameters are cut into
/// one slice per rank (cache-line aligned). After backward:
///
/// 1. each rank writes whether its own gradients are all finite beside them; fence and
///    barrier: every rank's gradients and verdicts are complete; every rank reads every
///    verdict, so all agree whether to apply the step (``NonFinitePolicy``) before any
///    slice changes; a step that is not finite goes straight to 3;
/// 2. rank r adds every other rank's gradients of slice r into its own, in rank order, and
///    applies the optimizer to slice r, chunk by chunk while the chunk is in cache;
/// 3. fence and barrier: every slice is updated, and the next forward may read them.
///
/// Compared with an all-reduce followed by N identical optimizer steps, the gradients are
/// read once, nothing is copied back, and each rank updates 1/N of the parameters. There is
/// nothing to keep identical: the ranks train one set of parameters. The two barriers are
/// the only synchronisation; no rank writes its gradients for the next step before the
/// second, so nobody reads a half-written arena. The learning rate and step count are the
/// same on every rank, so each slice gets exactly the update a single process would give it.
///
/// Across several nodes with the same number of ranks each, every node keeps its own shared
/// copy (a replica per node), and step 2 becomes hierarchical: rank r sums slice r over its
/// node, all-reduces that slice with the ranks of local rank r on the other nodes (`across`,
/// one rank per node, all holding the same slice), then updates it. Each rank sends only
/// 1/L of the gradients over the network (L ranks per node), and the L all-reduces of a
/// node run side by side, so a node's network traffic is that of one rank.
///
/// BatchNorm running statistics stay per rank (each rank's forward writes them) and are
/// averaged by the trainer with an all-reduce, as in the other modes.
final class SharedMemoryTraining {
    /// The ranks of this node.
    let node: Communicator
    /// One rank per node, all with this rank's local rank (nil on a single node).
    let across: Communicator?
    private let gradientWindow: SharedWindow
    private let stateWindow: SharedWindow
    /// The parameters this rank sums and updates.
    let slice: Range<Int>
    private let mine: UnsafeMutablePointer<Float>
    private let peers: [UnsafeMutablePointer<Float>]
    /// Floats summed and updated at a time: with the parameters, gradients and optimizer
    /// state of a chunk it stays within L2.
    private let chunk = 16_384
    /// Parameters (and gradients per rank).
    private let count: Int
    /// Where each rank's gradient segment holds its finiteness verdict (1: not finite), on a
    /// cache line of its own after the gradients.
    private let verdictOffset: Int
    /// The verdict all-reduced across nodes (a preallocated float; nil on a single node).
    private let nodeVerdict: UnsafeMutableBufferPointer<Float>?

    /// Moves `model`'s gradients, parameters and `optimizer`'s state into shared memory over
    /// `node`. Rank 0 of the node provides the values of the parameters and the state; the
    /// other ranks' must equal them (the trainer's start-up broadcast makes them equal). With several nodes,
    /// `across` links the ranks of this local rank on every node, and every node must have
    /// as many ranks as this one. Collective over the world.
    init(model: Sequential, optimizer: any Optimizer, node: Communicator, across: Communicator?) throws(MPIError) {
        self.node = node
        self.across = across
        let n = model.parameterCount, ranks = node.size, me = node.rank
        let states = optimizer.stateBuffers.count
        let verdictOffset = (n + 15) / 16 * 16
        let gradientWindow = try SharedWindow(communicator: node, count: verdictOffset + 16)
        let stateWindow = try SharedWindow(communicator: node, count: me == 0 ? n * (1 + states) : 0)
        self.gradientWindow = gradientWindow
        self.stateWindow = stateWindow
        let shared = stateWindow.segments[0]
        guard shared.count == n * (1 + states), let base = shared.baseAddress else {
            throw .invalidArgument(operation: "SharedMemoryTraining", reason: "rank 0's segment holds \(shared.count) floats, expected \(n * (1 + states))")
        }
        func part(_ k: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base + k * n, count: n) }
        // Rank 0 writes its values in; the others take the storage as it is after the barrier.
        model.placeGradients(in: UnsafeMutableBufferPointer(rebasing: gradientWindow.local[0..<n]))
        model.placeParameters(in: part(0), keepingValues: me == 0)
        optimizer.placeState(in: (0..<states).map { part(1 + $0) }, keepingValues: me == 0)
        try stateWindow.memoryFence()
        try gradientWindow.synchronize()
        try stateWindow.memoryFence()
        // Slices of whole 64-byte lines, so no two ranks write one cache line.
        let perRank = ((n + ranks - 1) / ranks + 15) / 16 * 16
        slice = min(n, me * perRank)..<min(n, (me + 1) * perRank)
        mine = gradientWindow.local.baseAddress!
        peers = (0..<ranks).filter { $0 != me }.map { gradientWindow.segments[$0].baseAddress! }
        count = n
        self.verdictOffset = verdictOffset
        if across != nil {
            let verdict = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1)
            verdict.initialize(repeating: 0)
            nodeVerdict = verdict
        } else {
            nodeVerdict = nil
        }
    }

    deinit { nodeVerdict?.deallocate() }

    /// Sums this rank's slice of every rank's gradients and applies `optimizer` to it with
    /// `learningRate`, between the two barriers; afterwards every rank's model sees the new
    /// parameters and the optimizer has counted the step. When any rank's gradients (of any
    /// node) are not finite, nothing is summed or updated and the optimizer does not count
    /// the step; every rank gets the same `finite`. Returns the seconds spent in the
    /// optimizer's update (the rest of the call is communication). Collective over the world.
    ///
    /// With `clipNorm`, each rank first sums its whole slice and writes the slice's Σ g²
    /// beside its verdict; after one more barrier every rank adds the partial sums in rank
    /// order, so all get the same global norm and scale their slices
    /// by the same factor before updating them.
    func reduceAndUpdate(_ model: Sequential, _ optimizer: any Optimizer, learningRate: Float,
                         clipNorm: Float? = nil, timeline: Timeline?) throws(MPIError) -> (updateSeconds: Double, finite: Bool) {
        mine[verdictOffset] = allFinite(mine, count: count) ? 0 : 1
        try fenceAndBarrier()   // every rank's backward is done, and its verdict written
        var bad = mine[verdictOffset]
        for peer in peers { bad = max(bad, peer[verdictOffset]) }
        if let across, let nodeVerdict {
            nodeVerdict[0] = bad
            try across.allreduce(nodeVerdict, op: .max)
            bad = nodeVerdict[0]
        }
        guard bad == 0 else {
            // Nobody reads a gradient; the barrier keeps the verdicts until all have read them.
            try fenceAndBarrier()
            return (0, false)
        }
        let arena = model.arena
        let phaseStart = timeline != nil ? MPIEnvironment.wallTime() : 0
        var updateSeconds = 0.0
        if let clipNorm {
            for peer in peers { addSlice(mine + slice.lowerBound, peer + slice.lowerBound, slice.count) }
            if let across, !slice.isEmpty {
                try across.allreduce(UnsafeMutableBufferPointer(start: mine + slice.lowerBound, count: slice.count), op: .sum)
            }
            partialSquares(mine).pointee = sumOfSquares(mine + slice.lowerBound, count: slice.count)
            try fenceAndBarrier()   // every slice is summed and its Σ g² written
            // The node's slices cover every parameter, each already summed over the nodes:
            // their partial sums add up to the global Σ g² on every node alike.
            var total = 0.0
            for q in 0..<node.size { total += partialSquares(gradientWindow.segments[q].baseAddress!).pointee }
            guard total.isFinite else {
                try fenceAndBarrier()
                return (0, false)
            }
            let factor = clipCoefficient(sumOfSquares: total, maxNorm: clipNorm)
            if factor < 1 { scale(mine + slice.lowerBound, count: slice.count, by: factor) }
            let updateStart = MPIEnvironment.wallTime()
            optimizer.update(arena, range: slice, learningRate: learningRate)
            updateSeconds = MPIEnvironment.wallTime() - updateStart
        } else if let across {
            // Sum over the node, all-reduce the slice over the nodes, then update.
            for peer in peers { addSlice(mine + slice.lowerBound, peer + slice.lowerBound, slice.count) }
            if !slice.isEmpty {
                try across.allreduce(UnsafeMutableBufferPointer(start: mine + slice.lowerBound, count: slice.count), op: .sum)
            }
            let updateStart = MPIEnvironment.wallTime()
            optimizer.update(arena, range: slice, learningRate: learningRate)
            updateSeconds = MPIEnvironment.wallTime() - updateStart
        } else {
            var lo = slice.lowerBound
            while lo < slice.upperBound {
                let hi = min(lo + chunk, slice.upperBound)
                for peer in peers { addSlice(mine + lo, peer + lo, hi - lo) }
                let updateStart = MPIEnvironment.wallTime()
                optimizer.update(arena, range: lo..<hi, learningRate: learningRate)
                updateSeconds += MPIEnvironment.wallTime() - updateStart
                lo = hi
            }
        }
        if let timeline { timeline.record(.sharedUpdate, phaseStart, MPIEnvironment.wallTime()) }
        try fenceAndBarrier()   // every slice is updated
        optimizer.finishStep()
        return (updateSeconds, true)
    }

    /// Where a rank's gradient segment keeps its slice's Σ g² (a Double, 8-byte aligned,
    /// on the verdict's cache line).
    private func partialSquares(_ segment: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Double> {
        UnsafeMutableRawPointer(segment + verdictOffset + 2).assumingMemoryBound(to: Double.self)
    }

    private func fenceAndBarrier() throws(MPIError) {
        try stateWindow.memoryFence()
        try gradientWindow.synchronize()
        try stateWindow.memoryFence()
    }

    /// Moves everything back into each rank's own memory (values kept) and frees the
    /// windows. Collective over the node: every rank leaves training through here.
    func stop(_ model: Sequential, _ optimizer: any Optimizer) {
        model.placeParameters(in: nil)
        model.placeGradients(in: nil)
        optimizer.placeState(in: nil)
        try? gradientWindow.free()
        try? stateWindow.free()
        try? node.free()
        try? across?.free()
    }
}

/// `dst[i] += src[i]` for `count` floats.
private func addSlice(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
    for i in 0..<count { dst[i] += src[i] }
}
