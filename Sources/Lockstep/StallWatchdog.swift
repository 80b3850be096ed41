import CAtomics
import Foundation
import MPI

#if canImport(Glibc)
import Glibc
#endif

/// Where the training thread is waiting for the other ranks, as the stall watchdog names it.
enum WatchedCollective: Int64, CustomStringConvertible {
    case gradientAllreduce = 1
    case sharedMemorySum
    case statisticsAllreduce
    case epochTotals
    case evaluationReduction
    case replicaCheck
    case endOfRun

    var description: String {
        switch self {
        case .gradientAllreduce: return "the gradient all-reduce"
        case .sharedMemorySum: return "the shared-memory gradient sum (window barrier)"
        case .statisticsAllreduce: return "the BatchNorm statistics all-reduce"
        case .epochTotals: return "the epoch totals all-reduce"
        case .evaluationReduction: return "the evaluation all-reduce"
        case .replicaCheck: return "the replica check"
        case .endOfRun: return "the end-of-run gather"
        }
    }
}

/// Work that keeps a rank away from the collectives for longer than a step, and counts as
/// progress: the ranks waiting for it do not give up while its heartbeat goes on.
enum WatchedActivity: Int64, CustomStringConvertible {
    case checkpoint = 1
    case evaluation

    var description: String {
        switch self {
        case .checkpoint: return "writing a checkpoint"
        case .evaluation: return "evaluating"
        }
    }
}

/// `--stall-timeout`: a thread per rank that ends the job when this rank has waited in one
/// collective for longer than the timeout, naming the step, the collective, this rank and,
/// among the ranks of its node, those that never arrived.
///
/// Every rank of a node publishes one 64-byte record in a small MPI shared-memory window:
/// its heartbeat (written by its watchdog thread every `interval`), and what its training
/// thread is doing (computing, waiting in collective X, or busy with a checkpoint or an
/// evaluation), since when and at which step (written by the training thread with atomic
/// stores: no allocation, no lock, no MPI call). When this rank has waited longer than the
/// timeout, its watchdog reads the records of the node:
///
/// - a rank whose heartbeat is older than `staleAfter` has stopped (SIGSTOP, swapped out,
///   dead): it is named, and the job ends;
/// - a rank with a live heartbeat that has been computing longer than the timeout never
///   arrives: it is named, and the job ends;
/// - a rank with a live heartbeat that is writing a checkpoint or evaluating is making
///   progress: the waiting goes on;
/// - when every visible rank is waiting too, the missing ranks run on other nodes (or the
///   ranks wait in different collectives): the job ends, naming what each rank waits in.
///
/// The watchdog makes no MPI call: MPI runs at `MPI_THREAD_FUNNELED`, where only the main
/// thread may call it (`MPI_Abort` included). It prints one line and ends its process with
/// `_exit(4)`; mpirun then ends the whole job, as for any rank that exits non-zero.
final class StallWatchdog: @unchecked Sendable {  // the thread shares only atomics and the mutex-guarded stop flag
    /// The exit status of a rank whose watchdog ended the job.
    static let exitCode: Int32 = 4
    /// Record fields, in 64-bit words (8 per rank: one cache line).
    private enum Field: Int { case beat = 0, phase, what, since, step, worldRank, pid }
    private enum Phase: Int64 { case computing = 0, waiting, busy }

    let timeout: Double
    /// Seconds between heartbeats and checks.
    let interval: Double
    /// A heartbeat older than this means the rank's process is not running.
    let staleAfter: Double
    private let node: Communicator
    private let window: SharedWindow
    private let worldSize: Int
    private let worldRank: Int
    private let mine: UnsafeMutablePointer<Int64>
    private let records: [UnsafeMutablePointer<Int64>]
    private var thread = pthread_t()
    private var running = false
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var stopRequested = false

    /// Makes the records over the ranks of this node and starts the thread. Collective over
    /// `world`. `timeout` must be positive.
    init(world: Communicator, timeout: Double) throws(MPIError) {
        self.timeout = timeout
        interval = min(1, max(0.05, timeout / 20))
        staleAfter = max(2, 4 * interval)
        worldSize = world.size
        worldRank = world.rank
        node = try world.splitByNode()
        let window: SharedWindow
        do {
            window = try SharedWindow(communicator: node, count: 16)   // 16 floats: 8 words
        } catch {
            try? node.free()
            throw error
        }
        self.window = window
        let records = window.segments.map { UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: Int64.self) }
        self.records = records
        mine = records[node.rank]
        store(.worldRank, Int64(world.rank))
        store(.pid, Int64(getpid()))
        store(.since, Self.now())
        store(.beat, Self.now())
        try window.synchronize()   // every record is filled in before any watchdog reads it
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(wake, &attributes)
        pthread_condattr_destroy(&attributes)
        let context = Unmanaged.passRetained(self).toOpaque()
        running = pthread_create(&thread, nil, { context in
            let watchdog = Unmanaged<StallWatchdog>.fromOpaque(context!).takeUnretainedValue()
            watchdog.watch()
            return nil
        }, context) == 0
        if !running { Unmanaged<StallWatchdog>.fromOpaque(context).release() }
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
    }

    /// Stops and joins the thread, then frees the window. Collective over the world (every
    /// rank leaves training through here, or aborts).
    func stop() {
        stopThread()
        try? window.free()
        try? node.free()
    }

    /// Stops and joins the thread only (this rank alone; the window is left to `MPI_Abort`).
    func stopThread() {
        guard running else { return }
        pthread_mutex_lock(mutex)
        stopRequested = true
        pthread_cond_signal(wake)
        pthread_mutex_unlock(mutex)
        pthread_join(thread, nil)
        Unmanaged<StallWatchdog>.passUnretained(self).release()
        running = false
    }

    // MARK: - The training thread's side (atomic stores only)

    /// The training thread starts waiting in `what` at `step`.
    @inline(__always)
    func waiting(_ what: WatchedCollective, step: Int) { enter(.waiting, what.rawValue, step) }

    /// The training thread starts `what`, which counts as progress.
    @inline(__always)
    func busy(_ what: WatchedActivity, step: Int) { enter(.busy, what.rawValue, step) }

    /// The training thread is back to computing.
    @inline(__always)
    func computing(step: Int) { enter(.computing, 0, step) }

    @inline(__always)
    private func enter(_ phase: Phase, _ what: Int64, _ step: Int) {
        store(.since, Self.now())
        store(.step, Int64(step))
        store(.what, what)
        store(.phase, phase.rawValue)
    }

    @inline(__always)
    private func store(_ field: Field, _ value: Int64) { lockstep_atomic_store(mine + field.rawValue, value) }

    @inline(__always)
    private func load(_ record: UnsafeMutablePointer<Int64>, _ field: Field) -> Int64 {
        lockstep_atomic_load(record + field.rawValue)
    }

    /// Nanoseconds on the monotonic clock, which every process of a machine shares.
    @inline(__always)
    static func now() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }

    // MARK: - The watchdog thread

    private func watch() {
        let step = Int64(interval * 1e9)
        pthread_mutex_lock(mutex)
        while !stopRequested {
            let now = Self.now()
            let frozen = Double(now - load(mine, .beat)) / 1e9 > staleAfter
            store(.beat, now)
            // After a gap in our own heartbeat this process was stopped itself (it is the
            // stalled rank, now continued): the others judge it; do not judge them.
            if !frozen, let verdict = check() {
                pthread_mutex_unlock(mutex)
                abortJob(verdict)
            }
            var deadline = timespec()
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let ns = Int64(deadline.tv_nsec) + step
            deadline.tv_sec += Int(ns / 1_000_000_000)
            deadline.tv_nsec = Int(ns % 1_000_000_000)
            _ = pthread_cond_timedwait(wake, mutex, &deadline)
        }
        pthread_mutex_unlock(mutex)
    }

    /// The message that ends the job, or nil while nothing is stalled.
    private func check() -> String? {
        // Computing for longer than the timeout counts too, when a peer has stopped: the
        // step may hold collectives of its own (SyncBatchNorm's statistics in forward and
        // backward), and with a stopped peer the job cannot go on anyway.
        let phase = load(mine, .phase)
        guard phase != Phase.busy.rawValue else { return nil }
        let since = load(mine, .since)
        let now = Self.now()
        let waited = Double(now - since) / 1e9
        guard waited > timeout else { return nil }
        let what = phase == Phase.computing.rawValue
            ? "the step (its forward or backward pass, e.g. SyncBatchNorm's all-reduce)"
            : WatchedCollective(rawValue: load(mine, .what))?.description ?? "a collective"
        let step = load(mine, .step)

        var stopped: [String] = [], late: [String] = [], busy: [String] = [], waiting: [String] = []
        for record in records where record != mine {
            let rank = load(record, .worldRank)
            let beatAge = Double(now - load(record, .beat)) / 1e9
            let phase = Phase(rawValue: load(record, .phase)) ?? .computing
            let elapsed = Double(now - load(record, .since)) / 1e9
            let theirStep = load(record, .step)
            let doing: String
            switch phase {
            case .computing: doing = "computing step \(theirStep + 1)"
            case .waiting: doing = "waiting in \(WatchedCollective(rawValue: load(record, .what))?.description ?? "a collective") at step \(theirStep + 1)"
            case .busy: doing = "\(WatchedActivity(rawValue: load(record, .what))?.description ?? "busy") at step \(theirStep)"
            }
            if beatAge > staleAfter {
                stopped.append("rank \(rank) (pid \(load(record, .pid))) stopped responding: no heartbeat for \(seconds(beatAge)), last seen \(doing)")
            } else if phase == .busy {
                busy.append("rank \(rank)")
            } else if phase == .computing && elapsed > timeout {
                late.append("rank \(rank) never arrived: alive but \(doing) for \(seconds(elapsed))")
            } else if phase == .waiting {
                waiting.append("rank \(rank) \(doing)")
            }
        }
        // A checkpoint or an evaluation in progress on a live rank is progress: wait on,
        // unless another rank is gone for good.
        if stopped.isEmpty && late.isEmpty && !busy.isEmpty { return nil }
        if phase == Phase.computing.rawValue && stopped.isEmpty { return nil }   // slow, not stalled
        // Still the same wait? (The collective may have just completed.)
        guard load(mine, .phase) == phase && load(mine, .since) == since else { return nil }

        var culprits = stopped + late
        if culprits.isEmpty {
            let elsewhere = worldSize - records.count
            culprits.append(elsewhere > 0
                ? "every rank on this node is waiting\(waiting.isEmpty ? "" : " (\(waiting.joined(separator: ", ")))"); the missing rank is among the \(elsewhere) on other nodes"
                : "every other rank is waiting too: \(waiting.joined(separator: ", "))")
        }
        return "stalled: rank \(worldRank) waited \(seconds(waited)) in \(what) "
            + "at step \(step + 1) (--stall-timeout \(seconds(timeout))); \(culprits.joined(separator: "; ")); ending the job"
    }

    private func seconds(_ s: Double) -> String { String(format: "%.1f s", s) }

    /// Prints the verdict and ends this process; mpirun ends the others.
    private func abortJob(_ message: String) -> Never {
        printError(message, rank: worldRank, of: worldSize)
        _exit(Self.exitCode)
    }
}
