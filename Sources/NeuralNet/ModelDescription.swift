/// A network as data: the per-sample input shape and the layers in order, each with its
/// settings but not its input size, which follows from the layers before it. It is what a
/// model file (``ModelDescription/load(file:)``) holds, what a checkpoint's `state.json`
/// stores, and the one way to a ``Sequential``: the presets are descriptions too.
///
/// ```swift
/// let d = try ModelDescription(yaml: """
///     input: [784]
///     layers: [{linear: {out: 128}}, relu, {linear: {out: 10}}]
///     """)
/// let model = try d.makeModel(seed: 42)   // Linear(784, 128), ReLU, Linear(128, 10)
/// ```
public struct ModelDescription: Codable, Hashable, Sendable {
    /// Per-sample input shape: `[features]` or `[channels, height, width]`.
    public var input: [Int]
    /// The loss the model trains with (a ``LossKind`` name: `cross-entropy`, `nll`, `mse`,
    /// `bce-with-logits`, `l1`), when the description names one.
    public var loss: String?
    /// The layers in forward order.
    public var layers: [LayerDescription]

    /// A description; nothing is checked until ``checkShapes()`` or ``makeModel(seed:)``.
    public init(input: [Int], loss: String? = nil, layers: [LayerDescription]) {
        self.input = input
        self.loss = loss
        self.layers = layers
    }

    /// Losses a description may name.
    public static let knownLosses = LossKind.allCases.map(\.rawValue)
    /// Largest value of any one size in a description (out, kernel, stride, ...).
    public static let maxSize = 1 << 24
    /// Largest model: 2^30 parameters (4 GiB of floats).
    public static let maxParameters = 1 << 30
    /// Largest per-sample activation of any layer: 2^28 values (1 GiB of floats).
    public static let maxActivation = 1 << 28
    /// Deepest nesting of residual blocks.
    public static let maxResidualDepth = 8

    /// Builds the layers and a ``Sequential`` initialised from `seed`; throws a
    /// ``ModelFileError`` naming the layer when the description does not fit together.
    public func makeModel(seed: UInt64) throws -> Sequential {
        let plan = try checkShapes()
        return try Sequential(inputShape: input, makeLayers(layers, plan.inputs, path: []), seed: seed)
    }

    private func makeLayers(_ layers: [LayerDescription], _ inputs: [[Int]: [Int]], path: [Int]) -> [any Layer] {
        layers.enumerated().map { i, layer in
            let shape = inputs[path + [i]]!
            return layer.makeLayer(input: shape, body: { self.makeLayers($0, inputs, path: path + [i]) })
        }
    }
}

/// One layer of a ``ModelDescription``; input channels and features are left out and
/// inferred. The model-file key of each case is ``kind``.
public indirect enum LayerDescription: Hashable, Sendable {
    /// `linear: {out: 64, bias: true, init: xavier-uniform, bias-init: zeros}`, PyTorch's `nn.Linear`.
    case linear(LinearDescription)
    /// `conv2d: {out: 16, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: true}`.
    case conv2d(Conv2dDescription)
    /// `maxpool2d: {kernel: 2, stride: 2}` (stride defaults to the kernel).
    case maxPool2d(kernel: Int, stride: Int)
    /// `avgpool2d: {kernel: 2, stride: 2}` (stride defaults to the kernel).
    case avgPool2d(kernel: Int, stride: Int)
    /// `flatten`: every dimension after the batch into one.
    case flatten
    /// `batchnorm1d: {eps: 1e-5, momentum: 0.1}` over `[features]`.
    case batchNorm1d(eps: Float, momentum: Float)
    /// `batchnorm2d: {eps: 1e-5, momentum: 0.1}` over `[channels, height, width]`.
    case batchNorm2d(eps: Float, momentum: Float)
    /// `dropout: {p: 0.5}`.
    case dropout(p: Float)
    /// `relu`.
    case relu
    /// `leaky-relu: {negative-slope: 0.01}`.
    case leakyReLU(negativeSlope: Float)
    /// `sigmoid`.
    case sigmoid
    /// `tanh`.
    case tanh
    /// `softplus: {threshold: 20}`.
    case softplus(threshold: Float)
    /// `elu: {alpha: 1}`.
    case elu(alpha: Float)
    /// `softmax` over `[classes]`.
    case softmax
    /// `log-softmax` over `[classes]`.
    case logSoftmax
    /// `conv1d: {out: 32, kernel: 3, stride: 1, padding: 1, dilation: 1, bias: true}` over `[channels, length]`.
    case conv1d(out: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, bias: Bool)
    /// `convtranspose2d: {out: 16, kernel: 2, stride: 2, padding: 0, output-padding: 0, bias: true}`.
    case convTranspose2d(out: Int, kernel: Int, stride: Int, padding: Int, outputPadding: Int, bias: Bool)
    /// `upsample: {scale: 2}`: nearest-neighbour, `[C, H, W]` -> `[C, s·H, s·W]`.
    case upsample(scale: Int)
    /// `lstm: {hidden: 64, layers: 1}` over `[steps, features]` (batch first), giving `[steps, hidden]`.
    case lstm(hidden: Int, layers: Int)
    /// `gru: {hidden: 64, layers: 1}` over `[steps, features]` (batch first), giving `[steps, hidden]`.
    case gru(hidden: Int, layers: Int)
    /// `last-time-step`: `[steps, features]` -> the last step's `[features]`.
    case lastTimeStep
    /// `gelu` (the tanh approximation's exact form as the library computes it).
    case gelu
    /// `layernorm: {eps: 1e-5}` over the last dimension.
    case layerNorm(eps: Float)
    /// `residual: [layers...]`: `x + body(x)`; see ``Residual``.
    case residual([LayerDescription])

    /// Every layer key of model files, in the order the docs list them.
    public static let kinds = ["linear", "conv2d", "maxpool2d", "avgpool2d", "flatten", "batchnorm1d", "batchnorm2d",
                               "dropout", "relu", "leaky-relu", "sigmoid", "tanh", "softplus", "elu", "softmax",
                               "log-softmax", "conv1d", "convtranspose2d", "upsample", "lstm", "gru", "last-time-step",
                               "gelu", "layernorm", "residual"]

    /// The model-file key: `conv2d`, `leaky-relu`, ...
    public var kind: String {
        switch self {
        case .linear: return "linear"
        case .conv2d: return "conv2d"
        case .maxPool2d: return "maxpool2d"
        case .avgPool2d: return "avgpool2d"
        case .flatten: return "flatten"
        case .batchNorm1d: return "batchnorm1d"
        case .batchNorm2d: return "batchnorm2d"
        case .dropout: return "dropout"
        case .relu: return "relu"
        case .leakyReLU: return "leaky-relu"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .softplus: return "softplus"
        case .elu: return "elu"
        case .softmax: return "softmax"
        case .logSoftmax: return "log-softmax"
        case .conv1d: return "conv1d"
        case .convTranspose2d: return "convtranspose2d"
        case .upsample: return "upsample"
        case .lstm: return "lstm"
        case .gru: return "gru"
        case .lastTimeStep: return "last-time-step"
        case .gelu: return "gelu"
        case .layerNorm: return "layernorm"
        case .residual: return "residual"
        }
    }

    /// The layer for a checked per-sample `input` shape (``ModelDescription/checkShapes()``
    /// ran first, so no precondition of the layer can fail).
    func makeLayer(input: [Int], body: ([LayerDescription]) -> [any Layer]) -> any Layer {
        switch self {
        case let .linear(d):
            return Linear(input[0], d.out, bias: d.bias, weightInit: d.weightInit, biasInit: d.biasInit)
        case let .conv2d(d):
            return Conv2d(input[0], d.out, kernelSize: d.kernel, stride: d.stride, padding: d.padding,
                          dilation: d.dilation, groups: d.groups, bias: d.bias, weightInit: d.weightInit, biasInit: d.biasInit)
        case let .maxPool2d(kernel, stride): return MaxPool2d(kernelSize: kernel, stride: stride)
        case let .avgPool2d(kernel, stride): return AvgPool2d(kernelSize: kernel, stride: stride)
        case .flatten: return Flatten()
        case let .batchNorm1d(eps, momentum): return BatchNorm1d(input[0], epsilon: eps, momentum: momentum)
        case let .batchNorm2d(eps, momentum): return BatchNorm2d(input[0], epsilon: eps, momentum: momentum)
        case let .dropout(p): return Dropout(p: p)
        case .relu: return ReLU()
        case let .leakyReLU(slope): return LeakyReLU(negativeSlope: slope)
        case .sigmoid: return Sigmoid()
        case .tanh: return Tanh()
        case let .softplus(threshold): return Softplus(threshold: threshold)
        case let .elu(alpha): return ELU(alpha: alpha)
        case .softmax: return Softmax()
        case .logSoftmax: return LogSoftmax()
        case let .conv1d(out, kernel, stride, padding, dilation, bias):
            return Conv1d(input[0], out, kernelSize: kernel, stride: stride, padding: padding, dilation: dilation, bias: bias)
        case let .convTranspose2d(out, kernel, stride, padding, outputPadding, bias):
            return ConvTranspose2d(input[0], out, kernelSize: kernel, stride: stride, padding: padding, outputPadding: outputPadding, bias: bias)
        case let .upsample(scale): return Upsample(scale: scale)
        case let .lstm(hidden, layers): return LSTM(input[1], hidden, layers: layers)
        case let .gru(hidden, layers): return GRU(input[1], hidden, layers: layers)
        case .lastTimeStep: return LastTimeStep()
        case .gelu: return GELU()
        case let .layerNorm(eps): return LayerNorm(input[input.count - 1], epsilon: eps)
        case let .residual(layers): return Residual(body(layers))
        }
    }
}

/// The settings of a `linear` layer (its input features come from the shape before it).
public struct LinearDescription: Hashable, Sendable {
    /// Output features.
    public var out: Int
    /// Whether it has a bias.
    public var bias = true
    /// Weight initialiser (PyTorch's default unless chosen).
    public var weightInit = InitializerKind.pytorchDefault
    /// Bias initialiser (PyTorch's default unless chosen).
    public var biasInit = InitializerKind.pytorchDefault
    /// `Linear(?, out)`.
    public init(out: Int, bias: Bool = true, weightInit: InitializerKind = .pytorchDefault,
                biasInit: InitializerKind = .pytorchDefault) {
        self.out = out
        self.bias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
    }
}

/// The settings of a `conv2d` layer (its input channels come from the shape before it).
public struct Conv2dDescription: Hashable, Sendable {
    /// Output channels.
    public var out: Int
    /// Square kernel side.
    public var kernel: Int
    /// Stride.
    public var stride = 1
    /// Zero padding on every side.
    public var padding = 0
    /// Spacing between kernel taps.
    public var dilation = 1
    /// Channel groups; must divide the input and output channels.
    public var groups = 1
    /// Whether it has a bias.
    public var bias = true
    /// Weight initialiser (PyTorch's default unless chosen).
    public var weightInit = InitializerKind.pytorchDefault
    /// Bias initialiser (PyTorch's default unless chosen).
    public var biasInit = InitializerKind.pytorchDefault
    /// `Conv2d(?, out, kernel, ...)`.
    public init(out: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1,
                bias: Bool = true, weightInit: InitializerKind = .pytorchDefault, biasInit: InitializerKind = .pytorchDefault) {
        self.out = out
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.bias = bias
        self.weightInit = weightInit
        self.biasInit = biasInit
    }
}

// MARK: - Checking shapes

/// The per-sample shapes a checked description produces, by layer path (`[3]` for the
/// fourth layer, `[4, 1]` for the second layer in the body of the residual block at 4).
public struct ModelShapePlan: Sendable {
    /// Input shape of every layer, by path.
    public var inputs: [[Int]: [Int]]
    /// The model's per-sample output shape.
    public var output: [Int]
    /// Trainable parameters.
    public var parameterCount: Int
}

extension ModelDescription {
    /// Walks the layers from ``input``, checking every setting and that each layer fits
    /// the shape it gets, with overflow-checked sizes. Throws a ``ModelFileError`` whose
    /// `layer` names the first layer that does not fit and whose problem prints the
    /// shape at that layer; `file` and `lines` (by layer path, from a model file) go into it.
    @discardableResult
    public func checkShapes(file: String? = nil, lines: ModelFileLines = ModelFileLines()) throws -> ModelShapePlan {
        func fail(_ problem: ModelFileError.Problem, line: Int? = nil) -> ModelFileError {
            ModelFileError(file: file, line: line, layer: nil, problem: problem)
        }
        guard !input.isEmpty, input.count <= 3 else {
            throw fail(.outOfRange(key: "input", value: "\(input)", expected: "a list of 1 to 3 sizes: [features] or [channels, height, width]"), line: lines.input)
        }
        var elements = 1
        for size in input {
            guard size >= 1, size <= Self.maxSize else {
                throw fail(.outOfRange(key: "input", value: "\(input)", expected: "sizes from 1 to \(Self.maxSize)"), line: lines.input)
            }
            elements = try checkedProduct(elements, size, what: "the input \(input)", limit: Self.maxActivation, file: file, line: lines.input)
        }
        if let loss, !Self.knownLosses.contains(loss) {
            throw fail(.outOfRange(key: "loss", value: loss, expected: "one of \(Self.knownLosses.joined(separator: ", "))"), line: lines.loss)
        }
        guard !layers.isEmpty else { throw fail(.emptyLayers(key: "layers"), line: lines.layers) }
        var plan = ModelShapePlan(inputs: [:], output: input, parameterCount: 0)
        plan.output = try walk(layers, from: input, path: [], plan: &plan, file: file, lines: lines)
        return plan
    }

    private func walk(_ layers: [LayerDescription], from start: [Int], path: [Int], plan: inout ModelShapePlan,
                      file: String?, lines: ModelFileLines) throws -> [Int] {
        var shape = start
        for (i, layer) in layers.enumerated() {
            let here = path + [i]
            let context = LayerContext(path: here, kind: layer.kind, file: file, line: lines.layers(here), shape: shape)
            plan.inputs[here] = shape
            let (out, parameters) = try layer.check(input: shape, context: context) { body in
                guard here.count <= Self.maxResidualDepth else {
                    throw context.error(.outOfRange(key: "residual", value: "nested \(here.count) deep", expected: "at most \(Self.maxResidualDepth) levels of residual blocks"))
                }
                guard !body.isEmpty else { throw context.error(.emptyLayers(key: "residual")) }
                let end = try walk(body, from: shape, path: here, plan: &plan, file: file, lines: lines)
                guard end == shape else {
                    throw context.error(.shapeMismatch(shape: shape, reason: "its body turns the input \(shape) into \(end), and a residual block adds its input to its output, so they must be the same shape"))
                }
                return 0
            }
            let (total, overflow) = plan.parameterCount.addingReportingOverflow(parameters)
            guard !overflow, total <= Self.maxParameters else {
                throw context.error(.tooLarge(what: "the model's parameter count", limit: "\(Self.maxParameters) (4 GiB of floats)"))
            }
            plan.parameterCount = total
            var elements = 1
            for size in out {
                elements = try checkedProduct(elements, size, what: "the output \(out)", limit: Self.maxActivation, file: file, line: context.line, layer: context.name)
            }
            shape = out
        }
        return shape
    }
}

/// Where in a description a layer sits, for error messages.
struct LayerContext {
    let path: [Int]
    let kind: String
    let file: String?
    let line: Int?
    let shape: [Int]
    /// `layer 3 (conv2d)`, or `layer 4.1 (linear)` inside the residual block at 4.
    var name: String { "layer \(path.map(String.init).joined(separator: ".")) (\(kind))" }
    func error(_ problem: ModelFileError.Problem) -> ModelFileError {
        ModelFileError(file: file, line: line, layer: name, problem: problem)
    }
}

/// `a · b`, refused when it overflows or passes `limit`; `what` names the product
/// (`the output [16, 28, 28]`) and `unit` what it counts (`values per sample`).
func checkedProduct(_ a: Int, _ b: Int, what: String, unit: String = "values per sample", limit: Int,
                    file: String?, line: Int?, layer: String? = nil) throws -> Int {
    let (p, overflow) = a.multipliedReportingOverflow(by: b)
    guard !overflow, p <= limit else {
        throw ModelFileError(file: file, line: line, layer: layer, problem: .tooLarge(what: "\(what), \(overflow ? "more than \(Int.max)" : "\(p)") \(unit),", limit: "\(limit)"))
    }
    return p
}

extension LayerDescription {
    /// The per-sample output shape and parameter count for `input`, or the error naming
    /// what does not fit. `body` checks a residual block's layers.
    func check(input s: [Int], context c: LayerContext, body: ([LayerDescription]) throws -> Int) throws -> ([Int], Int) {
        func size(_ key: String, _ v: Int, min: Int = 1) throws {
            guard v >= min, v <= ModelDescription.maxSize else {
                throw c.error(.outOfRange(key: key, value: "\(v)", expected: min == 0 ? "from 0 to \(ModelDescription.maxSize)" : "from \(min) to \(ModelDescription.maxSize)"))
            }
        }
        func finite(_ key: String, _ v: Float, _ range: ClosedRange<Float>? = nil, open: Bool = false, expected: String) throws {
            guard v.isFinite, range.map({ $0.contains(v) && !(open && v == $0.upperBound) }) ?? true else {
                throw c.error(.outOfRange(key: key, value: "\(v)", expected: expected))
            }
        }
        func initializers(_ weight: InitializerKind, _ bias: InitializerKind) throws {
            for (key, i) in [("init", weight), ("bias-init", bias)] {
                switch i {
                case let .uniform(low, high):
                    guard low.isFinite, high.isFinite, low < high else { throw c.error(.outOfRange(key: key, value: "uniform low \(low), high \(high)", expected: "finite bounds with low < high")) }
                case let .normal(mean, std):
                    guard mean.isFinite, std.isFinite, std >= 0 else { throw c.error(.outOfRange(key: key, value: "normal mean \(mean), std \(std)", expected: "a finite mean and std >= 0")) }
                default: break
                }
            }
        }
        func needs(_ rank: Int, _ what: String, _ hint: String) throws {
            guard s.count == rank else { throw c.error(.shapeMismatch(shape: s, reason: "\(c.kind) needs \(what), \(hint)")) }
        }
        func product(_ values: [Int]) throws -> Int {
            try values.reduce(1) {
                try checkedProduct($0, $1, what: "the \(c.kind) weight \(values)", unit: "parameters", limit: ModelDescription.maxParameters,
                                   file: c.file, line: c.line, layer: c.name)
            }
        }
        switch self {
        case let .linear(d):
            try size("out", d.out)
            try initializers(d.weightInit, d.biasInit)
            try needs(1, "a flat input [features]", "so put a flatten before it")
            return ([d.out], try product([d.out, s[0]]) + (d.bias ? d.out : 0))
        case let .conv2d(d):
            try size("out", d.out); try size("kernel", d.kernel); try size("stride", d.stride)
            try size("padding", d.padding, min: 0); try size("dilation", d.dilation); try size("groups", d.groups)
            try initializers(d.weightInit, d.biasInit)
            try needs(3, "an input [channels, height, width]", "so it cannot follow a flatten or a linear layer")
            guard s[0] % d.groups == 0, d.out % d.groups == 0 else {
                throw c.error(.groupsDoNotDivide(groups: d.groups, inChannels: s[0], outChannels: d.out))
            }
            let reach = d.dilation * (d.kernel - 1) + 1   // at most 2^48: no overflow
            let (h, w) = (s[1] + 2 * d.padding, s[2] + 2 * d.padding)
            guard h >= reach, w >= reach else {
                throw c.error(.shapeMismatch(shape: s, reason: "a kernel of \(d.kernel) with dilation \(d.dilation) spans \(reach) pixels, more than the padded input's \(h)x\(w); lower kernel or dilation, add padding, or remove a pooling layer before it"))
            }
            let out = [d.out, (h - reach) / d.stride + 1, (w - reach) / d.stride + 1]
            return (out, try product([d.out, s[0] / d.groups, d.kernel, d.kernel]) + (d.bias ? d.out : 0))
        case let .maxPool2d(kernel, stride), let .avgPool2d(kernel, stride):
            try size("kernel", kernel); try size("stride", stride)
            try needs(3, "an input [channels, height, width]", "so it cannot follow a flatten or a linear layer")
            guard s[1] >= kernel, s[2] >= kernel else {
                throw c.error(.shapeMismatch(shape: s, reason: "a window of \(kernel) does not fit in \(s[1])x\(s[2]); use a smaller kernel or fewer pooling layers"))
            }
            return ([s[0], (s[1] - kernel) / stride + 1, (s[2] - kernel) / stride + 1], 0)
        case .flatten:
            return ([s.reduce(1, *)], 0)   // the element count was checked against maxActivation
        case let .batchNorm1d(eps, momentum), let .batchNorm2d(eps, momentum):
            try finite("eps", eps, 0...Float.greatestFiniteMagnitude, expected: "a positive number")
            guard eps > 0 else { throw c.error(.outOfRange(key: "eps", value: "\(eps)", expected: "a positive number")) }
            try finite("momentum", momentum, 0...1, expected: "in [0, 1]")
            if case .batchNorm1d = self {
                try needs(1, "an input [features]", "so put it after a linear layer or a flatten (batchnorm2d normalises [channels, height, width])")
            } else {
                try needs(3, "an input [channels, height, width]", "(batchnorm1d normalises [features])")
            }
            return (s, 2 * s[0])
        case let .dropout(p):
            try finite("p", p, 0...1, open: true, expected: "in [0, 1)")
            return (s, 0)
        case let .leakyReLU(slope):
            try finite("negative-slope", slope, expected: "a finite number")
            return (s, 0)
        case let .softplus(threshold):
            try finite("threshold", threshold, expected: "a finite number")
            return (s, 0)
        case let .elu(alpha):
            try finite("alpha", alpha, expected: "a finite number")
            return (s, 0)
        case .relu, .sigmoid, .tanh:
            return (s, 0)
        case .softmax, .logSoftmax:
            try needs(1, "an input [classes]", "so put it after a linear layer or a flatten")
            return (s, 0)
        case let .conv1d(out, kernel, stride, padding, dilation, bias):
            try size("out", out); try size("kernel", kernel); try size("stride", stride)
            try size("padding", padding, min: 0); try size("dilation", dilation)
            try needs(2, "an input [channels, length]", "so it cannot follow a flatten or a linear layer")
            let reach = dilation * (kernel - 1) + 1, length = s[1] + 2 * padding
            guard length >= reach else {
                throw c.error(.shapeMismatch(shape: s, reason: "a kernel of \(kernel) with dilation \(dilation) spans \(reach) steps, more than the padded input's \(length); lower kernel or dilation, or add padding"))
            }
            return ([out, (length - reach) / stride + 1], try product([out, s[0], kernel]) + (bias ? out : 0))
        case let .convTranspose2d(out, kernel, stride, padding, outputPadding, bias):
            try size("out", out); try size("kernel", kernel); try size("stride", stride)
            try size("padding", padding, min: 0); try size("output-padding", outputPadding, min: 0)
            guard outputPadding < stride else {
                throw c.error(.outOfRange(key: "output-padding", value: "\(outputPadding)", expected: "smaller than stride \(stride)"))
            }
            try needs(3, "an input [channels, height, width]", "so it cannot follow a flatten or a linear layer")
            let sides = try [s[1], s[2]].map { side in
                try checkedProduct(side - 1, stride, what: "the output side", limit: ModelDescription.maxActivation,
                                   file: c.file, line: c.line, layer: c.name) - 2 * padding + kernel + outputPadding
            }
            guard sides.allSatisfy({ $0 >= 1 }) else {
                throw c.error(.shapeMismatch(shape: s, reason: "padding \(padding) leaves an output of \(sides[0])x\(sides[1]); lower the padding"))
            }
            return ([out, sides[0], sides[1]], try product([s[0], out, kernel, kernel]) + (bias ? out : 0))
        case let .upsample(scale):
            try size("scale", scale)
            try needs(3, "an input [channels, height, width]", "so it cannot follow a flatten or a linear layer")
            return ([s[0], try checkedProduct(s[1], scale, what: "the upsampled height", limit: ModelDescription.maxActivation, file: c.file, line: c.line, layer: c.name),
                     try checkedProduct(s[2], scale, what: "the upsampled width", limit: ModelDescription.maxActivation, file: c.file, line: c.line, layer: c.name)], 0)
        case let .lstm(hidden, layers), let .gru(hidden, layers):
            try size("hidden", hidden); try size("layers", layers)
            guard layers <= 64 else { throw c.error(.outOfRange(key: "layers", value: "\(layers)", expected: "from 1 to 64")) }
            try needs(2, "an input [steps, features]", "(sequences, batch first)")
            let gates = self.kind == "lstm" ? 4 : 3
            var parameters = 0
            for l in 0..<layers {
                let inputs = l == 0 ? s[1] : hidden
                parameters += try product([gates * hidden, inputs]) + product([gates * hidden, hidden]) + 2 * gates * hidden
            }
            return ([s[0], hidden], parameters)
        case .lastTimeStep:
            try needs(2, "an input [steps, features]", "such as an lstm's or gru's output")
            return ([s[1]], 0)
        case .gelu:
            return (s, 0)
        case let .layerNorm(eps):
            try finite("eps", eps, 0...Float.greatestFiniteMagnitude, expected: "a positive number")
            guard eps > 0 else { throw c.error(.outOfRange(key: "eps", value: "\(eps)", expected: "a positive number")) }
            return (s, 2 * s[s.count - 1])
        case let .residual(layers):
            return (s, try body(layers))
        }
    }
}
