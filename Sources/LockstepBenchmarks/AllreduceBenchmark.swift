import Foundation
import CMPIBaseline
import MPI

/// One message size of ``AllreduceBenchmark``.
public struct AllreduceMeasurement: Sendable, Codable {
    /// Message size in bytes (Float32 elements x 4).
    public let bytes: Int
    /// Back-to-back calls per timed loop.
    public let iterations: Int
    /// Median seconds per call through the Swift wrapper (slowest rank of each loop).
    public let swiftSeconds: Double
    /// Median seconds per call of `MPI_Allreduce` from C on the same buffer.
    public let cSeconds: Double
    /// Ranks in the run.
    public let worldSize: Int

    /// Bus bandwidth in bytes/s (NCCL-tests convention): `bytes * 2(n-1)/n / time`.
    public func busBandwidth(seconds: Double) -> Double {
        guard worldSize > 1 else { return 0 }
        return Double(bytes) * 2 * Double(worldSize - 1) / Double(worldSize) / seconds
    }
    /// Wrapper time relative to C, in percent (positive: the wrapper is slower).
    public var overheadPercent: Double { (swiftSeconds / cSeconds - 1) * 100 }
    /// Wrapper time minus C time, in microseconds.
    public var overheadMicroseconds: Double { (swiftSeconds - cSeconds) * 1e6 }
}

/// Times the Swift wrapper's in-place `allreduce` against a plain C loop of
/// `MPI_Allreduce` on the same buffer, in the same run, for message sizes from
/// `minBytes` to `maxBytes` (doubling). Loops alternate C and Swift for several rounds
/// and report medians, so noise on a shared machine hits both alike. Also fits the
/// latency-bandwidth (alpha-beta) model `t = alpha + beta * bytes` of the measured times.
public enum AllreduceBenchmark {
    public static func run(
        world: Communicator, minBytes: Int = 4 << 10, maxBytes: Int = 64 << 20,
        rounds: Int = 7, secondsPerLoop: Double = 0.08
    ) throws -> [AllreduceMeasurement] {
        precondition(minBytes >= 4 && maxBytes >= minBytes && rounds >= 1)
        let maxCount = maxBytes / 4
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: maxCount)
        buffer.initialize(repeating: 0)   // zeros stay zeros under repeated sums: no overflow, no denormals
        defer { buffer.deallocate() }

        var results: [AllreduceMeasurement] = []
        var bytes = minBytes
        while bytes <= maxBytes {
            let count = bytes / 4
            let slice = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            // The same iteration count on every rank: a function of the size only.
            let estimate = 4e-6 + Double(bytes) / 1.5e9
            let iterations = max(5, min(4000, Int(secondsPerLoop / estimate)))
            // Warm-up both paths (connection set-up, page faults).
            try world.allreduce(slice, op: .sum)
            _ = lockstep_c_allreduce_loop(slice.baseAddress, Int32(count), 2)

            var swiftTimes: [Double] = [], cTimes: [Double] = []
            for _ in 0..<rounds {
                try world.barrier()
                let cElapsed = lockstep_c_allreduce_loop(slice.baseAddress, Int32(count), Int32(iterations))
                if cElapsed < 0 {
                    throw MPIError.call(function: "MPI_Allreduce", code: Int32(-cElapsed), errorClass: Int32(-cElapsed), message: "C baseline failed")
                }
                try world.barrier()
                let start = MPIEnvironment.wallTime()
                for _ in 0..<iterations { try world.allreduce(slice, op: .sum) }
                let swiftElapsed = MPIEnvironment.wallTime() - start
                // The slowest rank defines the time of a collective.
                var pair: [Double] = [cElapsed, swiftElapsed]
                try world.allreduce(&pair, op: .max)
                cTimes.append(pair[0] / Double(iterations))
                swiftTimes.append(pair[1] / Double(iterations))
            }
            results.append(AllreduceMeasurement(
                bytes: bytes, iterations: iterations, swiftSeconds: median(swiftTimes),
                cSeconds: median(cTimes), worldSize: world.size))
            bytes *= 2
        }
        return results
    }

    /// Fit of `t = alpha + beta * bytes` to the C times, least squares on the relative
    /// error (weights 1/t^2), so small messages fix the latency and large ones the
    /// bandwidth: alpha is the per-call latency in seconds, 1/beta the effective
    /// all-reduce bandwidth in bytes/s.
    public static func fitAlphaBeta(_ rows: [AllreduceMeasurement]) -> (alpha: Double, beta: Double) {
        guard rows.count >= 2 else { return (rows.first?.cSeconds ?? 0, 0) }
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for r in rows {
            let x = Double(r.bytes), y = r.cSeconds, w = 1 / (y * y)
            sw += w; sx += w * x; sy += w * y; sxx += w * x * x; sxy += w * x * y
        }
        let det = sw * sxx - sx * sx
        guard det != 0 else { return (sy / sw, 0) }
        let beta = (sw * sxy - sx * sy) / det
        let alpha = (sy - beta * sx) / sw
        return (max(0, alpha), max(0, beta))
    }

    /// Per-call cost of the wrapper itself: the same in-place all-reduce of one Float on
    /// `MPI_COMM_SELF` (where MPI's own work is tiny and undisturbed by other ranks),
    /// through the wrapper and from C, alternating, `rounds` times. Returns the median
    /// seconds per call of each.
    public static func perCallOverhead(selfCommunicator: Communicator, calls: Int = 200_000, rounds: Int = 9) throws -> (swift: Double, c: Double) {
        let one = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1)
        one.initialize(repeating: 0)
        defer { one.deallocate() }
        var swiftTimes: [Double] = [], cTimes: [Double] = []
        for _ in 0..<rounds {
            let c = lockstep_c_allreduce_loop_on(one.baseAddress, 1, Int32(calls), selfCommunicator.handle)
            let start = MPIEnvironment.wallTime()
            for _ in 0..<calls { try selfCommunicator.allreduce(one, op: .sum) }
            swiftTimes.append((MPIEnvironment.wallTime() - start) / Double(calls))
            cTimes.append(c / Double(calls))
        }
        return (median(swiftTimes), median(cTimes))
    }

    /// The table `lockstep bench allreduce` prints.
    public static func report(_ rows: [AllreduceMeasurement]) -> String {
        var lines = [
            "all-reduce (Float32 sum, in place), \(rows.first?.worldSize ?? 0) ranks; median of the slowest rank per loop",
            "      size   iters   swift (us)       C (us)   overhead    busbw swift   busbw C (GB/s)",
        ]
        for r in rows {
            let overhead = r.bytes >= (1 << 20)
                ? pad(String(format: "%+.2f%%", r.overheadPercent), 10)
                : pad(String(format: "%+.2fus", r.overheadMicroseconds), 10)
            lines.append(
                pad(formatBytes(r.bytes), 10) + pad("\(r.iterations)", 8)
                    + pad(String(format: "%.2f", r.swiftSeconds * 1e6), 13)
                    + pad(String(format: "%.2f", r.cSeconds * 1e6), 13) + " " + overhead
                    + pad(String(format: "%.2f", r.busBandwidth(seconds: r.swiftSeconds) / 1e9), 15)
                    + pad(String(format: "%.2f", r.busBandwidth(seconds: r.cSeconds) / 1e9), 12))
        }
        let fit = fitAlphaBeta(rows)
        lines.append(String(format: "alpha-beta fit: latency %.2f us, bandwidth %.2f GB/s", fit.alpha * 1e6, fit.beta > 0 ? 1 / fit.beta / 1e9 : 0))
        return lines.joined(separator: "\n")
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

func formatBytes(_ bytes: Int) -> String {
    if bytes >= 1 << 20 { return "\(bytes >> 20) MiB" }
    if bytes >= 1 << 10 { return "\(bytes >> 10) KiB" }
    return "\(bytes) B"
}
