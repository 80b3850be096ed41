import Foundation
import Testing
@testable import Checkpoints

/// The Python interpreter with `numpy` and `safetensors` installed, from `LOCKSTEP_PYTHON`.
private let python = ProcessInfo.processInfo.environment["LOCKSTEP_PYTHON"]

/// Checks that files written by the Swift writer load with Python's `safetensors`
/// package, via `scripts/check_safetensors.py`. Runs when `LOCKSTEP_PYTHON` names a
/// Python with `numpy` and `safetensors` (e.g. `LOCKSTEP_PYTHON=.venv/bin/python`).
@Suite(.enabled(if: python != nil, "set LOCKSTEP_PYTHON to a python with numpy and safetensors"))
struct CheckpointPythonInteropTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/check_safetensors.py").path

    /// Runs the checker and returns its exit status and combined output.
    func check(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python!)
        process.arguments = [Self.script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test func pythonLoadsCheckpointWrittenBySwift() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try CheckpointStoreTests.save(store, step: 12)
        let model = path + "/model.safetensors"
        let expect = ["--expect", "0.weight:4,1,3,3:F32", "0.bias:4", "1.running_mean:4", "1.num_batches_tracked::I64"]

        let good = try check([model] + expect)
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("1.num_batches_tracked  I64   []"), "\(good.output)")
        #expect(good.output.contains("metadata format = 'pt'"), "\(good.output)")

        let wrongShape = try check([model, "--expect", "0.weight:8,1,3,3", "0.bias:4", "1.running_mean:4", "1.num_batches_tracked:"])
        #expect(wrongShape.status == 1, "\(wrongShape.output)")
        #expect(wrongShape.output.contains("0.weight: expected shape [8, 1, 3, 3], found [4, 1, 3, 3]"), "\(wrongShape.output)")

        let missingAndExtra = try check([model, "--expect", "0.weight:4,1,3,3", "2.weight:10"])
        #expect(missingAndExtra.status == 1)
        #expect(missingAndExtra.output.contains("missing 2.weight"), "\(missingAndExtra.output)")
        #expect(missingAndExtra.output.contains("unexpected 0.bias"), "\(missingAndExtra.output)")

        let optimizer = try check([path + "/optimizer.safetensors", "--expect", "0.weight:4,1,3,3", "0.bias:4"])
        #expect(optimizer.status == 0, "\(optimizer.output)")
    }

    @Test func checkerRejectsCorruptFile() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/bad.safetensors"
        try CheckpointTestFiles.write(CheckpointTestFiles.safeTensors(header: #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)), to: path)
        let result = try check([path])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("does not load"), "\(result.output)")
    }
}
