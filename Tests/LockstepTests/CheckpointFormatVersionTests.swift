import Checkpoints
import Datasets
import Foundation
import Testing
@testable import Lockstep
@testable import NeuralNet

/// state.json version 2 holds the trainer's position and input statistics as typed fields;
/// version 1 (text in `extra`) still loads, and a version newer than this build is refused.
/// The configuration's named settings are enums that read and write the old strings.
@Suite struct CheckpointFormatVersionTests {
    static var versionOne: String {
        Bundle.module.url(forResource: "version-1-checkpoint", withExtension: nil, subdirectory: "Fixtures")!.path
    }

    @Test func versionOneCheckpointLoadsIntoTypedFields() throws {
        let text = try String(contentsOfFile: Self.versionOne + "/step-000000008/state.json", encoding: .utf8)
        #expect(text.contains("\"formatVersion\" : 1") && text.contains("\"extra\""), "the fixture is of version 1")
        let restored = try CheckpointedModel.load(Self.versionOne)
        let s = restored.state
        #expect(s.formatVersion == 1 && s.step == 8 && s.epoch == 1 && s.stepInEpoch == 2)
        #expect(s.optimizerSteps == 8 && s.globalBatch == 32 && s.samplesInEpoch == 64 && s.parameterCount == 3190)
        #expect(s.normalization == (try Normalization(mean: [-0.026398653], std: [1.1150011])))
        #expect(restored.normalization == s.normalization)
        #expect(s.monitor == MonitorState(best: 1.1562697887420654, bestEpoch: 1, epochsWithoutImprovement: 0))
        let c = s.configuration
        #expect(c.task == .classify && c.optimizer == .sgd && c.dataset == .synthetic && c.loss == .crossEntropy)
        #expect(c.schedule == .cosine(totalSteps: nil, minLR: 0) && c.earlyStopping == 2 && c.validationSplit == 0.25)
        // Evaluation reads the data it was trained on, normalised with the stored statistics.
        let samples = try restored.dataset(.test, limit: 10)
        #expect(samples.count == 10)
    }

    @Test func versionTwoStateRoundTripsThroughTheStore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-v2-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = try CheckpointedModel.load(Self.versionOne)
        var state = old.state
        state.formatVersion = CheckpointFormat.version
        state.configuration.schedule = .step(every: 30, gamma: 0.1)
        state.configuration.optimizer = .adamw
        state.configuration.dataset = .synthetic
        let store = try CheckpointStore(directory: directory, keep: 1)
        let optimizer = try SGD(parameterCount: old.model.parameterCount, momentum: 0.9, nesterov: false, weightDecay: 0)
        let path = try store.save(step: state.step, model: ModelTensors.sources(old.model.arena),
                                  optimizer: ModelTensors.optimizerSources(optimizer, old.model.arena), state: state,
                                  metadata: ["lockstep_model": state.configuration.model])
        let text = try String(contentsOfFile: path + "/state.json", encoding: .utf8)
        #expect(text.contains("\"formatVersion\" : 2") && !text.contains("\"extra\""))
        #expect(text.contains("\"schedule\" : \"step:30:0.1\"") && text.contains("\"optimizer\" : \"adamw\"") && text.contains("\"task\" : \"classify\""))
        #expect(text.contains("\"samplesInEpoch\" : 64") && text.contains("\"bestEpoch\" : 1"))
        let loaded = try CheckpointStore.load(path: path, as: TrainingConfiguration.self)
        var expected = state
        expected.files = loaded.state.files
        #expect(loaded.state == expected)
    }

    @Test func aVersionNewerThanThisBuildIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lockstep-v3-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: Self.versionOne, toPath: directory)
        let statePath = directory + "/step-000000008/state.json"
        let text = try String(contentsOfFile: statePath, encoding: .utf8)
        try text.replacingOccurrences(of: "\"formatVersion\" : 1", with: "\"formatVersion\" : 3").write(toFile: statePath, atomically: true, encoding: .utf8)
        #expect {
            try CheckpointedModel.load(directory)
        } throws: { error in
            error as? CheckpointError == .unsupportedFormatVersion(path: statePath, found: 3, supported: 2)
                && error.userMessage.contains("newer than this build understands")
        }
    }

    @Test func settingsAreWrittenAsTheirOldStrings() throws {
        var c = TrainingConfiguration()
        c.loss = .bceWithLogits
        c.dataset = .fashionMNIST
        c.schedule = .multiStep(milestones: [3, 7], gamma: 0.5)
        let object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(c)) as? [String: Any])
        #expect(object["loss"] as? String == "bce-with-logits" && object["dataset"] as? String == "fashion-mnist")
        #expect(object["optimizer"] as? String == "sgd" && object["schedule"] as? String == "multistep:3,7:0.5")
        #expect(object["task"] as? String == "classify")
        #expect(try JSONDecoder().decode(TrainingConfiguration.self, from: JSONEncoder().encode(c)) == c)
    }

    @Test func aConfigurationWithoutTaskDecodesAsClassify() throws {
        var object = try #require(JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingConfiguration())) as? [String: Any])
        object["task"] = nil
        object["optimizer"] = "adamw"
        let decoded = try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(decoded.task == .classify && decoded.optimizer == .adamw)
        object["optimizer"] = "rmsprop"
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        }
        object["optimizer"] = "sgd"
        object["schedule"] = "step:x"
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TrainingConfiguration.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test func everyScheduleFormReadsBackToItself() throws {
        for text in ["constant", "cosine", "cosine:500", "cosine:500:0.001", "step:30:0.1", "multistep:10,20:0.5", "exp:0.99"] {
            let schedule = try ScheduleSetting(parsing: text)
            #expect(schedule.description == text)
            #expect(try ScheduleSetting(parsing: schedule.description) == schedule)
        }
        #expect(try ScheduleSetting(parsing: "cosine").kind(runSteps: 120) == .cosine(totalSteps: 120, minLR: 0))
        #expect(try ScheduleSetting(parsing: "step:10:0.5").kind(runSteps: 120) == .step(every: 10, gamma: 0.5))
        for bad in ["", "cosine:0", "step:x", "linear", "exp"] {
            #expect(throws: ConfigurationError.self) { try ScheduleSetting(parsing: bad) }
        }
    }

    @Test func registriesParseAndListTheirNames() throws {
        #expect(OptimizerKind.names == "sgd, adamw")
        #expect(LossKind.names == "cross-entropy, nll, mse, bce-with-logits, l1")
        #expect(try DatasetKind(named: "npy") == .npy)
        #expect(TrainingTask.allCases == [.classify])
        #expect(throws: ConfigurationError.unknown(setting: "optimizer", value: "rmsprop", known: "sgd, adamw")) {
            try OptimizerKind(named: "rmsprop")
        }
    }

    @Test func validationErrorsNameSettingsAndRenderAsFlags() throws {
        var c = TrainingConfiguration()
        c.batchSize = 0
        #expect {
            try c.validate()
        } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            let flags = e.message(option: { $0 == "batchSize" ? "--batch-size" : $0 }, name: { $0 == "batchSize" ? "batch-size" : $0 })
            return e.setting == "batchSize" && e.userMessage == "batchSize 0: batchSize must be >= 1 and <= 16777216"
                && flags == "--batch-size 0: batch-size must be >= 1 and <= 16777216"
        }
        #expect {
            try c.validate(source: "ck/state.json")
        } throws: { error in
            error.userMessage == "ck/state.json: configuration 'batchSize' is 0 but must be >= 1 and <= 16777216; the file is corrupt or was edited"
        }
        c = TrainingConfiguration()
        c.dataset = .csv
        #expect {
            try c.validate()
        } throws: { error in
            (error as? ConfigurationError)?.setting == "data" && error.userMessage.hasPrefix("dataset csv needs data")
        }
    }
}
