import MPI
import NeuralNet

/// What the reduction of one step did.
struct ReducedStep {
    /// Every rank's summed gradients were finite; the same on every rank.
    var finite: Bool
    /// The optimizer's update was applied inside ``GradientReducer/finish(learningRate:clipNorm:timeline:)``
    /// (the shared-memory path); otherwise the trainer applies it.
    var updated: Bool
    /// Seconds of optimizer work inside `finish` (the rest of it is communication).
    var updateSeconds: Double
}

/// How the gradients of a step are summed over the ranks: the few calls a training step
/// makes, whatever the path (``AllreduceMode``). ``makeGradientReducer`` picks the
/// implementation, resolving `auto` from the topology, and the trainer calls these in
/// order each step:
///
/// ```swift
/// reducer.begin()
/// model.backward(g, onGradientsReady: reducer.gradientsReady)
/// let step = try reducer.finish(learningRate: lr, clipNorm: clip, timeline: nil)
/// if step.finite && !step.updated { optimizer.step(model.arena, learningRate: lr) }
/// ...
/// reducer.stop()   // collective, at the end of training
/// ```
protocol GradientReducer: AnyObject {
    /// The path this reducer takes (`overlap`, `blocking` or `shared`; never `auto`).
    var mode: AllreduceMode { get }
    /// Buckets the gradient arena is all-reduced in (1 for `blocking`, 0 for `shared`).
    var bucketCount: Int { get }
    /// Nodes with a shared copy of the parameters each (`shared`; 1 otherwise).
    var nodes: Int { get }
    /// Before the step's last backward pass.
    func begin()
    /// Backward finished the gradients in `range` (descending offsets); communication may
    /// start. Called from inside backward, so it must not allocate.
    func gradientsReady(_ range: Range<Int>)
    /// After backward: sums the gradients over the ranks, decides on every rank alike
    /// whether they are finite, clips them to the global norm `clipNorm`, and, on the
    /// shared-memory path, applies the optimizer. Collective.
    func finish(learningRate: Float, clipNorm: Float?, timeline: Timeline?) throws -> ReducedStep
    /// Seconds of communication done inside backward since the last call (then reset).
    func takeProgressSeconds() -> Double
    /// Leaves training: the model's parameters, gradients and optimizer state are its own
    /// again. Collective (every rank leaves through here, or the job aborts).
    func stop()
}

/// Chooses the reduction for `requested` and sets it up. `auto` is `shared` when every
/// rank is on one node (and there are several), else `overlap`; `shared` across nodes is
/// hierarchical and needs the same number of ranks on every node. Every rank takes the
/// same branch (the node split gives each the same answer). Collective.
func makeGradientReducer(
    _ requested: AllreduceMode, model: Sequential, optimizer: any Optimizer, world: Communicator,
    bucketBytes: Int, ranksPerNode: Int? = nil, timeline: Timeline? = nil
) throws -> any GradientReducer {
    func replicas(_ mode: AllreduceMode) -> any GradientReducer {
        let reducer = ReplicaReducer(model: model, world: world, bucketBytes: bucketBytes, launchEarly: mode != .blocking)
        reducer.buckets.timeline = timeline
        Diagnostics.logger.debug("gradient buckets", metadata: [
            "count": "\(reducer.bucketCount)", "parameters": "\(model.parameterCount)",
            "bucketBytes": "\(bucketBytes)", "mode": "\(reducer.mode.rawValue)"])
        return reducer
    }
    guard world.size > 1, requested == .shared || requested == .auto else {
        return replicas(requested == .blocking ? .blocking : .overlap)
    }
    let node = try ranksPerNode.map { per in try world.split(color: world.rank / max(1, per))! } ?? world.splitByNode()
    // Local rank r owns the same slice on every node only if the nodes are alike.
    let sizes = try world.minMax(node.size)
    let nodes = world.size / node.size
    let alike = sizes.min == sizes.max
    guard node.size > 1 && alike && (nodes == 1 || requested == .shared) else {
        try node.free()
        if requested == .shared {
            throw CollectiveError(alike
                ? "--allreduce shared needs several ranks on a node, but every node runs one rank; use --allreduce overlap or blocking"
                : "--allreduce shared needs the same number of ranks on every node, but the nodes run between \(sizes.min) and \(sizes.max); start as many ranks on each node (mpirun --map-by ppr:N:node), or use --allreduce overlap")
        }
        return replicas(.overlap)   // auto across nodes
    }
    let across = nodes > 1 ? try world.split(color: node.rank, key: world.rank) : nil
    do {
        let shared = try SharedMemoryTraining(model: model, optimizer: optimizer, node: node, across: across)
        Diagnostics.logger.debug("gradients summed in shared memory", metadata: [
            "ranksPerNode": "\(node.size)", "nodes": "\(nodes)"])
        return SharedMemoryReducer(shared, model: model, optimizer: optimizer, nodes: nodes)
    } catch {
        try? node.free()
        try? across?.free()
        throw error
    }
}

/// `overlap` and `blocking`: every rank holds a replica; the gradient arena is
/// all-reduced in buckets (``GradientBuckets``), started during backward for `overlap`,
/// all at once after it for `blocking`. Every rank then holds the same summed gradients,
/// so the checks and the clipping factor agree without a message.
final class ReplicaReducer: GradientReducer {
    let buckets: GradientBuckets
    private let model: Sequential
    private let world: Communicator

    init(model: Sequential, world: Communicator, bucketBytes: Int, launchEarly: Bool) {
        self.model = model
        self.world = world
        buckets = GradientBuckets(arena: model.arena, world: world, bucketBytes: bucketBytes, launchEarly: launchEarly)
    }

    var mode: AllreduceMode { buckets.launchEarly ? .overlap : .blocking }
    var bucketCount: Int { buckets.launchEarly ? buckets.ranges.count : 1 }
    var nodes: Int { 1 }
    func begin() { buckets.begin() }
    func gradientsReady(_ range: Range<Int>) { buckets.gradientsReady(range) }

    func finish(learningRate: Float, clipNorm: Float?, timeline: Timeline?) throws -> ReducedStep {
        try buckets.finish()
        let gradients = model.arena.gradients
        let finite: Bool
        if let clipNorm {
            let squares = sumOfSquares(gradients.baseAddress!, count: gradients.count)
            finite = squares.isFinite
            let factor = finite ? clipCoefficient(sumOfSquares: squares, maxNorm: clipNorm) : 1
            if factor < 1 { scale(gradients.baseAddress!, count: gradients.count, by: factor) }
        } else {
            finite = allFinite(gradients)
        }
        return ReducedStep(finite: finite, updated: false, updateSeconds: 0)
    }

    func takeProgressSeconds() -> Double {
        defer { buckets.progressSeconds = 0 }
        return buckets.progressSeconds
    }

    func stop() {}
}

/// `shared`: the ranks of a node train one copy of the parameters in MPI shared memory,
/// and each sums and updates its slice (``SharedMemoryTraining``; hierarchical across
/// nodes). Nothing moves during backward.
final class SharedMemoryReducer: GradientReducer {
    private let shared: SharedMemoryTraining
    private let model: Sequential
    private let optimizer: any Optimizer
    let nodes: Int

    init(_ shared: SharedMemoryTraining, model: Sequential, optimizer: any Optimizer, nodes: Int) {
        self.shared = shared
        self.model = model
        self.optimizer = optimizer
        self.nodes = nodes
    }

    var mode: AllreduceMode { .shared }
    var bucketCount: Int { 0 }
    func begin() {}
    func gradientsReady(_ range: Range<Int>) {}

    func finish(learningRate: Float, clipNorm: Float?, timeline: Timeline?) throws -> ReducedStep {
        let (seconds, finite) = try shared.reduceAndUpdate(model, optimizer, learningRate: learningRate, clipNorm: clipNorm, timeline: timeline)
        return ReducedStep(finite: finite, updated: true, updateSeconds: seconds)
    }

    func takeProgressSeconds() -> Double { 0 }
    func stop() { shared.stop(model, optimizer) }
}
