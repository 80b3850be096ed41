import Foundation
import Logging

/// Diagnostics for people running Lockstep on a cluster: what the trainer decided (the
/// reduction path, the buckets, resuming) and how long the slow parts took (loading data,
/// writing checkpoints), through swift-log. Every line names the rank that wrote it, since
/// under mpirun the ranks' stderr streams are interleaved:
///
/// ```
/// lockstep[rank 1/4] debug: gradient buckets: 3 of at most 1.0 MiB [bytes=2040360]
/// ```
///
/// The default level, `notice`, prints nothing in a healthy run; `info` and `debug` add
/// detail. The progress lines and metrics are separate and unaffected.
public enum Diagnostics {
    /// Routes every `Logger` of this process to stderr at `level`, tagged with the rank.
    /// Call once per process, after MPI has started (the rank is known).
    public static func bootstrap(level: Logger.Level, rank: Int, size: Int) {
        LoggingSystem.bootstrap { label in
            RankLogHandler(label: label, rank: rank, size: size, logLevel: level)
        }
    }

    /// The logger the library writes through.
    static var logger: Logger { Logger(label: "lockstep") }
}

/// One line per message on stderr: `lockstep[rank R/N] LEVEL: MESSAGE [key=value ...]`.
struct RankLogHandler: LogHandler {
    let label: String
    let rank: Int
    let size: Int
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, rank: Int, size: Int, logLevel: Logger.Level) {
        self.label = label
        self.rank = rank
        self.size = size
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let tail = merged.isEmpty ? "" : " [" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        let line = "\(label)[rank \(rank)/\(size)] \(event.level): \(event.message)\(tail)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
