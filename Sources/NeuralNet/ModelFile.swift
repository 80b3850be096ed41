import Foundation
import Yams

// Model files: YAML or JSON text -> a tree of values with their lines -> ModelDescription,
// and back (the JSON a checkpoint's state.json stores, the YAML `lockstep inspect` prints).

/// A model file or description that cannot be used: where (file, line, layer) and what.
///
/// ```
/// bad.yaml:7: layer 3 (conv2d): groups 3 do not divide the 16 input channels ...
/// ```
public struct ModelFileError: Error, LocalizedError, Equatable, Sendable {
    /// What is wrong.
    public enum Problem: Equatable, Sendable {
        /// The file cannot be read (missing, not UTF-8, too large).
        case unreadable(reason: String)
        /// The text is not YAML or JSON, or nests too deeply.
        case syntax(String)
        /// A value of the wrong kind: `expected` describes what fits, `found` what is there.
        case wrongType(key: String, expected: String, found: String)
        /// A required key is absent.
        case missingKey(String, context: String)
        /// A key that is not known here.
        case unknownKey(String, known: [String])
        /// A layer kind that does not exist.
        case unknownLayer(String, known: [String])
        /// A value outside its range.
        case outOfRange(key: String, value: String, expected: String)
        /// A list of layers that is empty.
        case emptyLayers(key: String)
        /// A layer that does not fit the per-sample shape it gets.
        case shapeMismatch(shape: [Int], reason: String)
        /// Convolution groups that do not divide the channels.
        case groupsDoNotDivide(groups: Int, inChannels: Int, outChannels: Int)
        /// A size whose product overflows or passes a limit.
        case tooLarge(what: String, limit: String)
    }

    /// The model file, if the description came from one.
    public var file: String?
    /// The 1-based line in `file`, where known.
    public var line: Int?
    /// `layer 3 (conv2d)`, or `layer 4.1 (linear)` inside the residual block at 4; nil for
    /// the top-level keys.
    public var layer: String?
    /// What is wrong.
    public var problem: Problem

    /// An error at `file:line`, in `layer`.
    public init(file: String?, line: Int?, layer: String?, problem: Problem) {
        self.file = file
        self.line = line
        self.layer = layer
        self.problem = problem
    }

    /// `FILE:LINE: LAYER: what is wrong; what to do`.
    public var errorDescription: String? {
        var place = file ?? "model description"
        if let line { place += ":\(line)" }
        return place + ": " + (layer.map { "\($0): " } ?? "") + problemText
    }

    private var problemText: String {
        switch problem {
        case let .unreadable(reason): return "cannot read the model file: \(reason)"
        case let .syntax(text): return "not valid YAML or JSON: \(text)"
        case let .wrongType(key, expected, found): return "'\(key)' must be \(expected), not \(found)"
        case let .missingKey(key, context): return "missing '\(key)' \(context)"
        case let .unknownKey(key, known):
            return "unknown key '\(key)'; " + (known.isEmpty ? "this layer takes no settings" : "use \(known.joined(separator: ", "))")
        case let .unknownLayer(kind, known): return "unknown layer '\(kind)'; the layers are \(known.joined(separator: ", "))"
        case let .outOfRange(key, value, expected): return "\(key) \(value) is out of range: it must be \(expected)"
        case let .emptyLayers(key): return "'\(key)' holds no layers; list at least one"
        case let .shapeMismatch(shape, reason): return "does not fit the shape \(shape) at this layer: \(reason)"
        case let .groupsDoNotDivide(groups, inChannels, outChannels):
            return "groups \(groups) must divide both the \(inChannels) input channels and the \(outChannels) output channels; pick groups that divide both (1 for a dense convolution, the channel count for a depthwise one)"
        case let .tooLarge(what, limit): return "\(what) is too large (the limit is \(limit)); use smaller sizes"
        }
    }
}

/// The lines of a model file's top-level keys and of each layer (by path: `[3]`, `[4, 1]`).
public struct ModelFileLines: Sendable {
    /// Line of `input`.
    public var input: Int?
    /// Line of `loss`.
    public var loss: Int?
    /// Line of `layers`.
    public var layers: Int?
    /// Line of each layer entry.
    public var layerLines: [[Int]: Int] = [:]
    /// No lines (a description that did not come from a file).
    public init() {}
    /// The line of the layer at `path`, or of `layers` when unknown.
    func layers(_ path: [Int]) -> Int? { layerLines[path] ?? layers }
}

/// A parsed value with the line it starts on. Scalars keep their text; numbers and booleans
/// are read where a key expects them.
indirect enum ModelNode {
    case scalar(String, line: Int?)
    case null(line: Int?)
    case sequence([ModelNode], line: Int?)
    case mapping([(key: String, keyLine: Int?, value: ModelNode)], line: Int?)

    var line: Int? {
        switch self {
        case let .scalar(_, line), let .null(line), let .sequence(_, line), let .mapping(_, line): return line
        }
    }

    /// What the value is, for messages: `a list`, `a mapping`, `"abc"`, `nothing`.
    var summary: String {
        switch self {
        case let .scalar(text, _): return "\"\(text.count > 40 ? String(text.prefix(40)) + "..." : text)\""
        case .null: return "nothing"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}

// MARK: - Reading text

extension ModelDescription {
    /// Largest model file read, in bytes.
    public static let maxFileBytes = 1 << 20
    /// Deepest bracket nesting read (flow lists and mappings).
    static let maxFlowDepth = 64
    /// Longest run of indentation and `- ` in front of a line's content.
    static let maxIndent = 256
    /// Most values a file may hold (aliases that expand included).
    static let maxNodes = 100_000

    /// Reads a model file (`.yaml`, `.yml` or `.json`) and checks it. Throws a
    /// ``ModelFileError`` naming the file, the line and the layer of the first problem.
    ///
    /// ```swift
    /// let d = try ModelDescription.load(file: "examples/models/small-cnn.yaml")
    /// ```
    public static func load(file: String) throws -> ModelDescription {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "no such file"))
        }
        guard !isDirectory.boolValue else {
            throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "it is a directory"))
        }
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "permission denied or not a regular file"))
        }
        defer { try? handle.close() }
        let bytes = (try? handle.read(upToCount: maxFileBytes + 1)) ?? nil
        guard let bytes else { throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "reading failed")) }
        guard bytes.count <= maxFileBytes else {
            throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "it is larger than \(maxFileBytes) bytes"))
        }
        guard let text = String(data: bytes, encoding: .utf8) else {
            throw ModelFileError(file: file, line: nil, layer: nil, problem: .unreadable(reason: "it is not UTF-8 text"))
        }
        // Tabs may separate JSON tokens but not indent YAML; JSON strings hold none raw.
        let json = file.lowercased().hasSuffix(".json")
        return try ModelDescription(yaml: json ? text.replacingOccurrences(of: "\t", with: " ") : text, file: file)
    }

    /// Parses and checks a description written as YAML (or JSON); `file` names it in errors.
    public init(yaml text: String, file: String? = nil) throws {
        let root = try Self.compose(text, file: file)
        var lines = ModelFileLines()
        self = try ModelDescriptionParser(file: file).description(root, lines: &lines)
        try checkShapes(file: file, lines: lines)
    }

    /// The text as a tree of ``ModelNode``, after guarding against input that would make
    /// the YAML library recurse too deep or expand without bound.
    static func compose(_ text: String, file: String?) throws -> ModelNode {
        func fail(_ problem: ModelFileError.Problem, line: Int? = nil) -> ModelFileError {
            ModelFileError(file: file, line: line, layer: nil, problem: problem)
        }
        guard text.utf8.count <= maxFileBytes else { throw fail(.unreadable(reason: "it is larger than \(maxFileBytes) bytes")) }
        var lineNumber = 0
        var depth = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let lead = line.utf8.prefix { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "\t") }.count
            if lead > maxIndent { throw fail(.syntax("nested deeper than \(maxIndent) columns of indentation"), line: lineNumber) }
            var quote: UInt8? = nil
            var previous = UInt8(ascii: " ")
            for c in line.utf8 {
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                    quote = c
                } else if c == UInt8(ascii: "#") && (previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t")) {
                    break
                } else if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") {
                    depth += 1
                    if depth > maxFlowDepth { throw fail(.syntax("brackets nested deeper than \(maxFlowDepth) levels"), line: lineNumber) }
                } else if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                    depth = max(0, depth - 1)
                }
                previous = c
            }
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw fail(.syntax(Self.describe(error)), line: Self.line(of: error))
        } catch {
            throw fail(.syntax("\(error)"))
        }
        guard let node else { throw fail(.syntax("the file is empty; it needs 'input' and 'layers'")) }
        var budget = maxNodes
        return try convert(node, budget: &budget, file: file)
    }

    private static func convert(_ node: Node, budget: inout Int, file: String?) throws -> ModelNode {
        budget -= 1
        let line = node.mark?.line
        guard budget >= 0 else {
            throw ModelFileError(file: file, line: line, layer: nil, problem: .syntax("more than \(maxNodes) values (aliases included); a model file is far smaller"))
        }
        switch node {
        case let .scalar(scalar):
            if scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string) { return .null(line: line) }
            return .scalar(scalar.string, line: line)
        case let .sequence(sequence):
            return .sequence(try sequence.map { try convert($0, budget: &budget, file: file) }, line: line)
        case let .mapping(mapping):
            var pairs: [(key: String, keyLine: Int?, value: ModelNode)] = []
            for (key, value) in mapping {
                guard case let .scalar(k) = key else {
                    throw ModelFileError(file: file, line: key.mark?.line ?? line, layer: nil, problem: .syntax("a key must be a plain name, not a list or mapping"))
                }
                pairs.append((k.string, key.mark?.line, try convert(value, budget: &budget, file: file)))
            }
            return .mapping(pairs, line: line)
        case .alias:
            throw ModelFileError(file: file, line: line, layer: nil, problem: .syntax("aliases are not supported in model files"))
        }
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return nil
        }
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(context, problem, _, _), let .parser(context, problem, _, _), let .composer(context, problem, _, _):
            return (context.map { "\($0.text) that starts on line \($0.mark.line): " } ?? "") + problem
        case let .duplicatedKeysInMapping(duplicates, _):
            return "a key appears twice in one mapping: \(duplicates.joined(separator: ", "))"
        case let .reader(problem, _, _, _): return problem
        default: return "\(error)"
        }
    }
}

// MARK: - Tree -> description

/// Reads a ``ModelNode`` tree into a ``ModelDescription``, with every error naming where.
struct ModelDescriptionParser {
    let file: String?

    func fail(_ problem: ModelFileError.Problem, _ line: Int?, _ layer: String? = nil) -> ModelFileError {
        ModelFileError(file: file, line: line, layer: layer, problem: problem)
    }

    func description(_ root: ModelNode, lines: inout ModelFileLines) throws -> ModelDescription {
        guard case let .mapping(pairs, rootLine) = root else {
            throw fail(.wrongType(key: "the model file", expected: "a mapping with 'input' and 'layers'", found: root.summary), root.line)
        }
        var input: [Int]?, loss: String?, layers: [LayerDescription]?
        for (key, keyLine, value) in pairs {
            switch key {
            case "input":
                lines.input = keyLine
                guard case let .sequence(items, _) = value else {
                    throw fail(.wrongType(key: "input", expected: "a list of sizes like [1, 28, 28] or [784]", found: value.summary), keyLine)
                }
                input = try items.map { try integer($0, key: "input", line: keyLine, layer: nil) }
            case "loss":
                lines.loss = keyLine
                guard case let .scalar(text, _) = value else {
                    throw fail(.wrongType(key: "loss", expected: "a name (\(ModelDescription.knownLosses.joined(separator: ", ")))", found: value.summary), keyLine)
                }
                loss = text
            case "layers":
                lines.layers = keyLine
                layers = try layerList(value, key: "layers", line: keyLine, path: [], lines: &lines)
            default:
                throw fail(.unknownKey(key, known: ["input", "loss", "layers"]), keyLine)
            }
        }
        guard let input else { throw fail(.missingKey("input", context: "(the per-sample input shape, e.g. input: [1, 28, 28])"), rootLine) }
        guard let layers else { throw fail(.missingKey("layers", context: "(the list of layers)"), rootLine) }
        return ModelDescription(input: input, loss: loss, layers: layers)
    }

    func layerList(_ node: ModelNode, key: String, line: Int?, path: [Int], lines: inout ModelFileLines) throws -> [LayerDescription] {
        if case .null = node { throw fail(.emptyLayers(key: key), line) }
        guard case let .sequence(items, _) = node else {
            throw fail(.wrongType(key: key, expected: "a list of layers (lines starting with '- ')", found: node.summary), line)
        }
        guard !items.isEmpty else { throw fail(.emptyLayers(key: key), line) }
        guard path.count <= ModelDescription.maxResidualDepth else {
            throw fail(.outOfRange(key: "residual", value: "nested \(path.count) deep", expected: "at most \(ModelDescription.maxResidualDepth) levels of residual blocks"), line)
        }
        var result: [LayerDescription] = []
        for (i, item) in items.enumerated() {
            let here = path + [i]
            lines.layerLines[here] = item.line ?? line
            result.append(try layer(item, path: here, lines: &lines))
        }
        return result
    }

    /// One entry: `relu`, `relu: {}`, `conv2d: {out: 16, kernel: 3}`, `residual: [...]`.
    func layer(_ item: ModelNode, path: [Int], lines: inout ModelFileLines) throws -> LayerDescription {
        let index = path.map(String.init).joined(separator: ".")
        let kind: String, settings: ModelNode, line: Int?
        switch item {
        case let .scalar(text, l):
            kind = text; settings = .null(line: l); line = l
        case let .mapping(pairs, l):
            guard pairs.count == 1 else {
                throw fail(.wrongType(key: "layer \(index)", expected: "one layer kind with its settings, like '- conv2d: {out: 16, kernel: 3}'",
                                      found: "a mapping with \(pairs.count) keys (\(pairs.map(\.key).joined(separator: ", ")))"), l)
            }
            kind = pairs[0].key; settings = pairs[0].value; line = pairs[0].keyLine ?? l
        default:
            throw fail(.wrongType(key: "layer \(index)", expected: "a layer like '- relu' or '- linear: {out: 10}'", found: item.summary), item.line)
        }
        let name = "layer \(index) (\(kind))"
        guard LayerDescription.kinds.contains(kind) else { throw fail(.unknownLayer(kind, known: LayerDescription.kinds), line, "layer \(index)") }
        if kind == "residual" {
            return .residual(try layerList(settings, key: "residual", line: line, path: path, lines: &lines))
        }
        let s = try Settings(settings, parser: self, line: line, layer: name)
        try s.refuseUnknown(Self.settingKeys[kind] ?? [])
        let layer: LayerDescription
        switch kind {
        case "linear":
            layer = .linear(LinearDescription(
                out: try s.int("out", required: true)!, bias: try s.bool("bias") ?? true,
                weightInit: try s.initializer("init") ?? .pytorchDefault, biasInit: try s.initializer("bias-init") ?? .pytorchDefault))
        case "conv2d":
            layer = .conv2d(Conv2dDescription(
                out: try s.int("out", required: true)!, kernel: try s.int("kernel", required: true)!,
                stride: try s.int("stride") ?? 1, padding: try s.int("padding") ?? 0, dilation: try s.int("dilation") ?? 1,
                groups: try s.int("groups") ?? 1, bias: try s.bool("bias") ?? true,
                weightInit: try s.initializer("init") ?? .pytorchDefault, biasInit: try s.initializer("bias-init") ?? .pytorchDefault))
        case "maxpool2d", "avgpool2d":
            let kernel = try s.int("kernel", required: true)!
            let stride = try s.int("stride") ?? kernel
            layer = kind == "maxpool2d" ? .maxPool2d(kernel: kernel, stride: stride) : .avgPool2d(kernel: kernel, stride: stride)
        case "batchnorm1d", "batchnorm2d":
            let eps = try s.float("eps") ?? 1e-5, momentum = try s.float("momentum") ?? 0.1
            layer = kind == "batchnorm1d" ? .batchNorm1d(eps: eps, momentum: momentum) : .batchNorm2d(eps: eps, momentum: momentum)
        case "dropout": layer = .dropout(p: try s.float("p") ?? 0.5)
        case "leaky-relu": layer = .leakyReLU(negativeSlope: try s.float("negative-slope") ?? 0.01)
        case "softplus": layer = .softplus(threshold: try s.float("threshold") ?? 20)
        case "elu": layer = .elu(alpha: try s.float("alpha") ?? 1)
        case "conv1d":
            layer = .conv1d(out: try s.int("out", required: true)!, kernel: try s.int("kernel", required: true)!,
                            stride: try s.int("stride") ?? 1, padding: try s.int("padding") ?? 0,
                            dilation: try s.int("dilation") ?? 1, bias: try s.bool("bias") ?? true)
        case "convtranspose2d":
            layer = .convTranspose2d(out: try s.int("out", required: true)!, kernel: try s.int("kernel", required: true)!,
                                     stride: try s.int("stride") ?? 1, padding: try s.int("padding") ?? 0,
                                     outputPadding: try s.int("output-padding") ?? 0, bias: try s.bool("bias") ?? true)
        case "upsample": layer = .upsample(scale: try s.int("scale", required: true)!)
        case "lstm": layer = .lstm(hidden: try s.int("hidden", required: true)!, layers: try s.int("layers") ?? 1)
        case "gru": layer = .gru(hidden: try s.int("hidden", required: true)!, layers: try s.int("layers") ?? 1)
        case "last-time-step": layer = .lastTimeStep
        case "gelu": layer = .gelu
        case "layernorm": layer = .layerNorm(eps: try s.float("eps") ?? 1e-5)
        case "flatten": layer = .flatten
        case "relu": layer = .relu
        case "sigmoid": layer = .sigmoid
        case "tanh": layer = .tanh
        case "softmax": layer = .softmax
        default: layer = .logSoftmax
        }
        return layer
    }

    /// The settings each layer kind takes.
    static let settingKeys: [String: [String]] = [
        "linear": ["out", "bias", "init", "bias-init"],
        "conv2d": ["out", "kernel", "stride", "padding", "dilation", "groups", "bias", "init", "bias-init"],
        "maxpool2d": ["kernel", "stride"], "avgpool2d": ["kernel", "stride"],
        "batchnorm1d": ["eps", "momentum"], "batchnorm2d": ["eps", "momentum"],
        "dropout": ["p"], "leaky-relu": ["negative-slope"], "softplus": ["threshold"], "elu": ["alpha"],
        "conv1d": ["out", "kernel", "stride", "padding", "dilation", "bias"],
        "convtranspose2d": ["out", "kernel", "stride", "padding", "output-padding", "bias"],
        "upsample": ["scale"], "lstm": ["hidden", "layers"], "gru": ["hidden", "layers"], "layernorm": ["eps"],
    ]

    /// A whole number; one too large for `Int` is out of range rather than of the wrong type.
    func integer(_ node: ModelNode, key: String, line: Int?, layer: String?) throws -> Int {
        guard case let .scalar(text, _) = node, let value = Int(text) else {
            if case let .scalar(text, _) = node, text.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "+" }), text.contains(where: \.isNumber) {
                throw fail(.outOfRange(key: key, value: text, expected: "from \(Int.min) to \(Int.max), and far less in a model"), node.line ?? line, layer)
            }
            throw fail(.wrongType(key: key, expected: "a whole number", found: node.summary), node.line ?? line, layer)
        }
        return value
    }

    /// A layer's settings mapping, read key by key.
    struct Settings {
        let pairs: [(key: String, keyLine: Int?, value: ModelNode)]
        let parser: ModelDescriptionParser
        let line: Int?
        let layer: String

        init(_ node: ModelNode, parser: ModelDescriptionParser, line: Int?, layer: String) throws {
            self.parser = parser; self.line = line; self.layer = layer
            switch node {
            case .null: pairs = []
            case let .mapping(p, _):
                pairs = p
            default:
                throw parser.fail(.wrongType(key: "the settings", expected: "a mapping like {out: 16, kernel: 3}", found: node.summary), node.line ?? line, layer)
            }
        }

        func value(_ key: String) -> (ModelNode, Int?)? {
            pairs.first { $0.key == key }.map { ($0.value, $0.keyLine ?? line) }
        }

        func int(_ key: String, required: Bool = false) throws -> Int? {
            guard let (node, l) = value(key) else {
                if required { throw parser.fail(.missingKey(key, context: "(a whole number)"), line, layer) }
                return nil
            }
            return try parser.integer(node, key: key, line: l, layer: layer)
        }

        func float(_ key: String) throws -> Float? {
            guard let (node, l) = value(key) else { return nil }
            guard case let .scalar(text, _) = node, let v = Float(text), v.isFinite else {
                throw parser.fail(.wrongType(key: key, expected: "a finite number", found: node.summary), l, layer)
            }
            return v
        }

        func bool(_ key: String) throws -> Bool? {
            guard let (node, l) = value(key) else { return nil }
            if case let .scalar(text, _) = node {
                switch text.lowercased() {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: break
                }
            }
            throw parser.fail(.wrongType(key: key, expected: "true or false", found: node.summary), l, layer)
        }

        /// `xavier-uniform`, or `{uniform: {low: -0.1, high: 0.1}}` / `{normal: {mean: 0, std: 0.02}}`.
        func initializer(_ key: String) throws -> InitializerKind? {
            guard let (node, l) = value(key) else { return nil }
            let known = InitializerKind.plainNames.keys.sorted() + ["{uniform: {low, high}}", "{normal: {mean, std}}"]
            switch node {
            case let .scalar(text, _):
                guard let kind = InitializerKind.plainNames[text] else {
                    throw parser.fail(.outOfRange(key: key, value: "'\(text)'", expected: "one of \(known.joined(separator: ", "))"), l, layer)
                }
                return kind
            case let .mapping(p, _) where p.count == 1 && (p[0].key == "uniform" || p[0].key == "normal"):
                let args = try Settings(p[0].value, parser: parser, line: p[0].keyLine ?? l, layer: layer)
                if p[0].key == "uniform" {
                    let low = try args.float("low") ?? -1, high = try args.float("high") ?? 1
                    try args.refuseUnknown(["low", "high"])
                    return .uniform(low: low, high: high)
                }
                let mean = try args.float("mean") ?? 0, std = try args.float("std") ?? 1
                try args.refuseUnknown(["mean", "std"])
                return .normal(mean: mean, std: std)
            default:
                throw parser.fail(.wrongType(key: key, expected: "an initialiser: \(known.joined(separator: ", "))", found: node.summary), l, layer)
            }
        }

        func refuseUnknown(_ known: [String]) throws {
            var seen: Set<String> = []
            for pair in pairs {
                guard known.contains(pair.key) else { throw parser.fail(.unknownKey(pair.key, known: known), pair.keyLine ?? line, layer) }
                guard seen.insert(pair.key).inserted else {
                    throw parser.fail(.syntax("'\(pair.key)' appears twice"), pair.keyLine ?? line, layer)
                }
            }
        }
    }
}

// MARK: - Description -> tree (JSON in state.json, YAML for people)

/// A JSON value, for storing a description inside another Codable value.
enum DescriptionValue: Codable, Equatable {
    case int(Int), float(Float), bool(Bool), string(String)
    case array([DescriptionValue])
    case object([(String, DescriptionValue)])

    static func == (a: DescriptionValue, b: DescriptionValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Key.self) {
            self = .object(try keyed.allKeys.sorted { $0.stringValue < $1.stringValue }.map {
                ($0.stringValue, try keyed.decode(DescriptionValue.self, forKey: $0))
            })
            return
        }
        if var list = try? decoder.unkeyedContainer() {
            var items: [DescriptionValue] = []
            while !list.isAtEnd { items.append(try list.decode(DescriptionValue.self)) }
            self = .array(items)
            return
        }
        let single = try decoder.singleValueContainer()
        if let b = try? single.decode(Bool.self) { self = .bool(b) }
        else if let i = try? single.decode(Int.self) { self = .int(i) }
        else if let f = try? single.decode(Float.self) { self = .float(f) }
        else { self = .string(try single.decode(String.self)) }
    }

    func encode(to encoder: Encoder) throws {
        switch self {
        case let .int(i): var c = encoder.singleValueContainer(); try c.encode(i)
        case let .float(f): var c = encoder.singleValueContainer(); try c.encode(f)
        case let .bool(b): var c = encoder.singleValueContainer(); try c.encode(b)
        case let .string(s): var c = encoder.singleValueContainer(); try c.encode(s)
        case let .array(items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case let .object(pairs):
            var c = encoder.container(keyedBy: Key.self)
            for (k, v) in pairs { try c.encode(v, forKey: Key(stringValue: k)) }
        }
    }

    /// The same value as a parse tree (no lines).
    var node: ModelNode {
        switch self {
        case let .int(i): return .scalar(String(i), line: nil)
        case let .float(f): return .scalar("\(f)", line: nil)
        case let .bool(b): return .scalar(b ? "true" : "false", line: nil)
        case let .string(s): return .scalar(s, line: nil)
        case let .array(items): return .sequence(items.map(\.node), line: nil)
        case let .object(pairs): return .mapping(pairs.map { ($0.0, nil, $0.1.node) }, line: nil)
        }
    }

    /// Flow-style YAML: `{out: 16, kernel: 3}`, `[1, 28, 28]`.
    var yaml: String {
        switch self {
        case let .int(i): return String(i)
        case let .float(f): return "\(f)"
        case let .bool(b): return b ? "true" : "false"
        case let .string(s): return s
        case let .array(items): return "[" + items.map(\.yaml).joined(separator: ", ") + "]"
        case let .object(pairs): return "{" + pairs.map { "\($0.0): \($0.1.yaml)" }.joined(separator: ", ") + "}"
        }
    }
}

extension InitializerKind {
    var value: DescriptionValue {
        switch self {
        case let .uniform(low, high): return .object([("uniform", .object([("low", .float(low)), ("high", .float(high))]))])
        case let .normal(mean, std): return .object([("normal", .object([("mean", .float(mean)), ("std", .float(std))]))])
        default: return .string(name)
        }
    }
}

extension LayerDescription {
    /// Every setting written out, defaults included, so a stored description does not
    /// depend on this build's defaults.
    var value: DescriptionValue { value(compact: false) }

    /// The settings a model file would default, by layer kind (for the compact form).
    static let defaultSettings: [String: [String: DescriptionValue]] = [
        "linear": ["bias": .bool(true), "init": .string("pytorch"), "bias-init": .string("pytorch")],
        "conv2d": ["stride": .int(1), "padding": .int(0), "dilation": .int(1), "groups": .int(1), "bias": .bool(true),
                   "init": .string("pytorch"), "bias-init": .string("pytorch")],
        "batchnorm1d": ["eps": .float(1e-5), "momentum": .float(0.1)], "batchnorm2d": ["eps": .float(1e-5), "momentum": .float(0.1)],
        "dropout": ["p": .float(0.5)], "leaky-relu": ["negative-slope": .float(0.01)], "softplus": ["threshold": .float(20)],
        "elu": ["alpha": .float(1)],
        "conv1d": ["stride": .int(1), "padding": .int(0), "dilation": .int(1), "bias": .bool(true)],
        "convtranspose2d": ["stride": .int(1), "padding": .int(0), "output-padding": .int(0), "bias": .bool(true)],
        "lstm": ["layers": .int(1)], "gru": ["layers": .int(1)], "layernorm": ["eps": .float(1e-5)],
    ]

    /// With `compact`, settings at their defaults are left out (a pool's stride equal to
    /// its kernel too), and a layer left with none is its bare kind.
    func value(compact: Bool) -> DescriptionValue {
        func entry(_ settings: [(String, DescriptionValue)]) -> DescriptionValue {
            guard compact else { return .object([(kind, .object(settings))]) }
            let defaults = Self.defaultSettings[kind] ?? [:]
            var kept = settings.filter { defaults[$0.0] != $0.1 }
            if kind == "maxpool2d" || kind == "avgpool2d", kept.count == 2, kept[0].1 == kept[1].1 { kept.removeLast() }
            return kept.isEmpty ? .string(kind) : .object([(kind, .object(kept))])
        }
        switch self {
        case let .linear(d):
            return entry([("out", .int(d.out)), ("bias", .bool(d.bias)), ("init", d.weightInit.value), ("bias-init", d.biasInit.value)])
        case let .conv2d(d):
            return entry([("out", .int(d.out)), ("kernel", .int(d.kernel)), ("stride", .int(d.stride)), ("padding", .int(d.padding)),
                          ("dilation", .int(d.dilation)), ("groups", .int(d.groups)), ("bias", .bool(d.bias)),
                          ("init", d.weightInit.value), ("bias-init", d.biasInit.value)])
        case let .maxPool2d(kernel, stride), let .avgPool2d(kernel, stride):
            return entry([("kernel", .int(kernel)), ("stride", .int(stride))])
        case let .batchNorm1d(eps, momentum), let .batchNorm2d(eps, momentum):
            return entry([("eps", .float(eps)), ("momentum", .float(momentum))])
        case let .dropout(p): return entry([("p", .float(p))])
        case let .leakyReLU(slope): return entry([("negative-slope", .float(slope))])
        case let .softplus(threshold): return entry([("threshold", .float(threshold))])
        case let .elu(alpha): return entry([("alpha", .float(alpha))])
        case let .conv1d(out, kernel, stride, padding, dilation, bias):
            return entry([("out", .int(out)), ("kernel", .int(kernel)), ("stride", .int(stride)), ("padding", .int(padding)),
                          ("dilation", .int(dilation)), ("bias", .bool(bias))])
        case let .convTranspose2d(out, kernel, stride, padding, outputPadding, bias):
            return entry([("out", .int(out)), ("kernel", .int(kernel)), ("stride", .int(stride)), ("padding", .int(padding)),
                          ("output-padding", .int(outputPadding)), ("bias", .bool(bias))])
        case let .upsample(scale): return entry([("scale", .int(scale))])
        case let .lstm(hidden, layers), let .gru(hidden, layers): return entry([("hidden", .int(hidden)), ("layers", .int(layers))])
        case let .layerNorm(eps): return entry([("eps", .float(eps))])
        case .flatten, .relu, .sigmoid, .tanh, .softmax, .logSoftmax, .lastTimeStep, .gelu: return .string(kind)
        case let .residual(layers): return .object([("residual", .array(layers.map { $0.value(compact: compact) }))])
        }
    }
}

extension ModelDescription {
    var value: DescriptionValue {
        var pairs: [(String, DescriptionValue)] = [("input", .array(input.map { .int($0) }))]
        if let loss { pairs.append(("loss", .string(loss))) }
        pairs.append(("layers", .array(layers.map(\.value))))
        return .object(pairs)
    }

    /// Stored as the model file's own structure: `{"input": [...], "layers": [...]}`.
    public func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }

    /// Reads what ``encode(to:)`` wrote, with the checks a model file gets.
    public init(from decoder: Decoder) throws {
        let value = try DescriptionValue(from: decoder)
        var lines = ModelFileLines()
        do {
            self = try ModelDescriptionParser(file: nil).description(value.node, lines: &lines)
            try checkShapes()
        } catch let error as ModelFileError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.errorDescription ?? "\(error)"))
        }
    }

    /// The description as a model file, one layer per line (residual bodies indented),
    /// settings at their defaults left out.
    ///
    /// ```
    /// input: [784]
    /// layers:
    ///   - linear: {out: 10}
    /// ```
    public var yaml: String {
        var lines = ["input: " + DescriptionValue.array(input.map { .int($0) }).yaml]
        if let loss { lines.append("loss: \(loss)") }
        lines.append("layers:")
        func add(_ layers: [LayerDescription], indent: String) {
            for layer in layers {
                if case let .residual(body) = layer {
                    lines.append(indent + "- residual:")
                    add(body, indent: indent + "    ")
                } else if case let .object(pairs) = layer.value(compact: true), let (k, v) = pairs.first {
                    lines.append(indent + "- \(k): \(v.yaml)")
                } else {
                    lines.append(indent + "- " + layer.value(compact: true).yaml)
                }
            }
        }
        add(layers, indent: "  ")
        return lines.joined(separator: "\n") + "\n"
    }
}
