import Foundation
import Testing
@testable import Checkpoints
import Datasets

/// A stand-in for the trainer's configuration.
struct CheckpointTestConfiguration: Codable, Sendable, Equatable {
    var model: String = "cnn"
    var learningRate: Double = 0.05
    var layers: [Int] = [16, 32]
}

@Suite struct CheckpointStoreTests {
    static func model(_ scale: Float) -> [CheckpointTestTensor] {
        [
            CheckpointTestTensor(name: "0.weight", shape: [4, 1, 3, 3], values: (0..<36).map { Float($0) * scale }),
            CheckpointTestTensor(name: "0.bias", shape: [4], values: [1, 2, 3, 4].map { $0 * scale }),
            CheckpointTestTensor(name: "1.running_mean", shape: [4], values: [0, 0.5, 1, 1.5]),
            CheckpointTestTensor(name: "1.num_batches_tracked", shape: [], dtype: .i64, values: [scale.rounded()]),
        ]
    }

    static func optimizer(_ scale: Float) -> [CheckpointTestTensor] {
        [
            CheckpointTestTensor(name: "0.weight", shape: [4, 1, 3, 3], values: (0..<36).map { -Float($0) * scale }),
            CheckpointTestTensor(name: "0.bias", shape: [4], values: [scale, 0, 0, -scale]),
        ]
    }

    static func state(step: Int) -> CheckpointState<CheckpointTestConfiguration> {
        CheckpointState(step: step, epoch: step / 10, stepInEpoch: step % 10, worldSize: 2,
                        rngState: [0x9E37_79B9_7F4A_7C15, .max, 0], configuration: CheckpointTestConfiguration(),
                        optimizerSteps: step, globalBatch: 64, samplesInEpoch: step % 10 * 64, parameterCount: 40,
                        normalization: try! Normalization(mean: [0.25], std: [1.5]),
                        monitor: MonitorState(best: 0.123456789012345, bestEpoch: 1, epochsWithoutImprovement: 0), createdAt: "2026-11-22T03:10:00Z", lockstepVersion: "0.1.0")
    }

    @discardableResult
    static func save(_ store: CheckpointStore, step: Int, scale: Float? = nil, markBest: Bool = false) throws -> String {
        let scale = scale ?? Float(step)
        return try withTensorSources(model(scale)) { model in
            try withTensorSources(optimizer(scale)) { optimizer in
                try store.save(step: step, model: model, optimizer: optimizer, state: state(step: step), markBest: markBest)
            }
        }
    }

    /// Every file under `path` (relative name -> bytes), to compare a directory before and after.
    static func snapshot(_ path: String) throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: path)!
        while let name = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory)
            result[name] = isDirectory.boolValue ? [] : try CheckpointTestFiles.read(path + "/" + name)
        }
        return result
    }

    @Test func savesListsAndLoads() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path + "/ckpt", keep: 3)
        #expect(try store.latest() == nil)
        #expect(try store.list().isEmpty)
        let first = try Self.save(store, step: 7)
        #expect(first == store.directory + "/step-000000007")
        let second = try Self.save(store, step: 1234)
        #expect(second == store.directory + "/step-000001234")
        #expect(try store.list() == [first, second])
        #expect(try store.latest() == second)
        #expect(try String(contentsOfFile: store.directory + "/latest", encoding: .utf8) == "step-000001234\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory).sorted()
            == ["latest", "step-000000007", "step-000001234"])

        let loaded = try CheckpointStore.load(path: second, as: CheckpointTestConfiguration.self)
        #expect(loaded.path == second)
        var expectedState = Self.state(step: 1234)
        expectedState.files = [
            "model.safetensors": try SHA256.hex(ofFile: second + "/model.safetensors"),
            "optimizer.safetensors": try SHA256.hex(ofFile: second + "/optimizer.safetensors"),
        ]
        #expect(loaded.state == expectedState)
        #expect(loaded.state.rngState == [0x9E37_79B9_7F4A_7C15, .max, 0])
        #expect(loaded.modelMetadata["format"] == "pt")
        #expect(loaded.modelMetadata["lockstep_step"] == "1234")
        for tensor in Self.model(1234) {
            #expect(loaded.model[tensor.name] == TensorRecord(name: tensor.name, shape: tensor.shape, dtype: tensor.dtype, values: tensor.values))
        }
        for tensor in Self.optimizer(1234) {
            #expect(loaded.optimizer[tensor.name]?.values == tensor.values)
        }
        #expect(loaded.model.count == 4 && loaded.optimizer.count == 2)

        // Loading the store directory loads its latest checkpoint.
        #expect(try CheckpointStore.load(path: store.directory, as: CheckpointTestConfiguration.self).path == second)
    }

    @Test func stateJSONIsPrettyWithSortedKeys() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try Self.save(store, step: 3)
        let text = try String(contentsOfFile: path + "/state.json", encoding: .utf8)
        let topLevelKeys = text.split(separator: "\n").filter { $0.hasPrefix("  \"") }
            .map { String($0.dropFirst(3).prefix { $0 != "\"" }) }
        #expect(topLevelKeys == ["configuration", "createdAt", "epoch", "files", "formatVersion", "globalBatch",
                                 "lockstepVersion", "monitor", "normalization", "optimizerSteps", "parameterCount",
                                 "rngState", "samplesInEpoch", "step", "stepInEpoch", "worldSize"])
        #expect(text.contains("\"formatVersion\" : 2"))
        #expect(text.hasSuffix("}\n"))
    }

    @Test func theBestCheckpointSurvivesPruning() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        #expect(store.best() == nil)
        try Self.save(store, step: 10)
        try Self.save(store, step: 20, markBest: true)
        for step in [30, 40, 50] { try Self.save(store, step: step) }
        #expect(store.best() == directory.path + "/step-000000020")
        #expect(try store.list() == [directory.path + "/step-000000020", directory.path + "/step-000000050"])
        #expect(try store.latest() == directory.path + "/step-000000050")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            == ["best", "latest", "step-000000020", "step-000000050"])

        // A new best moves the pointer; the old best is then pruned like any other.
        try Self.save(store, step: 60, markBest: true)
        try Self.save(store, step: 70)
        #expect(store.best() == directory.path + "/step-000000060")
        #expect(try store.list() == [directory.path + "/step-000000060", directory.path + "/step-000000070"])

        // markBest names an existing checkpoint; anything else is refused.
        try store.markBest(directory.path + "/step-000000070")
        #expect(store.best() == directory.path + "/step-000000070")
        #expect(throws: CheckpointError.self) { try store.markBest(directory.path + "/step-000000099") }
    }

    @Test func keepsOnlyTheNewestK() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 2)
        for step in [10, 20, 30, 40] { try Self.save(store, step: step) }
        #expect(try store.list() == [directory.path + "/step-000000030", directory.path + "/step-000000040"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            == ["latest", "step-000000030", "step-000000040"])

        // Saving an older step keeps it (it was just written) and the newest other one.
        try Self.save(store, step: 5)
        #expect(try store.list() == [directory.path + "/step-000000005", directory.path + "/step-000000040"])
        #expect(try store.latest() == directory.path + "/step-000000005")
    }

    @Test func keepOneKeepsOnlyTheLast() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        for step in 1...3 { try Self.save(store, step: step) }
        #expect(try store.list() == [directory.path + "/step-000000003"])
    }

    @Test(arguments: [0, -1])
    func rejectsInvalidKeep(keep: Int) throws {
        let directory = try CheckpointTestDirectory()
        #expect(throws: CheckpointError.invalidKeep(keep)) { try CheckpointStore(directory: directory.path, keep: keep) }
        #expect(CheckpointError.invalidKeep(keep).errorDescription!.contains("\(keep)"))
    }

    @Test func rejectsStepMismatchAndNegativeStep() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        #expect(throws: CheckpointError.stepMismatch(step: 5, stateStep: 6)) {
            try store.save(step: 5, model: [], optimizer: [], state: Self.state(step: 6))
        }
        #expect(throws: CheckpointError.invalidStep(-1)) {
            try store.save(step: -1, model: [], optimizer: [], state: Self.state(step: -1))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func replacesTheSameStepAtomically() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 3)
        try Self.save(store, step: 5, scale: 1)
        let path = try Self.save(store, step: 5, scale: 2)
        #expect(try store.list() == [path])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["latest", "step-000000005"])
        let loaded = try CheckpointStore.load(path: directory.path, as: CheckpointTestConfiguration.self)
        #expect(loaded.model["0.bias"]?.values == [2, 4, 6, 8])
    }

    @Test func replacesTheSameStepWithoutAtomicExchange() throws {
        let directory = try CheckpointTestDirectory()
        var store = try CheckpointStore(directory: directory.path, keep: 3)
        store.allowsExchange = false
        try Self.save(store, step: 5, scale: 1)
        try Self.save(store, step: 5, scale: 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["latest", "step-000000005"])
        let loaded = try CheckpointStore.load(path: directory.path, as: CheckpointTestConfiguration.self)
        #expect(loaded.model["0.bias"]?.values == [3, 6, 9, 12])
    }

    #if os(Linux)
    @Test func exchangeSwapsDirectoriesOnLinux() throws {
        let directory = try CheckpointTestDirectory()
        let a = directory.path + "/a", b = directory.path + "/b"
        try FileManager.default.createDirectory(atPath: a, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: false)
        try CheckpointTestFiles.write([1], to: a + "/from-a")
        try CheckpointTestFiles.write([2], to: b + "/from-b")
        #expect(try DurableIO.exchangeAtomically(a, b), "renameat2(RENAME_EXCHANGE) unavailable here")
        #expect(try FileManager.default.contentsOfDirectory(atPath: a) == ["from-b"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: b) == ["from-a"])
    }
    #endif

    @Test func invalidTensorFailsBeforeTouchingAnything() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 2)
        try Self.save(store, step: 1)
        try Self.save(store, step: 2)
        let before = try Self.snapshot(directory.path)
        var bad = Self.model(3)
        bad[1].shape = [5]  // 4 values
        do {
            _ = try withTensorSources(bad) { model in
                try withTensorSources(Self.optimizer(3)) { optimizer in
                    try store.save(step: 3, model: model, optimizer: optimizer, state: Self.state(step: 3))
                }
            }
            Issue.record("save with a bad tensor did not throw")
        } catch let CheckpointError.invalidTensor(_, tensor, reason) {
            #expect(tensor == "0.bias")
            #expect(reason.contains("[5]"))
        }
        #expect(try Self.snapshot(directory.path) == before)
        #expect(try store.latest() == directory.path + "/step-000000002")
    }

    struct InjectedFailure: Error {}

    @Test func failureAtTheLastMomentLeavesEverythingIntact() throws {
        let directory = try CheckpointTestDirectory()
        var store = try CheckpointStore(directory: directory.path, keep: 2)
        try Self.save(store, step: 1)
        try Self.save(store, step: 2, scale: 1)
        let before = try Self.snapshot(directory.path)
        store.beforeCommit = { temporary in
            // The temporary checkpoint is complete at this point; then the "disk" fails.
            #expect(CheckpointStore.isComplete(temporary))
            throw InjectedFailure()
        }
        #expect(throws: InjectedFailure.self) { try Self.save(store, step: 3) }
        // Replacing an existing step fails the same way: the old step-2 stays.
        #expect(throws: InjectedFailure.self) { try Self.save(store, step: 2, scale: 9) }
        #expect(try Self.snapshot(directory.path) == before, "no temporary directory left, nothing changed")
        #expect(try store.latest() == directory.path + "/step-000000002")
        let loaded = try CheckpointStore.load(path: directory.path, as: CheckpointTestConfiguration.self)
        #expect(loaded.model["0.bias"]?.values == [1, 2, 3, 4])
    }

    @Test func failingLatestUpdateLeavesPreviousLatestIntact() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 2)
        try Self.save(store, step: 1)
        try Self.save(store, step: 2)
        let before = try Self.snapshot(directory.path)
        // A directory where `latest.tmp` must be written: creating the file fails (EISDIR).
        try FileManager.default.createDirectory(atPath: directory.path + "/latest.tmp", withIntermediateDirectories: false)
        #expect {
            try Self.save(store, step: 3)
        } throws: { error in
            guard case let CheckpointError.io(path, _, _) = error else { return false }
            return path == directory.path + "/latest.tmp"
        }
        var after = try Self.snapshot(directory.path)
        after = after.filter { !$0.key.hasPrefix("latest.tmp") && !$0.key.hasPrefix("step-000000003") }
        #expect(after == before, "step 1, step 2 and latest are unchanged")
        #expect(try store.latest() == directory.path + "/step-000000002")
        // Once the obstacle is gone, saving works again and pruning catches up.
        try FileManager.default.removeItem(atPath: directory.path + "/latest.tmp")
        try Self.save(store, step: 4)
        #expect(try store.list().map { ($0 as NSString).lastPathComponent } == ["step-000000003", "step-000000004"])
    }

    @Test func storeDirectoryMustBeADirectory() throws {
        let directory = try CheckpointTestDirectory()
        let filePath = directory.path + "/file"
        try CheckpointTestFiles.write([1], to: filePath)
        #expect {
            try CheckpointStore(directory: filePath, keep: 1)
        } throws: { error in
            guard case let CheckpointError.io(path, _, _) = error else { return false }
            return path == filePath
        }
    }

    @Test func latestFallsBackToScanning() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 5)
        try Self.save(store, step: 8)
        try Self.save(store, step: 9)
        try Self.save(store, step: 3)  // written last: `latest` names it
        #expect(try store.latest() == directory.path + "/step-000000003")
        #expect(try store.list().map { ($0 as NSString).lastPathComponent } == ["step-000000003", "step-000000008", "step-000000009"])

        try CheckpointTestFiles.write(Array("step-000000077\n".utf8), to: directory.path + "/latest")  // dangling
        #expect(try store.latest() == directory.path + "/step-000000009")
        try CheckpointTestFiles.write(Array("../../etc\n".utf8), to: directory.path + "/latest")  // not a checkpoint name
        #expect(try store.latest() == directory.path + "/step-000000009")
        try FileManager.default.removeItem(atPath: directory.path + "/latest")
        #expect(try store.latest() == directory.path + "/step-000000009")

        // Stray and incomplete directories are not checkpoints.
        try FileManager.default.createDirectory(atPath: directory.path + "/.tmp-step-000000100-999999", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: directory.path + "/step-000000200", withIntermediateDirectories: false)
        try CheckpointTestFiles.write([1], to: directory.path + "/step-000000200/model.safetensors")
        #expect(try store.latest() == directory.path + "/step-000000009")
        #expect(try store.list().count == 3)
    }

    @Test func removesTemporariesOfDeadProcesses() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 5)
        // PIDs above the kernel's pid_max (at most 2^22) never belong to a live process.
        let stale = directory.path + "/.tmp-step-000000004-2147483000"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: false)
        try CheckpointTestFiles.write([1, 2, 3], to: stale + "/model.safetensors")
        try Self.save(store, step: 5)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test func loadRejectsCorruptedTensorFile() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try Self.save(store, step: 1)
        let file = path + "/optimizer.safetensors"
        let recorded = try SHA256.hex(ofFile: file)
        var bytes = try CheckpointTestFiles.read(file)
        bytes[bytes.count - 3] ^= 0x40  // one bit of one momentum value
        try CheckpointTestFiles.write(bytes, to: file)
        let actual = try SHA256.hex(ofFile: file)
        #expect(throws: CheckpointError.hashMismatch(path: path, file: "optimizer.safetensors", expected: recorded, actual: actual)) {
            try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self)
        }
        let message = CheckpointError.hashMismatch(path: path, file: "optimizer.safetensors", expected: recorded, actual: actual).errorDescription!
        #expect(message.contains("optimizer.safetensors") && message.contains(recorded) && message.contains(actual) && message.contains("corrupt"))
    }

    /// Saves one checkpoint, rewrites its state.json with `tamper`, and returns the load error.
    func loadErrorAfterTampering(_ tamper: (String) throws -> String) throws -> (path: String, error: Error?) {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try Self.save(store, step: 1)
        let statePath = path + "/state.json"
        let text = try String(contentsOfFile: statePath, encoding: .utf8)
        let tampered = try tamper(text)
        #expect(tampered != text, "the tampering changed nothing")
        try CheckpointTestFiles.write(Array(tampered.utf8), to: statePath)
        do {
            _ = try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self)
            return (path, nil)
        } catch {
            return (path, error)
        }
    }

    @Test func loadRejectsTamperedHash() throws {
        var recorded = ""
        let (path, error) = try loadErrorAfterTampering { text in
            let line = try #require(text.split(separator: "\n").first { $0.contains("\"model.safetensors\"") })
            recorded = String(line.split(separator: "\"")[3])
            return text.replacingOccurrences(of: recorded, with: String(repeating: "0", count: 64))
        }
        guard case let CheckpointError.hashMismatch(errorPath, file, expected, actual)? = error as? CheckpointError else {
            Issue.record("expected hashMismatch, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path && file == "model.safetensors")
        #expect(expected == String(repeating: "0", count: 64) && actual == recorded)
    }

    @Test func loadRejectsUnreadableState() throws {
        let (path, error) = try loadErrorAfterTampering { text in text.replacingOccurrences(of: "\"epoch\"", with: "\"epoque\"") }
        guard case let CheckpointError.stateUnreadable(errorPath, reason)? = error as? CheckpointError else {
            Issue.record("expected stateUnreadable, got \(String(describing: error))")
            return
        }
        #expect(errorPath == path + "/state.json")
        #expect(reason.contains("epoch"))
        let (_, garbled) = try loadErrorAfterTampering { text in String(text.dropLast(5)) }
        guard case CheckpointError.stateUnreadable? = garbled as? CheckpointError else {
            Issue.record("expected stateUnreadable for truncated JSON, got \(String(describing: garbled))")
            return
        }
    }

    @Test func loadRejectsUnsupportedFormatVersion() throws {
        for version in [3, 0] {
            let (path, error) = try loadErrorAfterTampering { text in
                text.replacingOccurrences(of: "\"formatVersion\" : 2", with: "\"formatVersion\" : \(version)")
            }
            #expect(error as? CheckpointError == .unsupportedFormatVersion(path: path + "/state.json", found: version, supported: 2))
            let message = (error as? CheckpointError)?.errorDescription ?? ""
            #expect(message.contains(version == 3 ? "version 3 is newer than this build understands (this build reads versions 1 to 2)" : "never written"), "\(message)")
        }
    }

    @Test func versionTwoStateRoundTripsItsTypedFields() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try Self.save(store, step: 13)
        let loaded = try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self)
        var expected = Self.state(step: 13)
        expected.files = loaded.state.files
        #expect(loaded.state == expected)
        #expect(loaded.state.formatVersion == 2 && loaded.state.monitor?.best == 0.123456789012345)
        #expect(loaded.state.normalization == (try Normalization(mean: [0.25], std: [1.5])))
    }

    @Test func versionOneExtraFillsTheTypedFields() throws {
        let json = """
            {"configuration": {"model": "cnn", "learningRate": 0.1, "layers": [16]}, "createdAt": "2026-11-22T03:10:00Z", "epoch": 1,
             "extra": {"global_batch": "64", "normalization": "{\\"mean\\":[0.5],\\"std\\":[1.25]}", "optimizer_steps": "12",
                       "parameter_count": "23", "samples_in_epoch": "128", "monitor_best": "0.5", "monitor_best_epoch": "1",
                       "monitor_bad_epochs": "0", "best_test_acc": "0.9"},
             "files": {}, "formatVersion": 1, "lockstepVersion": "0.1.0", "rngState": [1, 2, 3, 4], "step": 12,
             "stepInEpoch": 2, "worldSize": 1}
            """
        let state: CheckpointState<CheckpointTestConfiguration> = try CheckpointStore.decodeState(Array(json.utf8), path: "state.json")
        #expect(state.formatVersion == 1)
        #expect(state.optimizerSteps == 12 && state.globalBatch == 64 && state.samplesInEpoch == 128 && state.parameterCount == 23)
        #expect(state.normalization == (try Normalization(mean: [0.5], std: [1.25])))
        #expect(state.monitor == MonitorState(best: 0.5, bestEpoch: 1, epochsWithoutImprovement: 0))
        // Without the keys, the fields stay empty; a value that does not parse is refused, naming the key.
        let bare = json.replacingOccurrences(of: #"extra": {"#, with: #"unused": {"#)
        let plain: CheckpointState<CheckpointTestConfiguration> = try CheckpointStore.decodeState(Array(bare.utf8), path: "state.json")
        #expect(plain.optimizerSteps == nil && plain.normalization == nil && plain.monitor == nil)
        let broken = json.replacingOccurrences(of: #""global_batch": "64""#, with: #""global_batch": "sixty-four""#)
        #expect {
            try CheckpointStore.decodeState(Array(broken.utf8), path: "state.json") as CheckpointState<CheckpointTestConfiguration>
        } throws: { error in
            guard case let CheckpointError.stateUnreadable(_, reason)? = error as? CheckpointError else { return false }
            return reason.contains("extra.global_batch") && reason.contains("sixty-four")
        }
    }

    @Test func loadRejectsMissingFilesAndPaths() throws {
        let directory = try CheckpointTestDirectory()
        #expect(throws: CheckpointError.noCheckpoint(path: directory.path)) {
            try CheckpointStore.load(path: directory.path, as: CheckpointTestConfiguration.self)
        }
        #expect(throws: CheckpointError.noCheckpoint(path: directory.path + "/nope")) {
            try CheckpointStore.load(path: directory.path + "/nope", as: CheckpointTestConfiguration.self)
        }
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        let path = try Self.save(store, step: 1)
        try FileManager.default.removeItem(atPath: path + "/optimizer.safetensors")
        #expect(throws: CheckpointError.incompleteCheckpoint(path: path, missing: "optimizer.safetensors")) {
            try CheckpointStore.load(path: path, as: CheckpointTestConfiguration.self)
        }
    }

    @Test func verifyShapesAcceptsTheSameModel() throws {
        let directory = try CheckpointTestDirectory()
        let store = try CheckpointStore(directory: directory.path, keep: 1)
        try Self.save(store, step: 1)
        let loaded = try CheckpointStore.load(path: directory.path, as: CheckpointTestConfiguration.self)
        let expected = Self.model(1).map { (name: $0.name, shape: $0.shape) }
        try CheckpointStore.verifyShapes(loaded.model, expected: expected, file: "model.safetensors")
    }

    @Test func verifyShapesListsMissingExtraAndWrongShapes() throws {
        let loaded = Dictionary(uniqueKeysWithValues: Self.model(1).map {
            ($0.name, TensorRecord(name: $0.name, shape: $0.shape, dtype: $0.dtype, values: $0.values))
        })
        let expected: [(name: String, shape: [Int])] = [
            (name: "0.weight", shape: [8, 1, 3, 3]),
            (name: "0.bias", shape: [4]),
            (name: "1.running_mean", shape: [4]),
            (name: "2.weight", shape: [10, 64]),
        ]
        do {
            try CheckpointStore.verifyShapes(loaded, expected: expected, file: "model.safetensors")
            Issue.record("a different model was accepted")
        } catch let error as CheckpointError {
            #expect(error == .modelMismatch(
                file: "model.safetensors",
                missing: [TensorShapeMismatch(name: "2.weight", expected: [10, 64], found: nil)],
                unexpected: [TensorShapeMismatch(name: "1.num_batches_tracked", expected: nil, found: [])],
                wrongShape: [TensorShapeMismatch(name: "0.weight", expected: [8, 1, 3, 3], found: [4, 1, 3, 3])]))
            let message = error.errorDescription!
            #expect(message.contains("different model"))
            #expect(message.contains("2.weight [10, 64]"))
            #expect(message.contains("1.num_batches_tracked"))
            #expect(message.contains("0.weight expected [8, 1, 3, 3], found [4, 1, 3, 3]"))
        }
    }

    @Test func verifyShapesShortensLongLists() throws {
        let expected = (0..<10).map { (name: "layer\($0).weight", shape: [2]) }
        do {
            try CheckpointStore.verifyShapes([:], expected: expected, file: "model.safetensors")
            Issue.record("an empty checkpoint was accepted")
        } catch let error as CheckpointError {
            let message = error.errorDescription!
            #expect(message.contains("10 tensor(s) missing"))
            #expect(message.contains("and 6 more"))
            #expect(!message.contains("layer9.weight"))
        }
    }
}
