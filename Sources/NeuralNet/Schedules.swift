import Foundation

/// The decay shape of a ``LearningRateSchedule``, applied after any warm-up.
public enum ScheduleKind: Sendable, Equatable {
    /// The base rate throughout.
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Float)
    /// Multiply by `gamma` at each milestone step.
    case multiStep(milestones: [Int], gamma: Float)
    /// Multiply by `gamma` every step.
    case exponential(gamma: Float)
    /// Half-cosine from the base rate down to `minLR` over `totalSteps`, then `minLR`.
    case cosine(totalSteps: Int, minLR: Float)
}

/// A learning rate as a pure function of the step (0-based), so resuming at any step needs
/// no saved scheduler state.
///
/// With `warmupSteps = W > 0`, steps `0..<W` ramp linearly: `lr(s) = base·(s+1)/W`; from
/// step `W` on, the decay runs on `t = s - W`.
///
/// ```swift
/// let s = try LearningRateSchedule.parse("step:1000:0.1", baseLR: 0.1, warmupSteps: 0)
/// s.learningRate(at: 1500)   // 0.01
/// ```
public struct LearningRateSchedule: Sendable, Equatable {
    /// The rate at the start of the decay (after warm-up).
    public let baseLR: Float
    /// The decay shape.
    public let kind: ScheduleKind
    /// Steps of linear warm-up in front of the decay.
    public let warmupSteps: Int

    /// Throws ``NeuralNetError/invalidHyperparameter(name:value:expected:)`` for a negative or
    /// non-finite base rate, negative warm-up, or invalid decay parameters.
    public init(baseLR: Float, kind: ScheduleKind, warmupSteps: Int = 0) throws {
        try checkRange("learning rate", baseLR, baseLR >= 0, "finite and >= 0")
        guard warmupSteps >= 0 else {
            throw NeuralNetError.invalidHyperparameter(name: "warm-up steps", value: "\(warmupSteps)", expected: ">= 0")
        }
        switch kind {
        case .constant: break
        case let .step(every, gamma):
            guard every > 0 else {
                throw NeuralNetError.invalidHyperparameter(name: "step size", value: "\(every)", expected: "> 0")
            }
            try checkRange("gamma", gamma, gamma > 0, "> 0")
        case let .multiStep(milestones, gamma):
            guard !milestones.isEmpty, milestones.allSatisfy({ $0 > 0 }), zip(milestones, milestones.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw NeuralNetError.invalidHyperparameter(name: "milestones", value: "\(milestones)", expected: "positive and increasing")
            }
            try checkRange("gamma", gamma, gamma > 0, "> 0")
        case let .exponential(gamma):
            try checkRange("gamma", gamma, gamma > 0, "> 0")
        case let .cosine(total, minLR):
            guard total > 0 else {
                throw NeuralNetError.invalidHyperparameter(name: "cosine total steps", value: "\(total)", expected: "> 0")
            }
            try checkRange("minimum learning rate", minLR, minLR >= 0 && minLR <= baseLR, "in [0, base rate \(baseLR)]")
        }
        self.baseLR = baseLR
        self.kind = kind
        self.warmupSteps = warmupSteps
    }

    /// Parses `constant`, `step:STEPS:GAMMA`, `multistep:M1,M2,...:GAMMA`, `exp:GAMMA`,
    /// `cosine:TOTAL` or `cosine:TOTAL:MIN_LR`; throws ``NeuralNetError/malformedSchedule(_:reason:)``
    /// naming the text otherwise.
    public static func parse(_ text: String, baseLR: Float, warmupSteps: Int) throws -> LearningRateSchedule {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func bad(_ reason: String) -> NeuralNetError { .malformedSchedule(text, reason: reason) }
        func int(_ s: String, _ what: String) throws -> Int {
            guard let v = Int(s) else { throw bad("\(what) \"\(s)\" is not an integer") }
            return v
        }
        func float(_ s: String, _ what: String) throws -> Float {
            guard let v = Float(s), v.isFinite else { throw bad("\(what) \"\(s)\" is not a number") }
            return v
        }
        let kind: ScheduleKind
        switch parts[0].lowercased() {
        case "constant":
            guard parts.count == 1 else { throw bad("constant takes no arguments") }
            kind = .constant
        case "step":
            guard parts.count == 3 else { throw bad("step needs STEPS:GAMMA") }
            kind = .step(every: try int(parts[1], "step size"), gamma: try float(parts[2], "gamma"))
        case "multistep":
            guard parts.count == 3 else { throw bad("multistep needs M1,M2,...:GAMMA") }
            let ms = try parts[1].split(separator: ",", omittingEmptySubsequences: false).map { try int(String($0), "milestone") }
            kind = .multiStep(milestones: ms, gamma: try float(parts[2], "gamma"))
        case "exp":
            guard parts.count == 2 else { throw bad("exp needs GAMMA") }
            kind = .exponential(gamma: try float(parts[1], "gamma"))
        case "cosine":
            guard parts.count == 2 || parts.count == 3 else { throw bad("cosine needs TOTAL or TOTAL:MIN_LR") }
            kind = .cosine(totalSteps: try int(parts[1], "total steps"),
                           minLR: parts.count == 3 ? try float(parts[2], "minimum learning rate") : 0)
        default:
            throw bad("unknown kind \"\(parts[0])\"")
        }
        do {
            return try LearningRateSchedule(baseLR: baseLR, kind: kind, warmupSteps: warmupSteps)
        } catch let NeuralNetError.invalidHyperparameter(name, value, expected) {
            if name == "learning rate" || name == "warm-up steps" {
                throw NeuralNetError.invalidHyperparameter(name: name, value: value, expected: expected)
            }
            throw bad("\(name) \(value) must be \(expected)")
        }
    }

    /// The learning rate for 0-based `step`.
    public func learningRate(at step: Int) -> Float {
        precondition(step >= 0, "LearningRateSchedule: step \(step) must be >= 0")
        if step < warmupSteps { return baseLR * Float(step + 1) / Float(warmupSteps) }
        let t = step - warmupSteps
        switch kind {
        case .constant:
            return baseLR
        case let .step(every, gamma):
            return baseLR * Float(pow(Double(gamma), Double(t / every)))
        case let .multiStep(milestones, gamma):
            let passed = milestones.reduce(0) { $0 + ($1 <= t ? 1 : 0) }
            return baseLR * Float(pow(Double(gamma), Double(passed)))
        case let .exponential(gamma):
            return baseLR * Float(pow(Double(gamma), Double(t)))
        case let .cosine(total, minLR):
            let progress = Double(min(t, total)) / Double(total)
            return minLR + (baseLR - minLR) * Float((1 + cos(Double.pi * progress)) / 2)
        }
    }
}
