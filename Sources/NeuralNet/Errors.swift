import Foundation

/// Errors from bad input that enters NeuralNet from outside: model names and specs,
/// hyper-parameters, schedule strings, input shapes. Each message names the offending
/// value and says what to do.
///
/// ```swift
/// do { _ = try ModelZoo.make("resnet", seed: 1) }
/// catch { print(error.localizedDescription) }   // unknown model "resnet"; use one of ...
/// ```
public enum NeuralNetError: Error, LocalizedError, Equatable {
    /// A model name that is neither a preset nor a spec.
    case unknownModel(String, known: [String])
    /// A model spec such as `mlp:784,,10` that does not parse.
    case malformedSpec(String, reason: String)
    /// A hyper-parameter outside its valid range.
    case invalidHyperparameter(name: String, value: String, expected: String)
    /// A learning-rate schedule string that does not parse.
    case malformedSchedule(String, reason: String)
    /// Input whose per-sample shape does not fit the model.
    case inputShapeMismatch(expected: [Int], got: [Int])
    /// An element of an ``Embedding``'s input that is not a token id in `0..<count`.
    case tokenOutOfRange(value: Float, position: Int, count: Int)
    /// Something that would need more memory than this machine has (`bytes` nil: more than
    /// `Int.max` bytes, which no machine has); see ``MemoryBudget``.
    case tooLarge(what: String, bytes: Int?, available: Int)

    /// The message: what was wrong and what to do.
    public var errorDescription: String? {
        switch self {
        case let .unknownModel(name, known):
            return "unknown model \"\(name)\"; use one of \(known.joined(separator: ", ")) or a spec like mlp:784,256,10"
        case let .malformedSpec(spec, reason):
            return "malformed model spec \"\(spec)\": \(reason); write it like mlp:784,256,128,10"
        case let .invalidHyperparameter(name, value, expected):
            return "invalid \(name) \(value): it must be \(expected)"
        case let .malformedSchedule(text, reason):
            return "malformed learning-rate schedule \"\(text)\": \(reason); use constant, step:STEPS:GAMMA, multistep:M1,M2:GAMMA, exp:GAMMA or cosine:TOTAL[:MIN_LR]"
        case let .tooLarge(what, bytes, available):
            let size = bytes.map { "needs \(MemoryBudget.describe($0))" } ?? "needs more than 8 EiB"
            let memory = available == Int.max ? "" : " (this machine has \(MemoryBudget.describe(available)))"
            return "\(what) \(size), more memory than the machine holds\(memory); choose a smaller size"
        case let .inputShapeMismatch(expected, got):
            return "input shape \(got) does not fit the model, which takes per-sample shape \(expected) (batch shape [N] + \(expected)); reshape the data or pick another model"
        case let .tokenOutOfRange(value, position, count):
            return "token id \(value) at position \(position) is not an integer in 0..<\(count); the data's ids must fit the embedding's vocabulary of \(count)"
        }
    }
}
