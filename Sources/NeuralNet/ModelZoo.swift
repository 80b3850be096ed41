/// Models by name or spec, laid out like the equivalent PyTorch `nn.Sequential` (index =
/// position, so parameter names match its state_dict).
///
/// Presets:
/// - `seed-mlp`: 784-512-256-256-128-10 with ReLU between (input `[784]`);
/// - `seed-cnn`: Conv2d(1,16,3,s2), ReLU, Conv2d(16,32,3), ReLU, Flatten, Linear(3872,128),
///   ReLU, Linear(128,10) (input `[1, 28, 28]`);
/// - `sigmoid-net`: 784-128-10 with Sigmoid after each Linear, trained with MSE on one-hot
///   targets (its outputs are probabilities, not logits); `sigmoid-net:2,4,1` picks sizes;
/// - `bn-cnn`: [Conv2d(k3,p1), BatchNorm2d, ReLU, MaxPool2d(2)] with 32 then 64 channels,
///   Flatten, Linear(3136,128), ReLU, Linear(128,10).
///
/// Specs: `mlp:784,256,128,10` (Linear + ReLU between, nothing after the last), with an
/// optional activation in place of ReLU: `mlp:784,128,10:tanh`.
///
/// Model files: a path ending in `.yaml`, `.yml` or `.json` (see ``ModelDescription``).
///
/// Every preset is a ``ModelDescription`` written as model-file text (``presetText``), and
/// every model is built by ``ModelDescription/makeModel(seed:)``.
///
/// ```swift
/// let model = try ModelZoo.make("mlp:784,256,10", seed: 42)
/// model.inputShape      // [784]
/// ```
public enum ModelZoo {
    /// The preset names `make` accepts.
    public static let presetNames: [String] = ["seed-mlp", "seed-cnn", "sigmoid-net", "bn-cnn"]

    /// Activations an `mlp:` spec may name after its sizes.
    public static let specActivations: [String: LayerDescription] = [
        "relu": .relu, "tanh": .tanh, "sigmoid": .sigmoid, "leaky-relu": .leakyReLU(negativeSlope: 0.01),
        "elu": .elu(alpha: 1), "softplus": .softplus(threshold: 20),
    ]

    /// The presets as model files.
    public static let presetText: [String: String] = [
        "seed-mlp": """
            input: [784]
            layers:
              - linear: {out: 512}
              - relu
              - linear: {out: 256}
              - relu
              - linear: {out: 256}
              - relu
              - linear: {out: 128}
              - relu
              - linear: {out: 10}
            """,
        "seed-cnn": """
            input: [1, 28, 28]
            layers:
              - conv2d: {out: 16, kernel: 3, stride: 2}
              - relu
              - conv2d: {out: 32, kernel: 3}
              - relu
              - flatten
              - linear: {out: 128}
              - relu
              - linear: {out: 10}
            """,
        "bn-cnn": """
            input: [1, 28, 28]
            layers:
              - conv2d: {out: 32, kernel: 3, padding: 1}
              - batchnorm2d
              - relu
              - maxpool2d: {kernel: 2}
              - conv2d: {out: 64, kernel: 3, padding: 1}
              - batchnorm2d
              - relu
              - maxpool2d: {kernel: 2}
              - flatten
              - linear: {out: 128}
              - relu
              - linear: {out: 10}
            """,
        "sigmoid-net": """
            input: [784]
            loss: mse
            layers:
              - linear: {out: 128}
              - sigmoid
              - linear: {out: 10}
              - sigmoid
            """,
    ]

    /// Whether `text` names a model file rather than a preset or spec.
    public static func isModelFile(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") || lower.hasSuffix(".json")
    }

    /// The named preset or parsed spec, initialised from `seed` (PyTorch default init).
    /// Throws ``NeuralNetError`` naming a bad name or spec, or ``ModelFileError`` for a
    /// model file that cannot be used.
    public static func make(_ nameOrSpec: String, seed: UInt64) throws -> Sequential {
        try description(nameOrSpec).makeModel(seed: seed)
    }

    /// The description of a preset, a spec (`mlp:784,128,10:tanh`, `sigmoid-net:2,4,1`) or
    /// a model file (a path ending in `.yaml`, `.yml` or `.json`).
    public static func description(_ nameOrSpec: String) throws -> ModelDescription {
        let text = nameOrSpec.trimmingCharacters(in: .whitespaces)
        if let preset = presetText[text] { return try ModelDescription(yaml: preset, file: "preset \(text)") }
        if isModelFile(text) { return try ModelDescription.load(file: text) }
        if let colon = text.firstIndex(of: ":") {
            let kind = String(text[..<colon])
            var rest = String(text[text.index(after: colon)...])
            var activation = LayerDescription.relu
            if kind == "mlp", let second = rest.firstIndex(of: ":") {
                let name = String(rest[rest.index(after: second)...]).trimmingCharacters(in: .whitespaces)
                guard let chosen = specActivations[name] else {
                    throw NeuralNetError.malformedSpec(text, reason: "unknown activation \"\(name)\" (known: \(specActivations.keys.sorted().joined(separator: ", ")))")
                }
                activation = chosen
                rest = String(rest[..<second])
            }
            let sizes = try parseSizes(rest, spec: text)
            switch kind {
            case "mlp":
                guard sizes.count >= 2 else { throw NeuralNetError.malformedSpec(text, reason: "an MLP needs at least two sizes") }
                try checkFits(sizes, spec: text)
                return mlp(sizes, activation: activation)
            case "sigmoid-net":
                guard sizes.count == 3 else {
                    throw NeuralNetError.malformedSpec(text, reason: "sigmoid-net takes exactly D_in,H,D_out")
                }
                try checkFits(sizes, spec: text)
                return ModelDescription(input: [sizes[0]], loss: LossKind.mse.rawValue, layers: [
                    .linear(LinearDescription(out: sizes[1])), .sigmoid, .linear(LinearDescription(out: sizes[2])), .sigmoid,
                ])
            default:
                throw NeuralNetError.malformedSpec(text, reason: "unknown kind \"\(kind)\" (known: mlp, sigmoid-net)")
            }
        }
        throw NeuralNetError.unknownModel(text, known: presetNames)
    }

    /// Bytes a training replica holds per parameter: the parameter, its gradient and up to
    /// two optimizer state values (AdamW), all Float.
    static let bytesPerTrainedParameter = 4 * MemoryLayout<Float>.stride

    /// Refuses a spec of fully connected layers that no machine could train: a size BLAS
    /// cannot take (it counts in 32 bits), or parameters (overflow-checked) whose training
    /// state exceeds this machine's memory.
    private static func checkFits(_ sizes: [Int], spec: String) throws {
        if let big = sizes.first(where: { $0 > Int(Int32.max) }) {
            throw NeuralNetError.malformedSpec(spec, reason: "layer size \(big) exceeds \(Int32.max), the largest size BLAS takes")
        }
        var parameters = 0
        for i in 0..<(sizes.count - 1) {
            // Linear(in, out): in * out weights + out biases. Every size is below 2^31, so one
            // product fits an Int; the sum is checked.
            let (sum, overflow) = parameters.addingReportingOverflow(sizes[i] * sizes[i + 1] + sizes[i + 1])
            guard !overflow else { throw NeuralNetError.tooLarge(what: "model \(spec)", bytes: nil, available: MemoryBudget.physicalBytes) }
            parameters = sum
        }
        let what = "model \(spec) has \(parameters) parameters; with gradients and optimizer state it"
        try MemoryBudget.require(MemoryBudget.bytes(count: parameters, of: bytesPerTrainedParameter, for: what), for: what)
    }

    private static func parseSizes(_ list: String, spec: String) throws -> [Int] {
        try list.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let s = part.trimmingCharacters(in: .whitespaces)
            guard !s.isEmpty else { throw NeuralNetError.malformedSpec(spec, reason: "empty layer size") }
            guard let v = Int(s) else { throw NeuralNetError.malformedSpec(spec, reason: "layer size \"\(s)\" is not an integer") }
            guard v > 0 else { throw NeuralNetError.malformedSpec(spec, reason: "layer size \(v) must be positive") }
            guard v <= ModelDescription.maxSize else {
                throw NeuralNetError.malformedSpec(spec, reason: "layer size \(v) is larger than \(ModelDescription.maxSize)")
            }
            return v
        }
    }

    /// Linear layers with `activation` between them, nothing after the last.
    private static func mlp(_ sizes: [Int], activation: LayerDescription) -> ModelDescription {
        var layers: [LayerDescription] = []
        for i in 1..<sizes.count {
            layers.append(.linear(LinearDescription(out: sizes[i])))
            if i < sizes.count - 1 { layers.append(activation) }
        }
        return ModelDescription(input: [sizes[0]], layers: layers)
    }
}
