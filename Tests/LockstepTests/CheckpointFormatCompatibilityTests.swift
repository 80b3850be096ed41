import Checkpoints
import Foundation
import Testing
@testable import Lockstep
@testable import NeuralNet

/// Checkpoints carry the model description; checkpoints written before it existed still
/// load, rebuilding their model from the preset or spec they name.
@Suite struct CheckpointFormatCompatibilityTests {
    static var oldFormat: String {
        Bundle.module.url(forResource: "old-format-checkpoint", withExtension: nil, subdirectory: "Fixtures")!.path
    }

    @Test func oldFormatCheckpointStillLoads() throws {
        let text = try String(contentsOfFile: Self.oldFormat + "/step-000000003/state.json", encoding: .utf8)
        #expect(!text.contains("modelDescription"), "the fixture is of the old format")
        let restored = try CheckpointedModel.load(Self.oldFormat)
        #expect(restored.state.configuration.model == "mlp:784,4,10")
        #expect(restored.state.configuration.modelDescription == nil)
        #expect(try restored.state.configuration.resolvedModelDescription() == ModelZoo.description("mlp:784,4,10"))
        #expect(restored.model.layers.map(\.description) == [
            "Linear(in_features=784, out_features=4, bias=True)", "ReLU()", "Linear(in_features=4, out_features=10, bias=True)",
        ])
        // The parameters are the checkpoint's, not a fresh initialisation.
        let weight = try #require(restored.loaded.model["2.weight"])
        let view = try #require(restored.model.arena.view(named: "2.weight"))
        #expect(Array(restored.model.arena.parameters[view.range]) == weight.values)
        let fresh = try ModelZoo.make("mlp:784,4,10", seed: restored.state.configuration.seed)
        #expect(Array(fresh.arena.parameters) != Array(restored.model.arena.parameters))
    }

    @Test func stateJSONCarriesTheDescriptionAndReadsItBack() throws {
        var c = TrainingConfiguration()
        c.model = "examples/models/my-net.yaml"
        c.modelDescription = try ModelDescription(yaml: """
            input: [8]
            layers: [{linear: {out: 8, init: kaiming-uniform}}, {residual: [{linear: {out: 8}}, tanh]}, {linear: {out: 3}}]
            """)
        let state = CheckpointState(step: 5, epoch: 0, stepInEpoch: 5, worldSize: 2, rngState: [1, 2, 3, 4], configuration: c, lockstepVersion: "test")
        let json = try JSONEncoder().encode(state)
        let object = try #require(JSONSerialization.jsonObject(with: json) as? [String: Any])
        let stored = try #require((object["configuration"] as? [String: Any])?["modelDescription"] as? [String: Any])
        #expect((stored["layers"] as? [Any])?.count == 3 && stored["input"] as? [Int] == [8])
        let decoded = try JSONDecoder().decode(CheckpointState<TrainingConfiguration>.self, from: json)
        #expect(decoded.configuration == c)
        // The model file is gone; the description alone rebuilds the network.
        let model = try decoded.configuration.resolvedModelDescription().makeModel(seed: 1)
        #expect(model.arena.views.map(\.name) == ["0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight", "2.bias"])
    }

    @Test func rankComparisonTextIsTheSameInEveryProcess() throws {
        // Nested values are sorted-key JSON, not a dictionary's description (whose order
        // changes with the process's hash seed).
        var c = TrainingConfiguration()
        c.modelDescription = try ModelZoo.description("bn-cnn")
        let pairs = c.flattened()
        let value = try #require(pairs.first { $0.key == "modelDescription" }?.value)
        #expect(value.hasPrefix("{\"input\":[1,28,28],\"layers\":[{\"conv2d\":{\"bias\":true,\"bias-init\":\"pytorch\",\"dilation\":1,"))
    }
}
