// The registries of the training configuration's named settings: each enum lists every
// accepted name once, and validation, `--help`, error messages and the trainer's dispatch
// all read it. In JSON (state.json) and YAML each is the plain string it always was.

import Foundation
import NeuralNet

/// A setting whose values are a fixed list of names (`sgd`, `adamw`). Conforming enums get
/// the list for help texts and errors, and a parse that names the setting when it fails.
public protocol NamedSetting: CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible, RawRepresentable where RawValue == String {
    /// The configuration's name of the setting (`optimizer`), for error messages.
    static var setting: String { get }
}

extension NamedSetting {
    /// The name, as written in flags, files and messages.
    public var description: String { rawValue }

    /// Every accepted name, in registry order, comma-separated: `sgd, adamw`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The value named `name`; throws a ``ConfigurationError`` listing the names otherwise.
    public init(named name: String) throws {
        guard let value = Self(rawValue: name) else {
            throw ConfigurationError.unknown(setting: Self.setting, value: name, known: Self.names)
        }
        self = value
    }

    /// Decodes the name, refusing an unknown one with the list of known names.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        do { self = try Self(named: name) }
        catch { throw DecodingError.dataCorruptedError(in: container, debugDescription: error.userMessage) }
    }
}

/// What a run learns. Every task reads the same configuration; the trainer dispatches on it.
public enum TrainingTask: String, NamedSetting {
    /// Class labels from inputs, trained with a classification loss, reported with accuracy.
    case classify

    public static let setting = "task"
}

/// The optimizer that updates the parameters.
public enum OptimizerKind: String, NamedSetting {
    /// SGD with (optionally Nesterov) momentum and L2 weight decay, PyTorch's semantics.
    case sgd
    /// AdamW: Adam with decoupled weight decay.
    case adamw

    public static let setting = "optimizer"
}

/// Where the samples come from (``TrainingData/load(_:)`` dispatches on it).
public enum DatasetKind: String, NamedSetting {
    /// A directory of MNIST-style IDX files (Fashion-MNIST by default).
    case fashionMNIST = "fashion-mnist"
    /// The same IDX reader, under the name of the digits set.
    case mnist
    /// A CSV file (label first) or a directory with train.csv and test.csv.
    case csv
    /// A directory holding train_x.npy and train_y.npy (and optionally test_, val_).
    case npy
    /// Seeded random class patterns (for tests and quick runs).
    case synthetic

    public static let setting = "dataset"

    /// Whether the dataset needs a `data` path (csv and npy).
    public var needsDataPath: Bool { self == .csv || self == .npy }
    /// Whether a separate validation set (`validationData`) can be given in this format.
    public var acceptsValidationData: Bool { self == .csv || self == .npy }
}

extension LossKind: NamedSetting {
    public static let setting = "loss"
}

/// The learning-rate schedule setting, written as text: `constant`, `cosine` (over the
/// whole run), `cosine:N`, `cosine:N:MIN_LR`, `step:N:G`, `multistep:A,B:G`, `exp:G`.
/// Parsed by ``LearningRateSchedule/parse(_:baseLR:warmupSteps:)``, so the two cannot
/// disagree; encoded as the same text.
public enum ScheduleSetting: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The base rate throughout.
    case constant
    /// Multiply by `gamma` every `every` steps.
    case step(every: Int, gamma: Float)
    /// Multiply by `gamma` at each milestone step.
    case multiStep(milestones: [Int], gamma: Float)
    /// Multiply by `gamma` every step.
    case exponential(gamma: Float)
    /// Half-cosine down to `minLR` over `totalSteps`, or over the whole run when nil.
    case cosine(totalSteps: Int?, minLR: Float)

    public static let setting = "schedule"
    /// The accepted forms, for help texts and errors.
    public static let forms = "constant, cosine, cosine:N, cosine:N:MIN_LR, step:N:G, multistep:A,B:G, exp:G"

    /// Parses the text form; throws a ``ConfigurationError`` naming the setting and the text.
    public init(parsing text: String) throws {
        if text.lowercased() == "cosine" { self = .cosine(totalSteps: nil, minLR: 0); return }
        let kind: ScheduleKind
        do {
            // The base rate only bounds cosine's minimum; the real one is checked on its own.
            kind = try LearningRateSchedule.parse(text, baseLR: .greatestFiniteMagnitude, warmupSteps: 0).kind
        } catch {
            throw ConfigurationError.invalid(setting: Self.setting, value: "'\(text)'", rule: "\(error.userMessage); use \(Self.forms)")
        }
        switch kind {
        case .constant: self = .constant
        case let .step(every, gamma): self = .step(every: every, gamma: gamma)
        case let .multiStep(milestones, gamma): self = .multiStep(milestones: milestones, gamma: gamma)
        case let .exponential(gamma): self = .exponential(gamma: gamma)
        case let .cosine(total, minLR): self = .cosine(totalSteps: total, minLR: minLR)
        }
    }

    /// The text form (``init(parsing:)`` reads it back to the same value).
    public var description: String {
        switch self {
        case .constant: return "constant"
        case let .step(every, gamma): return "step:\(every):\(gamma)"
        case let .multiStep(milestones, gamma): return "multistep:\(milestones.map(String.init).joined(separator: ",")):\(gamma)"
        case let .exponential(gamma): return "exp:\(gamma)"
        case let .cosine(nil, _): return "cosine"
        case let .cosine(total?, minLR): return minLR == 0 ? "cosine:\(total)" : "cosine:\(total):\(minLR)"
        }
    }

    /// The decay for a run of `runSteps` optimizer steps (what plain `cosine` spans).
    public func kind(runSteps: Int) -> ScheduleKind {
        switch self {
        case .constant: return .constant
        case let .step(every, gamma): return .step(every: every, gamma: gamma)
        case let .multiStep(milestones, gamma): return .multiStep(milestones: milestones, gamma: gamma)
        case let .exponential(gamma): return .exponential(gamma: gamma)
        case let .cosine(total, minLR): return .cosine(totalSteps: total ?? max(1, runSteps), minLR: minLR)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { self = try ScheduleSetting(parsing: text) }
        catch { throw DecodingError.dataCorruptedError(in: container, debugDescription: error.userMessage) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A configuration value that is out of range, unknown, or in conflict with another. The
/// message names settings by the configuration's names (`batchSize`); a front end renders it
/// with its own names for them (the CLI: `--batch-size`) through ``message(naming:)``.
public struct ConfigurationError: Error, LocalizedError, Sendable, Equatable {
    /// A piece of the message: text, or a setting to be named.
    public enum Part: Sendable, Equatable {
        case text(String)
        /// The setting as the user refers to it (`batchSize`; the CLI: `--batch-size`).
        case option(String)
        /// The setting as the subject of a rule (`batchSize`; the CLI: `batch-size`).
        case name(String)
    }

    /// The setting the error is about (the first one named).
    public let setting: String
    /// The message in parts.
    public let parts: [Part]
    /// For a single value out of range: the value and the rule it breaks.
    public let value: (text: String, rule: String)?

    public init(setting: String, parts: [Part], value: (text: String, rule: String)? = nil) {
        self.setting = setting
        self.parts = parts
        self.value = value
    }

    public static func == (a: ConfigurationError, b: ConfigurationError) -> Bool {
        a.setting == b.setting && a.parts == b.parts && a.value?.text == b.value?.text && a.value?.rule == b.value?.rule
    }

    /// `value` breaks `rule`: "batchSize 0: batchSize must be >= 1".
    public static func invalid(setting: String, value: String, rule: String) -> ConfigurationError {
        ConfigurationError(setting: setting, parts: [.option(setting), .text(" \(value): "), .name(setting), .text(" \(rule)")],
                           value: (value, rule))
    }

    /// `value` is not one of `known`: "optimizer 'rmsprop' is not known; use sgd, adamw".
    public static func unknown(setting: String, value: String, known: String) -> ConfigurationError {
        ConfigurationError(setting: setting, parts: [.option(setting), .text(" '\(value)' is not known; use \(known)")],
                           value: ("'\(value)'", "is not known; use \(known)"))
    }

    /// The message with each setting named by `option` (as given) and `name` (as a subject).
    public func message(option: (String) -> String, name: (String) -> String) -> String {
        parts.map { part in
            switch part {
            case let .text(text): return text
            case let .option(setting): return option(setting)
            case let .name(setting): return name(setting)
            }
        }.joined()
    }

    /// The message in the configuration's own names.
    public var errorDescription: String? { message(option: { $0 }, name: { $0 }) }
}
