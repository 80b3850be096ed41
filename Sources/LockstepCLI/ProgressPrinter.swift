import ArgumentParser
import Foundation
import Lockstep

#if canImport(Glibc)
import Glibc
#endif

/// How rank 0 shows progress.
enum ProgressMode: String, CaseIterable, ExpressibleByArgument {
    /// A live bar on a terminal, plain lines otherwise (and under mpirun).
    case auto
    /// Always the live bar (for `mpirun` started from a terminal).
    case bar
    /// Always plain lines.
    case lines
}

/// Rank 0's view of a run: a live progress line on a terminal, plain lines in a log.
final class ProgressPrinter {
    let configuration: TrainingConfiguration
    let logEvery: Int
    let isTerminal: Bool
    private var lastDraw = 0.0
    private var runStart = Date()

    init(configuration: TrainingConfiguration, logEvery: Int, mode: ProgressMode) {
        self.configuration = configuration
        self.logEvery = logEvery
        switch mode {
        case .bar: isTerminal = true
        case .lines: isTerminal = false
        case .auto:
            // mpirun hands every rank a pseudo-terminal even when its own output goes to a
            // file, so under mpirun only a real terminal on mpirun's side would show the bar;
            // we cannot see that, so launched ranks print plain lines unless asked.
            let underMPIRun = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil
                || ProcessInfo.processInfo.environment["PMI_SIZE"] != nil
            isTerminal = isatty(STDOUT_FILENO) != 0 && !underMPIRun
        }
    }

    func handle(_ event: TrainingEvent) {
        switch event {
        case .started(let plan):
            runStart = Date()
            let data = "\(configuration.dataset)" + (configuration.data.map { " (\($0))" } ?? "")
            say("lockstep \(LockstepVersion.string): \(configuration.model), \(grouped(plan.parameterCount)) parameters, on \(data)")
            say("  \(grouped(plan.trainSamples)) training / \(grouped(plan.testSamples)) test samples; \(plan.worldSize) rank\(plan.worldSize == 1 ? "" : "s") x batch \(configuration.batchSize)\(configuration.accumulate > 1 ? " x \(configuration.accumulate) accumulated" : "") = global batch \(plan.globalBatch)")
            say("  \(plan.stepsPerEpoch) steps/epoch, \(plan.totalSteps) steps in all; \(configuration.optimizer) lr \(configuration.learningRate)\(configuration.scaleLR ? " x \(plan.worldSize) (scaled)" : ""), schedule \(configuration.schedule), loss \(configuration.loss ?? .crossEntropy); \(Self.reduction(plan))")
            if let from = plan.resumedFrom { say("  resumed from \(from) at epoch \(plan.startEpoch + 1), step \(plan.startStep)") }
        case .step(let p):
            if isTerminal {
                let now = Date().timeIntervalSinceReferenceDate
                guard now - lastDraw > 0.1 || p.stepInEpoch == p.stepsPerEpoch else { return }
                lastDraw = now
                let width = 24
                let filled = p.stepsPerEpoch > 0 ? width * p.stepInEpoch / p.stepsPerEpoch : 0
                let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                let elapsed = Date().timeIntervalSince(runStart)
                let eta = p.step > 0 ? elapsed / Double(p.step) * Double(max(0, p.totalSteps - p.step)) : 0
                let line = String(format: "epoch %d/%d [%@] %d/%d  loss %.4f  %@ samples/s  lr %.4g  ETA %@",
                                  p.epoch, p.epochs, bar, p.stepInEpoch, p.stepsPerEpoch, p.loss,
                                  grouped(Int(p.samplesPerSecond)), Double(p.learningRate), clock(eta))
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
            } else if logEvery > 0 && p.step % logEvery == 0 {
                say(String(format: "step %d/%d  epoch %d  loss %.4f  %@ samples/s  lr %.4g", p.step, p.totalSteps, p.epoch,
                           p.loss, grouped(Int(p.samplesPerSecond)), Double(p.learningRate)))
            }
        case .epoch(let m):
            if isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            var line = String(format: "epoch %d/%d  train loss %.4f acc %.4f", m.epoch, configuration.epochs, m.trainLoss, m.trainAccuracy)
            if let l = m.validationLoss, let a = m.validationAccuracy {
                line += String(format: "  val loss %.4f acc %.4f%@", l, a, m.improved == true ? " *" : "")
            }
            if let l = m.testLoss, let a = m.testAccuracy { line += String(format: "  test loss %.4f acc %.4f", l, a) }
            let share = m.epochSeconds > 0 ? m.allreduceSeconds / m.epochSeconds * 100 : 0
            line += String(format: "  %@ samples/s  %.1f s (communication %.1f%%)", grouped(Int(m.samplesPerSecond)), m.epochSeconds, share)
            if m.skippedSteps > 0 { line += "  skipped \(m.skippedSteps) non-finite step\(m.skippedSteps == 1 ? "" : "s")" }
            say(line)
        case .checkpoint(let path, let step):
            if isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            say("checkpoint: step \(step) -> \(path)")
        case .finished(let s):
            if isTerminal { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            say(ProgressPrinter.finalLine(s))
        }
    }

    static func finalLine(_ s: TrainingSummary) -> String {
        var line = "done: \(s.steps) steps, \(s.epochs) epochs in \(String(format: "%.1f", s.wallSeconds)) s; \(grouped(Int(s.samplesPerSecond))) samples/s"
        if let a = s.finalTestAccuracy { line += String(format: "; test accuracy %.4f", a) }
        if s.skippedSteps > 0 { line += "; \(s.skippedSteps) non-finite step\(s.skippedSteps == 1 ? "" : "s") skipped" }
        if let c = s.checkpoint { line += "; checkpoint \(c)" }
        if let best = s.best {
            line += String(format: "; best %@ %.4f at epoch %d", best.metric, best.value, best.epoch)
            if let path = s.bestCheckpoint { line += " (\(path))" }
        }
        switch s.stopReason {
        case "early-stopping": line += "; stopped early: no improvement for the --early-stopping patience"
        case "max-steps": line += "; stopped at --max-steps"
        default: break
        }
        if s.worldSize > 1 { line += String(format: "; slowest rank %d (+%.1f%% compute)", s.slowestRank, s.slowestRankExcess * 100) }
        return line
    }

    private func say(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }

    /// How the plan sums gradients, for the start-up line.
    static func reduction(_ plan: TrainingPlan) -> String {
        switch plan.allreduce {
        case .shared where plan.nodes > 1:
            return "gradients summed in shared memory on each of \(plan.nodes) nodes, slices all-reduced across them"
        case .shared: return "gradients summed in shared memory, one shared copy of the parameters"
        case .blocking: return "one blocking all-reduce"
        default: return "\(plan.buckets) all-reduce bucket\(plan.buckets == 1 ? "" : "s")"
        }
    }
}

/// 12345 -> "12,345".
func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return (n < 0 ? "-" : "") + out
}

/// Seconds as m:ss or h:mm:ss.
func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
