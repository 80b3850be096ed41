import Foundation
import Testing
@testable import Checkpoints

/// A parseable but wrong checkpoint is refused: state.json field by field, tensor dtypes,
/// non-finite values.
@Suite struct CheckpointValidationTests {
    /// Saves a checkpoint of step 25, then sets `key` of its state.json to `json` (a JSON value).
    private func edited(_ key: String, _ json: String, in directory: CheckpointTestDirectory) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)
        let store = try CheckpointStore(directory: directory.path + "/ckpt", keep: 3)
        let path = try CheckpointStoreTests.save(store, step: 25)
        let statePath = path + "/state.json"
        var state = try JSONSerialization.jsonObject(with: Data(CheckpointTestFiles.read(statePath))) as! [String: Any]
        state[key] = value
        try CheckpointTestFiles.write(Array(JSONSerialization.data(withJSONObject: state)), to: statePath)
        return path
    }

    @Test(arguments: [
        ("step", "-1", "step"), ("epoch", "-3", "epoch"), ("stepInEpoch", "-1", "stepInEpoch"),
        ("worldSize", "0", "worldSize"), ("epoch", "4611686018427387904", "epoch"), ("stepInEpoch", "1000000000", "epoch"),
        ("epoch", "9223372036854775807", "epoch"),
        ("files", #"{"model.safetensors": "zz", "optimizer.safetensors": "00"}"#, "files"),
    ])
    func fieldOutOfRangeIsRefused(key: String, value: String, field: String) throws {
        let directory = try CheckpointTestDirectory()
        let path = try edited(key, value, in: directory)
        do {
            _ = try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self)
            Issue.record("\(key) = \(value) was accepted")
        } catch let CheckpointError.invalidState(statePath, named, reason) {
            #expect(statePath == path + "/state.json")
            #expect(named == field, "\(reason)")
        }
    }

    @Test func untouchedStateLoads() throws {
        let directory = try CheckpointTestDirectory()
        let path = try edited("createdAt", #""2026-12-02T00:00:00Z""#, in: directory)
        #expect(try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self).state.step == 25)
    }

    @Test func dtypeOtherThanTheModelsIsRefused() throws {
        let records = [
            "0.weight": TensorRecord(name: "0.weight", shape: [2], dtype: .i32, values: [1, 2]),
            "0.bias": TensorRecord(name: "0.bias", shape: [1], dtype: .f32, values: [0]),
        ]
        let expected: [(name: String, shape: [Int], dtype: SafeTensorsDType)] = [("0.weight", [2], .f32), ("0.bias", [1], .f32)]
        #expect(throws: CheckpointError.dtypeMismatch(file: "m", tensor: "0.weight", expected: .f32, found: .i32)) {
            try CheckpointStore.verifyTensors(records, expected: expected, file: "m")
        }
        let good = ["0.weight": TensorRecord(name: "0.weight", shape: [2], dtype: .f32, values: [1, 2]), "0.bias": records["0.bias"]!]
        try CheckpointStore.verifyTensors(good, expected: expected, file: "m")
    }

    @Test func nonFiniteValuesAreNamedWithIndexAndCount() throws {
        let records = [
            "a": TensorRecord(name: "a", shape: [3], dtype: .f32, values: [1, 2, 3]),
            "b": TensorRecord(name: "b", shape: [4], dtype: .f32, values: [0, .infinity, .nan, 1]),
        ]
        do {
            try CheckpointStore.verifyFinite(records, file: "m")
            Issue.record("non-finite values were accepted")
        } catch let CheckpointError.nonFiniteValue(file, tensor, index, count, value) {
            #expect(file == "m" && tensor == "b" && index == 1 && count == 2 && value == .infinity)
        }
        try CheckpointStore.verifyFinite(["a": records["a"]!], file: "m")
    }
}
