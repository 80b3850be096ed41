/// A pre-norm transformer block (GPT-2 style, no dropout):
/// `x = x + attn(ln1(x))`, then `x = x + mlp(ln2(x))` with
/// `mlp = Linear(dim, mlpRatio·dim) -> GELU -> Linear(mlpRatio·dim, dim)`.
///
/// Its tensors carry the names of this PyTorch module's state_dict (prefixed with the
/// block's index in a ``Sequential``, e.g. `3.attn.in_proj_weight`):
///
/// ```python
/// class TransformerBlock(nn.Module):
///     def __init__(self, dim, heads, mlp_ratio=4, causal=True):
///         super().__init__()
///         self.causal = causal
///         self.ln1 = nn.LayerNorm(dim)
///         self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
///         self.ln2 = nn.LayerNorm(dim)
///         self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(),
///                                  nn.Linear(mlp_ratio * dim, dim))
///     def forward(self, x):                                   # x: [N, T, dim]
///         T = x.shape[1]
///         mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if self.causal else None
///         h = self.ln1(x)
///         x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
///         return x + self.mlp(self.ln2(x))
/// ```
///
/// Keys: `ln1.weight`, `ln1.bias`, `attn.in_proj_weight`, `attn.in_proj_bias`,
/// `attn.out_proj.weight`, `attn.out_proj.bias`, `ln2.weight`, `ln2.bias`, `mlp.0.weight`,
/// `mlp.0.bias`, `mlp.2.weight`, `mlp.2.bias`, in that (PyTorch's) order.
///
/// ```swift
/// TransformerBlock(128, heads: 4)   // [N, T, 128] -> [N, T, 128], causal
/// ```
public final class TransformerBlock: Layer, FLOPCounting {
    /// Model width.
    public let dimension: Int
    /// Hidden width of the MLP over the model width.
    public let mlpRatio: Int
    /// The first LayerNorm (`ln1`).
    public let ln1: LayerNorm
    /// The self-attention (`attn`).
    public let attention: MultiheadAttention
    /// The second LayerNorm (`ln2`).
    public let ln2: LayerNorm
    /// The MLP's first Linear (`mlp.0`), dim -> mlpRatio·dim.
    public let expand: Linear
    /// The MLP's activation (`mlp.1`).
    public let activation: GELU
    /// The MLP's second Linear (`mlp.2`), mlpRatio·dim -> dim.
    public let project: Linear
    private let sublayers: Sublayers
    private let residual = Tensor(shape: [0])       // x + attn(ln1(x))
    private let output = Tensor(shape: [0])
    private let gradResidual = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var cachedShape: [Int] = []

    /// A block of width `dimension` with `heads` attention heads (causal unless told
    /// otherwise) and an MLP `mlpRatio` times as wide, with an exact or tanh GELU.
    public init(_ dimension: Int, heads: Int, mlpRatio: Int = 4, causal: Bool = true,
                geluApproximation: GELU.Approximation = .none) {
        precondition(mlpRatio > 0, "TransformerBlock: mlpRatio \(mlpRatio) must be positive")
        self.dimension = dimension
        self.mlpRatio = mlpRatio
        ln1 = LayerNorm(dimension)
        attention = MultiheadAttention(dimension, heads: heads, causal: causal)
        ln2 = LayerNorm(dimension)
        expand = Linear(dimension, mlpRatio * dimension)
        activation = GELU(approximation: geluApproximation)
        project = Linear(mlpRatio * dimension, dimension)
        sublayers = Sublayers(children: [("ln1", ln1), ("attn", attention), ("ln2", ln2),
                                         ("mlp.0", expand), ("mlp.1", activation), ("mlp.2", project)])
    }

    public var description: String {
        "TransformerBlock(dim=\(dimension), heads=\(attention.heads), mlp_ratio=\(mlpRatio), causal=\(attention.causal ? "True" : "False"), gelu='\(activation.approximation.rawValue)')"
    }
    /// Trainable tensors, in arena order (`ln1.weight`, ..., `mlp.2.bias`).
    public var parameterSpecs: [TensorSpec] { sublayers.parameterSpecs }
    /// Points the children at consecutive windows of the arenas.
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        sublayers.bind(parameters: parameters, gradients: gradients, buffers: buffers)
    }
    /// Each child's PyTorch default initialisation, in order.
    public func resetParameters(rng: inout SeededRNG) { sublayers.resetParameters(rng: &rng) }
    /// Per-sample output shape (`[T, dim]`), or an error naming a mismatched input.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] > 0, shape[1] == dimension else {
            throw NeuralNetError.inputShapeMismatch(expected: [0, dimension], got: shape)
        }
        return shape
    }
    /// Forward + backward FLOPs per sample of the attention and the MLP's GEMMs.
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        attention.trainingFLOPs(inputShape: inputShape, computeInputGradient: true)
            + expand.trainingFLOPs(inputShape: inputShape, computeInputGradient: true)
            + project.trainingFLOPs(inputShape: Array(inputShape.dropLast()) + [mlpRatio * dimension], computeInputGradient: true)
    }

    /// x: [N, T, dim] -> [N, T, dim]
    public func forward(_ x: Tensor) -> Tensor {
        if shapeChanged(&cachedShape, x) {
            precondition(x.shape.count == 3 && x.shape[2] == dimension, "\(description): input \(x.shape), expected [N, T, \(dimension)]")
            residual.resize(to: x.shape); output.resize(to: x.shape)
            gradResidual.resize(to: x.shape); gradInput.resize(to: x.shape)
        }
        let a = attention.forward(ln1.forward(x))
        add(x.data, a.data, into: residual.data, x.count)
        let m = project.forward(activation.forward(expand.forward(ln2.forward(residual))))
        add(residual.data, m.data, into: output.data, x.count)
        return output
    }

    /// dy: [N, T, dim] -> dx: [N, T, dim]; every child accumulates its parameter gradients
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == output.shape, "\(description).backward: gradient \(dy.shape), output \(output.shape)")
        var g = project.backward(dy, computeInputGradient: true)!
        g = activation.backward(g, computeInputGradient: true)!
        g = expand.backward(g, computeInputGradient: true)!
        g = ln2.backward(g, computeInputGradient: true)!
        add(dy.data, g.data, into: gradResidual.data, dy.count)
        g = attention.backward(gradResidual, computeInputGradient: true)!
        guard let dln1 = ln1.backward(g, computeInputGradient: computeInputGradient) else { return nil }
        add(gradResidual.data, dln1.data, into: gradInput.data, dy.count)
        return gradInput
    }

    /// out[i] = a[i] + b[i]
    @inline(__always)
    private func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { out[i] = a[i] + b[i] }
    }
}
