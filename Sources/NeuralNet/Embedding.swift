/// A lookup table of `num` learned vectors of `dim`, PyTorch's `nn.Embedding(num, dim)`:
/// weight `[num, dim]`, initialised normal(0, 1) like PyTorch (or normal(0, `initStd`)).
///
/// The input holds token ids stored as `Float` (exact up to 2^24), `[N, T]` (or any shape);
/// the output appends `dim`: `[N, T, dim]`. Backward scatters the output gradient into the
/// weight gradient rows of the ids seen; ids have no gradient, so when an input gradient is
/// asked for it is zeros. An id that is not an integer in `0..<num` is a programmer error
/// here (a precondition names it): data paths check their ids first with
/// ``validate(tokens:)``, which throws.
///
/// ```swift
/// let embed = Embedding(256, 128)   // ids [N, T] -> [N, T, 128]
/// ```
public final class Embedding: Layer {
    /// Number of rows (vocabulary size).
    public let count: Int
    /// Length of each vector.
    public let dimension: Int
    /// Standard deviation of the normal initialisation (PyTorch: 1).
    public let initStd: Float
    private var weight: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])   // zeros: ids have no gradient
    private var ids: [Int32] = []
    private var cachedShape: [Int] = []

    /// An embedding of `count` ids into vectors of `dimension`.
    public init(_ count: Int, _ dimension: Int, initStd: Float = 1) {
        precondition(count > 0 && dimension > 0, "Embedding: sizes \(count), \(dimension) must be positive")
        precondition(count <= 1 << 24, "Embedding: \(count) ids cannot all be stored exactly as Float (at most 2^24)")
        precondition(initStd >= 0, "Embedding: initStd \(initStd) must be >= 0")
        self.count = count
        self.dimension = dimension
        self.initStd = initStd
    }

    public var description: String { "Embedding(\(count), \(dimension))" }
    public var parameterSpecs: [TensorSpec] { [TensorSpec("weight", [count, dimension])] }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        weight = parameters
        weightGrad = gradients
    }
    /// Fills the weight from normal(0, initStd) (PyTorch's default is normal(0, 1)).
    public func resetParameters(rng: inout SeededRNG) {
        Initializer.normal(mean: 0, std: initStd).fill(UnsafeMutableBufferPointer(start: weight, count: count * dimension), rng: &rng)
    }
    /// Per-sample output shape (`[T]` -> `[T, dim]`).
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count <= 3 else { throw NeuralNetError.inputShapeMismatch(expected: [0], got: shape) }
        return shape + [dimension]
    }

    /// Throws ``NeuralNetError/tokenOutOfRange(value:position:count:)`` for the first element of
    /// `tokens` that is not an integer id in `0..<count`.
    public func validate(tokens: Tensor) throws {
        for i in 0..<tokens.count {
            let v = tokens.data[i]
            guard v >= 0, v < Float(count), v == v.rounded(.towardZero) else {
                throw NeuralNetError.tokenOutOfRange(value: v, position: i, count: count)
            }
        }
    }

    /// ids: [N, T] -> [N, T, dim]; y[n, t] = weight[ids[n, t]]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count >= 1 && x.shape.count <= 4, "\(description): input \(x.shape) must be ids [N, T]")
            output.resize(to: x.shape + [dimension])
            gradInput.resize(to: x.shape)
            gradInput.fill(0)
            ids = [Int32](repeating: 0, count: x.count)
        }
        let d = dimension, w = weight!, y = output.data
        ids.withUnsafeMutableBufferPointer { ids in
            for i in 0..<x.count {
                let v = x.data[i]
                precondition(v >= 0 && v < Float(count) && v == v.rounded(.towardZero),
                             "\(description): input element \(i) is \(v), not a token id in 0..<\(count); check the data's ids against the vocabulary size")
                let id = Int(v)
                ids[i] = Int32(id)
                (y + i * d).update(from: w + id * d, count: d)
            }
        }
        return output
    }

    /// dy: [N, T, dim]; weightGrad[ids[n, t]] += dy[n, t]; the input gradient is zeros
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        let d = dimension, wg = weightGrad!
        ids.withUnsafeBufferPointer { ids in
            for i in 0..<ids.count { addShortRow(wg + Int(ids[i]) * d, dy.data + i * d, d) }
        }
        return computeInputGradient ? gradInput : nil
    }
}

/// A learned positional embedding: adds row `t` of `weight [maxLength, dim]` to every
/// position `t` of `x [N, T, dim]` (`T <= maxLength`). Initialised normal(0, 1) like
/// `nn.Embedding` (or normal(0, `initStd`)).
///
/// Its one tensor is named `weight`, so in a ``Sequential`` the key is e.g. `1.weight`. The
/// PyTorch module with the same state_dict is
///
/// ```python
/// class PositionalEmbedding(nn.Module):
///     def __init__(self, max_length, dim):
///         super().__init__()
///         self.weight = nn.Parameter(torch.randn(max_length, dim))
///     def forward(self, x):                      # x: [N, T, dim]
///         return x + self.weight[: x.shape[1]]
/// ```
///
/// (`nn.Embedding(max_length, dim)` applied to `torch.arange(T)` has the same key and shape).
///
/// ```swift
/// PositionalEmbedding(128, 64)   // [N, T <= 128, 64] -> [N, T, 64]
/// ```
public final class PositionalEmbedding: Layer {
    /// Longest sequence the table covers.
    public let maxLength: Int
    /// Vector length.
    public let dimension: Int
    /// Standard deviation of the normal initialisation (PyTorch's `nn.Embedding`: 1).
    public let initStd: Float
    private var weight: UnsafeMutablePointer<Float>!
    private var weightGrad: UnsafeMutablePointer<Float>!
    private let output = Tensor(shape: [0])
    private var cachedShape: [Int] = []

    /// Positions `0..<maxLength`, each a vector of `dimension`.
    public init(_ maxLength: Int, _ dimension: Int, initStd: Float = 1) {
        precondition(maxLength > 0 && dimension > 0, "PositionalEmbedding: sizes \(maxLength), \(dimension) must be positive")
        precondition(initStd >= 0, "PositionalEmbedding: initStd \(initStd) must be >= 0")
        self.maxLength = maxLength
        self.dimension = dimension
        self.initStd = initStd
    }

    public var description: String { "PositionalEmbedding(\(maxLength), \(dimension))" }
    public var parameterSpecs: [TensorSpec] { [TensorSpec("weight", [maxLength, dimension])] }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        weight = parameters
        weightGrad = gradients
    }
    /// Fills the weight from normal(0, initStd).
    public func resetParameters(rng: inout SeededRNG) {
        Initializer.normal(mean: 0, std: initStd).fill(UnsafeMutableBufferPointer(start: weight, count: maxLength * dimension), rng: &rng)
    }
    /// Per-sample output shape (`[T, dim]`, `T <= maxLength`), or an error naming a mismatch.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] <= maxLength, shape[1] == dimension else {
            throw NeuralNetError.inputShapeMismatch(expected: [maxLength, dimension], got: shape)
        }
        return shape
    }

    /// x: [N, T, dim] -> [N, T, dim]; y[n, t] = x[n, t] + weight[t]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 3 && x.shape[1] <= maxLength && x.shape[2] == dimension,
                         "\(description): input \(x.shape), expected [N, T <= \(maxLength), \(dimension)]")
            output.resize(to: x.shape)
        }
        let rowsPerSample = x.shape[1] * dimension, w = weight!
        for n in 0..<x.shape[0] {
            let a = x.data + n * rowsPerSample, y = output.data + n * rowsPerSample
            for i in 0..<rowsPerSample { y[i] = a[i] + w[i] }
        }
        return output
    }

    /// dy: [N, T, dim] -> dx = dy (the same tensor); weightGrad[t] += Σ_n dy[n, t]
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        let rowsPerSample = dy.shape[1] * dimension
        for n in 0..<dy.shape[0] { addShortRow(weightGrad, dy.data + n * rowsPerSample, rowsPerSample) }
        return computeInputGradient ? dy : nil
    }
}
