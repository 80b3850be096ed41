/// Weight initialisers, all drawn from ``SeededRNG`` so a seed reproduces them anywhere.
///
/// PyTorch's default for `Linear` and `Conv2d` weights AND biases is uniform in
/// `±1/sqrt(fanIn)` (`kaiming_uniform_(a=sqrt(5))` reduces to that), which is
/// ``Initializer/pytorchDefault(fanIn:)``.
///
/// ```swift
/// var rng = SeededRNG(seed: 1)
/// Initializer.kaimingNormal(fanIn: 784).fill(buffer, rng: &rng)
/// ```
public enum Initializer: Sendable, Equatable {
    /// Uniform in `[-1/sqrt(fanIn), 1/sqrt(fanIn))` (PyTorch's Linear/Conv2d default).
    case pytorchDefault(fanIn: Int)
    /// Uniform in `[low, high)`.
    case uniform(low: Float, high: Float)
    /// Normal with the given mean and standard deviation.
    case normal(mean: Float, std: Float)
    /// Kaiming (He) uniform for ReLU: bound `sqrt(6 / fanIn)`.
    case kaimingUniform(fanIn: Int)
    /// Kaiming (He) normal for ReLU: std `sqrt(2 / fanIn)`.
    case kaimingNormal(fanIn: Int)
    /// Xavier (Glorot) uniform: bound `sqrt(6 / (fanIn + fanOut))`.
    case xavierUniform(fanIn: Int, fanOut: Int)
    /// Xavier (Glorot) normal: std `sqrt(2 / (fanIn + fanOut))`.
    case xavierNormal(fanIn: Int, fanOut: Int)
    /// All zeros.
    case zeros
    /// All ones.
    case ones

    /// Fills `buffer` from `rng`.
    public func fill(_ buffer: UnsafeMutableBufferPointer<Float>, rng: inout SeededRNG) {
        func uniform(_ lo: Float, _ hi: Float) {
            for i in buffer.indices { buffer[i] = lo + (hi - lo) * rng.nextFloat() }
        }
        func normal(_ mean: Float, _ std: Float) {
            for i in buffer.indices { buffer[i] = mean + std * rng.nextNormal() }
        }
        switch self {
        case let .pytorchDefault(fanIn):
            let b = 1 / Float(fanIn).squareRoot()
            uniform(-b, b)
        case let .uniform(lo, hi): uniform(lo, hi)
        case let .normal(mean, std): normal(mean, std)
        case let .kaimingUniform(fanIn):
            let b = (6 / Float(fanIn)).squareRoot()
            uniform(-b, b)
        case let .kaimingNormal(fanIn): normal(0, (2 / Float(fanIn)).squareRoot())
        case let .xavierUniform(fanIn, fanOut):
            let b = (6 / Float(fanIn + fanOut)).squareRoot()
            uniform(-b, b)
        case let .xavierNormal(fanIn, fanOut): normal(0, (2 / Float(fanIn + fanOut)).squareRoot())
        case .zeros: buffer.update(repeating: 0)
        case .ones: buffer.update(repeating: 1)
        }
    }
}

/// An initialiser named without its fans: a layer fills them in from its weight's shape,
/// the way PyTorch's `nn.init` functions read them (`fanIn = in/groups·k·k`,
/// `fanOut = out·k·k`). The spelling in model files is ``name``.
///
/// ```swift
/// let fc = Linear(784, 64, weightInit: .xavierUniform)
/// ```
public enum InitializerKind: Hashable, Sendable {
    /// PyTorch's default: uniform in `±1/sqrt(fanIn)` (`pytorch`).
    case pytorchDefault
    /// Kaiming (He) uniform, `kaiming-uniform`.
    case kaimingUniform
    /// Kaiming (He) normal, `kaiming-normal`.
    case kaimingNormal
    /// Xavier (Glorot) uniform, `xavier-uniform`.
    case xavierUniform
    /// Xavier (Glorot) normal, `xavier-normal`.
    case xavierNormal
    /// All zeros, `zeros`.
    case zeros
    /// All ones, `ones`.
    case ones
    /// Uniform in `[low, high)`, `{uniform: {low: -0.1, high: 0.1}}`.
    case uniform(low: Float, high: Float)
    /// Normal, `{normal: {mean: 0, std: 0.02}}`.
    case normal(mean: Float, std: Float)

    /// The names of the initialisers that take no arguments, as model files spell them.
    public static let plainNames: [String: InitializerKind] = [
        "pytorch": .pytorchDefault, "kaiming-uniform": .kaimingUniform, "kaiming-normal": .kaimingNormal,
        "xavier-uniform": .xavierUniform, "xavier-normal": .xavierNormal, "zeros": .zeros, "ones": .ones,
    ]

    /// The model-file spelling: `xavier-uniform`, or `uniform`/`normal` for the two with arguments.
    public var name: String {
        switch self {
        case .uniform: return "uniform"
        case .normal: return "normal"
        default: return Self.plainNames.first { $0.value == self }!.key
        }
    }

    /// The concrete initialiser for a weight with these fans.
    public func initializer(fanIn: Int, fanOut: Int) -> Initializer {
        switch self {
        case .pytorchDefault: return .pytorchDefault(fanIn: fanIn)
        case .kaimingUniform: return .kaimingUniform(fanIn: fanIn)
        case .kaimingNormal: return .kaimingNormal(fanIn: fanIn)
        case .xavierUniform: return .xavierUniform(fanIn: fanIn, fanOut: fanOut)
        case .xavierNormal: return .xavierNormal(fanIn: fanIn, fanOut: fanOut)
        case .zeros: return .zeros
        case .ones: return .ones
        case let .uniform(low, high): return .uniform(low: low, high: high)
        case let .normal(mean, std): return .normal(mean: mean, std: std)
        }
    }
}
