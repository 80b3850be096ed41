import Foundation
import Testing
@testable import NeuralNet

/// The repository root (this file is Tests/NeuralNetTests/ModelDescriptionTests.swift).
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Model files: parsing, shapes, PyTorch names, round trips, residual blocks, and the
/// corpus of broken files in Fixtures/bad-models (each named in its expected.tsv).
@Suite struct ModelDescriptionTests {
    func layout(_ model: Sequential) -> [String] {
        (model.arena.views + model.arena.bufferViews).map { "\($0.name) \($0.shape)" }
    }

    @Test func smallCNNExampleBuildsWithPyTorchNamesAndShapes() throws {
        let d = try ModelDescription.load(file: repositoryRoot.appendingPathComponent("examples/models/small-cnn.yaml").path)
        #expect(d.input == [1, 28, 28] && d.loss == "cross-entropy" && d.layers.count == 11)
        let m = try d.makeModel(seed: 1)
        #expect(layout(m) == [
            "0.weight [16, 1, 3, 3]", "0.bias [16]", "1.weight [16]", "1.bias [16]",
            "3.weight [16, 1, 3, 3]", "3.bias [16]", "8.weight [64, 3136]", "8.bias [64]", "10.weight [10, 64]", "10.bias [10]",
            "1.running_mean [16]", "1.running_var [16]", "1.num_batches_tracked []",
        ])
        #expect(m.layers[3].description == "Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2), dilation=(2, 2), groups=16)")
        #expect(m.forward(randomTensor([2, 1, 28, 28], seed: 3)).shape == [2, 10])
        // xavier-uniform on 8.weight: bound sqrt(6 / (3136 + 64)), wider than PyTorch's 1/sqrt(3136)
        let w = m.arena.views.first { $0.name == "8.weight" }!
        let largest = m.arena.parameters[w.range].map(abs).max()!
        #expect(largest <= (6.0 / 3200.0).squareRoot() && largest > 1 / Float(3136).squareRoot())
    }

    @Test func everyExampleModelFileBuilds() throws {
        let directory = repositoryRoot.appendingPathComponent("examples/models")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 2)
        for name in files {
            let d = try ModelDescription.load(file: directory.appendingPathComponent(name).path)
            let m = try d.makeModel(seed: 1)
            #expect(m.outputShape == [10], "\(name)")
            #expect(try ModelDescription(yaml: d.yaml) == d, "\(name) survives its YAML form")
        }
        let residual = try ModelDescription.load(file: directory.appendingPathComponent("residual-mlp.yaml").path).makeModel(seed: 1)
        #expect(residual.arena.views.map(\.name).contains("3.2.weight") && residual.arena.views.map(\.name).contains("5.0.bias"))
    }

    @Test func yamlAliasesWithinLimitsAreRead() throws {
        let d = try ModelDescription(yaml: "input: [4]\nlayers:\n  - linear: &wide {out: 8}\n  - relu\n  - linear: *wide\n")
        #expect(d.layers == [.linear(LinearDescription(out: 8)), .relu, .linear(LinearDescription(out: 8))])
    }

    @Test func presetsKeepTheirLayoutAndInitialValues() throws {
        // The presets, now descriptions, draw the same values as the layers built by hand.
        let byHand = try Sequential(inputShape: [1, 28, 28], [
            Conv2d(1, 16, kernelSize: 3, stride: 2), ReLU(), Conv2d(16, 32, kernelSize: 3), ReLU(),
            Flatten(), Linear(3872, 128), ReLU(), Linear(128, 10),
        ], seed: 9)
        let preset = try ModelZoo.make("seed-cnn", seed: 9)
        #expect(Array(preset.arena.parameters) == Array(byHand.arena.parameters))
        #expect(preset.describe() == byHand.describe())
        for name in ModelZoo.presetNames {
            let d = try ModelZoo.description(name)
            #expect(try ModelDescription(yaml: d.yaml) == d, "\(name) survives its YAML form")
        }
    }

    @Test func mlpSpecTakesAnActivation() throws {
        let m = try ModelZoo.make("mlp:784,128,10:tanh", seed: 1)
        #expect(m.layers.map(\.description) == [
            "Linear(in_features=784, out_features=128, bias=True)", "Tanh()", "Linear(in_features=128, out_features=10, bias=True)",
        ])
        #expect(try ModelZoo.description("mlp:4,3,2") == ModelZoo.description("mlp:4,3,2:relu"))
        let error = #expect(throws: NeuralNetError.self) { try ModelZoo.make("mlp:784,10:swish", seed: 1) }
        let message = error?.localizedDescription ?? ""
        #expect(message.contains("unknown activation \"swish\"") && message.contains("tanh"), "\(message)")
    }

    @Test func everyLayerKindParsesAndBuilds() throws {
        let d = try ModelDescription(yaml: """
            input: [3, 12, 12]
            layers:
              - conv2d: {out: 6, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 3, bias: false, init: kaiming-normal}
              - batchnorm2d: {eps: 0.001, momentum: 0.2}
              - leaky-relu: {negative-slope: 0.1}
              - maxpool2d: {kernel: 2}
              - avgpool2d: {kernel: 2, stride: 1}
              - elu: {alpha: 0.5}
              - flatten
              - dropout: {p: 0.1}
              - linear: {out: 20, init: {normal: {mean: 0, std: 0.02}}, bias-init: zeros}
              - batchnorm1d
              - sigmoid
              - residual:
                  - linear: {out: 20, init: xavier-normal}
                  - tanh
              - softplus: {threshold: 10}
              - relu
              - linear: {out: 5, init: {uniform: {low: -0.1, high: 0.1}}, bias-init: ones}
              - log-softmax
              - softmax
            """)
        let m = try d.makeModel(seed: 2)
        #expect(m.outputShape == [5])
        #expect(m.layers[0].description == "Conv2d(3, 6, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=3, bias=False)")
        #expect(m.layers[4].description == "AvgPool2d(kernel_size=2, stride=1, padding=0)")
        #expect(layout(m).contains("11.0.weight [20, 20]") && layout(m).contains("8.weight [20, 150]"))
        let bias8 = m.arena.views.first { $0.name == "8.bias" }!, bias14 = m.arena.views.first { $0.name == "14.bias" }!
        #expect(m.arena.parameters[bias8.range].allSatisfy { $0 == 0 } && m.arena.parameters[bias14.range].allSatisfy { $0 == 1 })
        #expect(m.forward(randomTensor([4, 3, 12, 12], seed: 1)).shape == [4, 5])
        // Every kind is covered, and JSON (what state.json holds) and YAML carry it unchanged.
        func kinds(_ layers: [LayerDescription]) -> Set<String> {
            layers.reduce(into: Set<String>()) { set, layer in
                set.insert(layer.kind)
                if case let .residual(body) = layer { set.formUnion(kinds(body)) }
            }
        }
        // The sequence and decoder layers, in models of their own shapes.
        let sequence = try ModelDescription(yaml: """
            input: [5, 8]
            layers:
              - conv1d: {out: 4, kernel: 3, padding: 1}
              - lstm: {hidden: 16}
              - layernorm: {eps: 0.0001}
              - gelu
              - gru: {hidden: 6, layers: 2}
              - last-time-step
              - linear: {out: 3}
            """)
        let decoder = try ModelDescription(yaml: """
            input: [2, 4, 4]
            layers:
              - convtranspose2d: {out: 3, kernel: 3, stride: 2, padding: 1, output-padding: 1}
              - upsample: {scale: 2}
              - flatten
              - linear: {out: 2}
            """)
        for (extra, input, output) in [(sequence, [3, 5, 8], [3, 3]), (decoder, [3, 2, 4, 4], [3, 2])] {
            let model = try extra.makeModel(seed: 3)
            #expect(try extra.checkShapes().parameterCount == model.parameterCount)
            #expect(model.forward(randomTensor(input, seed: 4)).shape == output)
            #expect(try ModelDescription(yaml: extra.yaml) == extra)
            #expect(try JSONDecoder().decode(ModelDescription.self, from: JSONEncoder().encode(extra)) == extra)
        }
        #expect(try sequence.checkShapes().inputs[[5]] == [4, 6] && decoder.checkShapes().inputs[[2]] == [3, 16, 16])
        #expect(kinds(d.layers + sequence.layers + decoder.layers) == Set(LayerDescription.kinds))
        let json = try JSONEncoder().encode(d)
        #expect(try JSONDecoder().decode(ModelDescription.self, from: json) == d)
        #expect(try ModelDescription(yaml: d.yaml) == d)
        #expect(try ModelDescription(yaml: String(decoding: json, as: UTF8.self)) == d, "the stored JSON is itself a model file")
    }

    @Test func jsonModelFileEqualsItsYAML() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-models-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("m.json").path
        try Data("{\n\t\"input\": [784],\n\t\"layers\": [{\"linear\": {\"out\": 32}}, \"relu\", {\"linear\":{\"out\":10}}]\n}\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(try ModelDescription.load(file: path) == ModelZoo.description("mlp:784,32,10"))
        #expect(try ModelZoo.description(path) == ModelZoo.description("mlp:784,32,10"))
    }

    @Test func residualAddsItsInputAndMatchesFiniteDifferences() throws {
        let m = try ModelDescription(yaml: """
            input: [6]
            layers:
              - linear: {out: 5}
              - residual: [{linear: {out: 5}}, tanh, {linear: {out: 5}}]
              - relu
              - linear: {out: 3}
            """).makeModel(seed: 4)
        #expect(layout(m) == ["0.weight [5, 6]", "0.bias [5]", "1.0.weight [5, 5]", "1.0.bias [5]", "1.2.weight [5, 5]", "1.2.bias [5]",
                              "3.weight [3, 5]", "3.bias [3]"])
        #expect(m.layers[1].description == "Residual(\n  (0): Linear(in_features=5, out_features=5, bias=True)\n  (1): Tanh()\n  (2): Linear(in_features=5, out_features=5, bias=True)\n)")
        // y = x + body(x), checked against the body's layers run by hand
        let block = m.layers[1] as! Residual
        let x = randomTensor([2, 5], seed: 5)
        let xv = x.values
        var h = x
        for layer in block.layers { h = layer.forward(h) }
        let body = h.values
        assertClose(block.forward(x).values, zip(xv, body).map { $0 + $1 }, rtol: 1e-6, atol: 1e-6, "residual output")

        let input = randomTensor([3, 6], seed: 6)
        let labels: [Int32] = [0, 2, 1]
        let ce = CrossEntropyLoss()
        func loss() -> Float { labels.withUnsafeBufferPointer { ce.forward(m.forward(input), labels: $0).loss } }
        _ = loss()
        m.zeroGradients()
        m.backward(ce.backward())
        let analytic = Array(m.arena.gradients)
        let p = m.arena.parameters
        for i in 0..<p.count {
            let saved = p[i]
            p[i] = saved + 1e-2; let plus = loss()
            p[i] = saved - 1e-2; let minus = loss()
            p[i] = saved
            assertClose(analytic[i], (plus - minus) / 2e-2, rtol: 2e-2, atol: 2e-3, "parameter \(m.arena.views.first { $0.range.contains(i) }!.name)[\(i)]")
        }
    }

    @Test func residualConvReLUFusionIsBitIdentical() throws {
        let text = """
            input: [2, 6, 6]
            layers:
              - residual: [{conv2d: {out: 2, kernel: 3, padding: 1}}, relu, {conv2d: {out: 2, kernel: 3, padding: 1}}, batchnorm2d, relu]
              - flatten
              - linear: {out: 3}
            """
        let fused = try ModelDescription(yaml: text).makeModel(seed: 3), separate = try ModelDescription(yaml: text).makeModel(seed: 3)
        separate.setLayerFusion(false)
        #expect(((fused.layers[0] as! Residual).layers[0] as! Conv2d).fusesReLU)
        #expect(fused.allLayers.map { String($0.description.prefix(while: { $0 != "(" })) }
                == ["Residual", "Conv2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"])
        let x = randomTensor([4, 2, 6, 6], seed: 2)
        let labels: [Int32] = [0, 1, 2, 1]
        for model in [fused, separate] {
            let ce = CrossEntropyLoss()
            model.zeroGradients()
            _ = labels.withUnsafeBufferPointer { ce.forward(model.forward(x), labels: $0) }
            model.backward(ce.backward())
        }
        #expect(Array(fused.arena.gradients) == Array(separate.arena.gradients))
    }

    @Test func flopsAndParameterCountsFollowTheShapes() throws {
        let d = try ModelZoo.description("seed-cnn")
        let plan = try d.checkShapes()
        let m = try d.makeModel(seed: 1)
        #expect(plan.parameterCount == m.parameterCount && plan.output == [10])
        #expect(plan.inputs[[5]] == [3872])
    }

    /// Every file of the corpus fails with a ``ModelFileError`` naming the file, the line
    /// listed in expected.tsv, and containing the listed text; none crashes.
    @Test func brokenModelFilesGiveLocatedErrors() throws {
        let directory = try #require(Bundle.module.url(forResource: "bad-models", withExtension: nil, subdirectory: "Fixtures"))
        let table = try String(contentsOf: directory.appendingPathComponent("expected.tsv"), encoding: .utf8)
        var expected: [String: (line: Int?, text: String)] = [:]
        for row in table.split(separator: "\n") where !row.hasPrefix("#") {
            let fields = row.split(separator: "\t", maxSplits: 2).map(String.init)
            expected[fields[0]] = (Int(fields[1]), fields[2])
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".json") }.sorted()
        #expect(files.count >= 30)
        #expect(Set(files) == Set(expected.keys), "every broken file has a row in expected.tsv and the reverse")
        for name in files {
            let path = directory.appendingPathComponent(name).path
            guard let want = expected[name] else { continue }
            do {
                let d = try ModelDescription.load(file: path)
                Issue.record("\(name) loaded: \(d.yaml)")
            } catch let error as ModelFileError {
                let message = error.errorDescription ?? ""
                #expect(error.file == path, "\(name): \(message)")
                #expect(message.hasPrefix(path + (want.line.map { ":\($0):" } ?? ":")), "\(name): \(message)")
                if let line = want.line { #expect(error.line == line, "\(name): \(message)") }
                #expect(message.contains(want.text), "\(name): \(message)")
            } catch {
                Issue.record("\(name): not a ModelFileError: \(error)")
            }
        }
    }

    /// Random edits of the example file (bytes dropped, swapped or replaced with YAML's
    /// punctuation): each either parses or throws a ``ModelFileError``, never anything else.
    @Test func mangledModelFilesNeverCrash() throws {
        let original = Array(try String(contentsOfFile: repositoryRoot.appendingPathComponent("examples/models/small-cnn.yaml").path,
                                        encoding: .utf8).utf8)
        let alphabet = Array("[]{}:,-#&*!|>'\"%@` \n\t0123456789abc-.".utf8)
        var rng = SeededRNG(seed: 11)
        var parsed = 0, refused = 0
        for _ in 0..<1500 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes.remove(at: i)
                case 1: bytes[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                default: bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                }
            }
            do {
                _ = try ModelDescription(yaml: String(decoding: bytes, as: UTF8.self), file: "mangled.yaml")
                parsed += 1
            } catch is ModelFileError {
                refused += 1
            } catch {
                Issue.record("not a ModelFileError: \(error)\n\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(parsed > 0 && refused > 0)
    }

    @Test func unreadableFilesAreNamed() throws {
        #expect(throws: ModelFileError(file: "/nonexistent/m.yaml", line: nil, layer: nil, problem: .unreadable(reason: "no such file"))) {
            try ModelDescription.load(file: "/nonexistent/m.yaml")
        }
        #expect(throws: ModelFileError(file: "/tmp", line: nil, layer: nil, problem: .unreadable(reason: "it is a directory"))) {
            try ModelDescription.load(file: "/tmp")
        }
    }

    @Test func aDecodedDescriptionIsCheckedLikeAFile() throws {
        let bad = Data(#"{"input": [1, 28, 28], "layers": [{"linear": {"out": 10}}]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ModelDescription.self, from: bad) }
    }
}
