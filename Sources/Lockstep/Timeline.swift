import Foundation
import MPI

/// Per-rank spans (forward, backward, each bucket's all-reduce, optimizer) for the first
/// steps of a run, written by rank 0 as a Chrome trace (`chrome://tracing`, Perfetto).
///
/// Storage is reserved up front, so recording allocates nothing during training.
/// Times are seconds since a barrier at the start, per rank: on one machine the ranks
/// share a clock; across machines the alignment is as good as the barrier.
public final class Timeline {
    /// Span names; an event stores an index into this list.
    static let names = ["forward", "backward", "optimizer", "all-reduce wait", "all-reduce bucket", "shared sum and update"]
    /// `sharedUpdate`: under `--allreduce shared`, this rank summing and updating its slice
    /// (inside the wait, between its two barriers).
    enum Kind: Int32 { case forward = 0, backward, optimizer, wait, bucket, sharedUpdate }

    private var kinds: [Int32] = []
    private var details: [Int32] = []   // bucket index, or -1
    private var starts: [Double] = []
    private var ends: [Double] = []
    private let capacity: Int
    private(set) var origin = 0.0
    /// Steps to record; later steps are not recorded.
    public let maxSteps: Int

    init(maxSteps: Int, bucketCount: Int) {
        self.maxSteps = maxSteps
        capacity = maxSteps * (4 + bucketCount)
        kinds.reserveCapacity(capacity); details.reserveCapacity(capacity)
        starts.reserveCapacity(capacity); ends.reserveCapacity(capacity)
    }

    func start(world: Communicator) throws {
        try world.barrier()
        origin = MPIEnvironment.wallTime()
    }

    @inline(__always)
    func record(_ kind: Kind, _ start: Double, _ end: Double, detail: Int32 = -1) {
        guard kinds.count < capacity else { return }
        kinds.append(kind.rawValue); details.append(detail)
        starts.append(start - origin); ends.append(end - origin)
    }

    /// Gathers every rank's spans on rank 0 and writes the trace there. Collective.
    func write(to path: String, world: Communicator) throws {
        var count = [kinds.count]
        let counts = try world.allgather(count)
        let most = counts.max() ?? 0
        // Pad to the same length on every rank (a gather needs equal counts).
        func padded<T>(_ a: [T], _ fill: T) -> [T] { a + [T](repeating: fill, count: most - a.count) }
        let allKinds = try world.gather(padded(kinds, -1), to: 0)
        let allDetails = try world.gather(padded(details, -1), to: 0)
        let allStarts = try world.gather(padded(starts, 0), to: 0)
        let allEnds = try world.gather(padded(ends, 0), to: 0)
        count[0] = 0
        guard world.rank == 0, let allKinds, let allDetails, let allStarts, let allEnds else { return }
        var events: [TraceEvent] = []
        for r in 0..<world.size {
            events.append(.metadata("process_name", pid: r, tid: nil, name: "rank \(r)"))
            for i in 0..<counts[r] {
                let j = r * most + i
                let kind = Int(allKinds[j])
                var name = Timeline.names[kind]
                if allDetails[j] >= 0 { name += " \(allDetails[j])" }
                let tid = kind == Int(Kind.bucket.rawValue) || kind == Int(Kind.sharedUpdate.rawValue) ? 1 : 0
                // Microseconds, rounded to 0.1 µs.
                let ts = (allStarts[j] * 1e7).rounded() / 10
                let dur = (max(0, allEnds[j] - allStarts[j]) * 1e7).rounded() / 10
                events.append(TraceEvent(name: name, ph: "X", pid: r, tid: tid, ts: ts, dur: dur, args: nil))
            }
            events.append(.metadata("thread_name", pid: r, tid: 0, name: "compute"))
            events.append(.metadata("thread_name", pid: r, tid: 1, name: "communication"))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let out: Data
        do { out = try encoder.encode(ChromeTrace(displayTimeUnit: "ms", traceEvents: events)) } catch {
            throw CollectiveError("--timeline \(path): cannot encode the trace: \(error.localizedDescription)", exitCode: 1)
        }
        do { try out.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CollectiveError("--timeline \(path): cannot write the file: \(error.localizedDescription)", exitCode: 1)
        }
    }
}

/// The Chrome trace event format's JSON object form (the Trace Event Format document):
/// complete events (`ph: "X"`) with a start and a duration in microseconds, and metadata
/// events (`ph: "M"`) that name processes (ranks) and threads (compute, communication).
struct ChromeTrace: Codable {
    var displayTimeUnit: String
    var traceEvents: [TraceEvent]
}

struct TraceEvent: Codable, Equatable {
    var name: String
    var ph: String
    var pid: Int
    var tid: Int?
    var ts: Double?
    var dur: Double?
    var args: [String: String]?

    static func metadata(_ kind: String, pid: Int, tid: Int?, name: String) -> TraceEvent {
        TraceEvent(name: kind, ph: "M", pid: pid, tid: tid, ts: nil, dur: nil, args: ["name": name])
    }
}
