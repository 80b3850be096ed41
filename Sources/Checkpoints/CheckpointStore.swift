// A directory of checkpoints: DIR/step-000001234/{model,optimizer}.safetensors + state.json,
// a DIR/latest file naming the newest, and the last K kept. Every step of a save is
// durable before the next one depends on it, so a crash leaves the previous checkpoints
// and `latest` as they were.

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Just the version field of `state.json`, decoded before the rest.
private struct VersionProbe: Decodable { let formatVersion: Int }

/// A checkpoint loaded and verified by ``CheckpointStore/load(path:as:)``.
public struct LoadedCheckpoint<C: Codable & Sendable & Equatable>: Sendable {
    /// The checkpoint directory that was loaded.
    public let path: String
    /// The decoded `state.json`.
    public let state: CheckpointState<C>
    /// The model's tensors by name (`0.weight`, `1.running_mean`, ...).
    public let model: [String: TensorRecord]
    /// The optimizer's tensors by name (momentum buffers, named like the parameters).
    public let optimizer: [String: TensorRecord]
    /// The `__metadata__` of `model.safetensors`.
    public let modelMetadata: [String: String]
}

/// Saves checkpoints into a directory and finds and loads them again.
///
/// Layout: `DIR/step-000001234/` holding `model.safetensors`, `optimizer.safetensors` and
/// `state.json`; `DIR/latest` holding the name of the checkpoint written last plus a newline.
///
/// ```swift
/// let store = try CheckpointStore(directory: "runs/cnn/checkpoints", keep: 3)
/// let path = try store.save(step: 938, model: params, optimizer: momentum, state: state)
/// let resumed = try CheckpointStore.load(path: "runs/cnn/checkpoints", as: TrainConfig.self)
/// try CheckpointStore.verifyShapes(resumed.model, expected: model.namedShapes, file: "model.safetensors")
/// ```
public struct CheckpointStore: Sendable {
    /// The directory holding the checkpoints.
    public let directory: String
    /// How many complete checkpoints a save leaves behind (at least 1).
    public let keep: Int
    /// Called with the temporary directory once it is complete and synced, just before it
    /// is renamed into place; tests use it to simulate a failure at the last moment.
    var beforeCommit: (@Sendable (String) throws -> Void)?
    /// Whether replacing a checkpoint may use an atomic exchange; tests turn it off to
    /// exercise the two-rename fallback used where the file system cannot exchange.
    var allowsExchange = true

    /// Opens (creating if needed) the checkpoint directory `directory`, keeping the newest
    /// `keep` checkpoints on each save.
    ///
    /// Throws ``CheckpointError/invalidKeep(_:)`` when `keep < 1`, and
    /// ``CheckpointError/io(path:operation:reason:)`` when the directory cannot be made.
    public init(directory: String, keep: Int) throws {
        guard keep >= 1 else { throw CheckpointError.invalidKeep(keep) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw CheckpointError.io(path: directory, operation: "use as checkpoint directory", reason: "it is a file, not a directory")
            }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw CheckpointError.io(path: directory, operation: "create directory", reason: error.localizedDescription)
            }
        }
        self.directory = directory
        self.keep = keep
    }

    /// The directory name of the checkpoint of `step`: `step-` and nine or more digits.
    public static func directoryName(step: Int) -> String {
        let digits = String(step)
        return "step-" + String(repeating: "0", count: max(0, 9 - digits.count)) + digits
    }

    /// Saves a checkpoint of `step` and returns its directory path.
    ///
    /// The tensors are checked first (names, shapes against value counts, integer values);
    /// then the three files are written into `DIR/.tmp-step-…-<pid>`, each fsynced, the
    /// directory is renamed into place (atomically exchanged with an existing checkpoint of
    /// the same step) and the parent directory fsynced; `DIR/latest` is replaced
    /// atomically; finally all but the newest `keep` checkpoints are removed (never the
    /// one just written) along with temporary directories of dead processes. Any error
    /// before the rename removes the temporary directory and leaves the existing
    /// checkpoints and `latest` untouched.
    ///
    /// `state.files` is filled with the SHA-256 of each tensor file computed while writing.
    /// `metadata` is added to `model.safetensors`' metadata, after `format: pt` and
    /// `lockstep_step`.
    ///
    /// With `markBest`, `DIR/best` is replaced (atomically, before pruning) to name the new
    /// checkpoint. Pruning never removes the checkpoint `best` names, so the store holds
    /// the newest `keep` plus, when older, the best.
    public func save<C: Codable & Sendable & Equatable>(
        step: Int, model: [TensorSource], optimizer: [TensorSource], state: CheckpointState<C>,
        metadata: [String: String] = [:], markBest: Bool = false
    ) throws -> String {
        guard step >= 0 else { throw CheckpointError.invalidStep(step) }
        guard state.step == step else { throw CheckpointError.stepMismatch(step: step, stateStep: state.step) }
        let name = Self.directoryName(step: step)
        let finalPath = directory + "/" + name
        let temporary = directory + "/.tmp-\(name)-\(getpid())"
        var modelMetadata = ["format": "pt", "lockstep_step": String(step)]
        modelMetadata.merge(metadata) { _, new in new }
        let modelLayout = try SafeTensors.Layout(model, metadata: modelMetadata, path: temporary + "/" + CheckpointFormat.modelFile)
        let optimizerLayout = try SafeTensors.Layout(optimizer, metadata: ["lockstep_step": String(step)], path: temporary + "/" + CheckpointFormat.optimizerFile)
        var state = state
        state.files = [:]

        try? FileManager.default.removeItem(atPath: temporary)
        if mkdir(temporary, 0o755) != 0 {
            throw CheckpointError.io(path: temporary, operation: "create directory", reason: DurableIO.errnoDescription())
        }
        do {
            state.files[CheckpointFormat.modelFile] = try SafeTensors.write(modelLayout, to: modelLayout.path)
            state.files[CheckpointFormat.optimizerFile] = try SafeTensors.write(optimizerLayout, to: optimizerLayout.path)
            try DurableIO.writeDurably(Self.encode(state), to: temporary + "/" + CheckpointFormat.stateFile)
            try DurableIO.fsyncDirectory(temporary)
            try beforeCommit?(temporary)
            try commit(temporary, to: finalPath)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }

        try writePointer("latest", to: name)
        if markBest { try writePointer("best", to: name) }
        try DurableIO.fsyncDirectory(directory)

        try prune(keeping: name)
        removeStaleTemporaries()
        return finalPath
    }

    /// The path of the newest complete checkpoint: the one `DIR/latest` names, or, when
    /// `latest` is missing or names no complete checkpoint, the highest step found by
    /// scanning. Nil when the directory holds none.
    public func latest() throws -> String? {
        try Self.latest(in: directory)
    }

    /// The path of the checkpoint `DIR/best` names (the best validation metric so far), or
    /// nil when there is none or it is not a complete checkpoint.
    public func best() -> String? {
        Self.pointer("best", in: directory)
    }

    /// Names the checkpoint at `path` (in this store) in `DIR/best`, durably.
    public func markBest(_ path: String) throws {
        let name = (path as NSString).lastPathComponent
        guard Self.step(ofDirectoryName: name) != nil, Self.isComplete(directory + "/" + name) else {
            throw CheckpointError.noCheckpoint(path: path)
        }
        try writePointer("best", to: name)
        try DurableIO.fsyncDirectory(directory)
    }

    /// Replaces the pointer file `DIR/<pointer>` with `name` and a newline, atomically.
    private func writePointer(_ pointer: String, to name: String) throws {
        let temporary = directory + "/\(pointer).tmp"
        try DurableIO.writeDurably(Array((name + "\n").utf8), to: temporary)
        try DurableIO.renameAtomically(temporary, to: directory + "/" + pointer)
    }

    /// The paths of the complete checkpoints in the directory, oldest (lowest step) first.
    /// Temporary directories of unfinished saves are ignored.
    public func list() throws -> [String] {
        try Self.checkpoints(in: directory).map { directory + "/" + $0.name }
    }

    /// Loads and verifies a checkpoint.
    ///
    /// `path` is a checkpoint directory, or a store directory (its latest checkpoint is
    /// loaded). Checks, in order: the three files exist; `state.json` decodes and has a
    /// supported `formatVersion` and valid fields (``CheckpointState/validate(path:)``);
    /// each tensor file's SHA-256 equals the one in
    /// `state.json`; both safetensors files parse and validate. Every failure is a thrown
    /// ``CheckpointError`` naming the file.
    public static func load<C: Codable & Sendable & Equatable>(path: String, as: C.Type) throws -> LoadedCheckpoint<C> {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.noCheckpoint(path: path)
        }
        let files = [CheckpointFormat.modelFile, CheckpointFormat.optimizerFile, CheckpointFormat.stateFile]
        var checkpoint = path
        if !files.contains(where: { manager.fileExists(atPath: path + "/" + $0) }) {
            guard let latest = try latest(in: path) else { throw CheckpointError.noCheckpoint(path: path) }
            checkpoint = latest
        }
        for file in files where !manager.fileExists(atPath: checkpoint + "/" + file) {
            throw CheckpointError.incompleteCheckpoint(path: checkpoint, missing: file)
        }

        let statePath = checkpoint + "/" + CheckpointFormat.stateFile
        let state: CheckpointState<C> = try decodeState(SafeTensors.readWholeFile(statePath), path: statePath)

        var parsed: [[String: TensorRecord]] = []
        var metadata: [String: String] = [:]
        for file in [CheckpointFormat.modelFile, CheckpointFormat.optimizerFile] {
            let filePath = checkpoint + "/" + file
            guard let expected = state.files[file] else { throw CheckpointError.missingHash(path: statePath, file: file) }
            let bytes = try SafeTensors.readWholeFile(filePath)
            let actual = bytes.withUnsafeBytes { SHA256.hex(of: $0) }
            guard actual == expected.lowercased() else {
                throw CheckpointError.hashMismatch(path: checkpoint, file: file, expected: expected, actual: actual)
            }
            let contents = try SafeTensors.parse(bytes, path: filePath)
            parsed.append(contents.tensors)
            if file == CheckpointFormat.modelFile { metadata = contents.metadata }
        }
        return LoadedCheckpoint(path: checkpoint, state: state, model: parsed[0], optimizer: parsed[1], modelMetadata: metadata)
    }

    /// Decodes and validates the bytes of a `state.json`: its `formatVersion` first, then
    /// the whole state, then ``CheckpointState/validate(path:)``. `path` names the file in errors.
    static func decodeState<C: Codable & Sendable & Equatable>(_ bytes: [UInt8], path: String) throws -> CheckpointState<C> {
        let data = Data(bytes)
        let state: CheckpointState<C>
        do {
            let version = try JSONDecoder().decode(VersionProbe.self, from: data).formatVersion
            guard (CheckpointFormat.oldestReadableVersion...CheckpointFormat.version).contains(version) else {
                throw CheckpointError.unsupportedFormatVersion(path: path, found: version, supported: CheckpointFormat.version)
            }
            state = try JSONDecoder().decode(CheckpointState<C>.self, from: data)
        } catch let error as DecodingError {
            throw CheckpointError.stateUnreadable(path: path, reason: SafeTensors.describe(error))
        }
        try state.validate(path: path)
        return state
    }

    /// Checks that `loaded` holds exactly the tensors of `expected` with the same shapes.
    ///
    /// Throws ``CheckpointError/modelMismatch(file:missing:unexpected:wrongShape:)``
    /// ("checkpoint is from a different model"), listing a few missing, unexpected and
    /// wrongly shaped tensors with expected and found shapes. `file` names the checked
    /// file in the message.
    public static func verifyShapes(_ loaded: [String: TensorRecord], expected: [(name: String, shape: [Int])], file: String) throws {
        var missing: [TensorShapeMismatch] = []
        var wrongShape: [TensorShapeMismatch] = []
        var expectedNames = Set<String>()
        for (name, shape) in expected {
            expectedNames.insert(name)
            guard let record = loaded[name] else {
                missing.append(TensorShapeMismatch(name: name, expected: shape, found: nil))
                continue
            }
            if record.shape != shape {
                wrongShape.append(TensorShapeMismatch(name: name, expected: shape, found: record.shape))
            }
        }
        let unexpected = loaded.values.filter { !expectedNames.contains($0.name) }
            .sorted { $0.name < $1.name }
            .map { TensorShapeMismatch(name: $0.name, expected: nil, found: $0.shape) }
        if !missing.isEmpty || !unexpected.isEmpty || !wrongShape.isEmpty {
            throw CheckpointError.modelMismatch(file: file, missing: missing, unexpected: unexpected, wrongShape: wrongShape)
        }
    }

    /// As ``verifyShapes(_:expected:file:)``, and then checks each tensor's dtype:
    /// throws ``CheckpointError/dtypeMismatch(file:tensor:expected:found:)`` for the first
    /// tensor stored with another dtype than the model keeps (an F32 weight relabelled
    /// I32 has the same size, so only its dtype tells).
    public static func verifyTensors(
        _ loaded: [String: TensorRecord], expected: [(name: String, shape: [Int], dtype: SafeTensorsDType)], file: String
    ) throws {
        try verifyShapes(loaded, expected: expected.map { ($0.name, $0.shape) }, file: file)
        for tensor in expected where loaded[tensor.name]!.dtype != tensor.dtype {
            throw CheckpointError.dtypeMismatch(file: file, tensor: tensor.name, expected: tensor.dtype, found: loaded[tensor.name]!.dtype)
        }
    }

    /// Throws ``CheckpointError/nonFiniteValue(file:tensor:index:count:value:)`` for the
    /// first tensor (in name order) holding NaN or an infinity, naming the first index and
    /// how many such values it holds.
    public static func verifyFinite(_ loaded: [String: TensorRecord], file: String) throws {
        for name in loaded.keys.sorted() {
            let values = loaded[name]!.values
            guard let first = values.firstIndex(where: { !$0.isFinite }) else { continue }
            let count = values[first...].reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
            throw CheckpointError.nonFiniteValue(file: file, tensor: name, index: first, count: count, value: values[first])
        }
    }

    // MARK: Internals

    /// `state` as pretty-printed JSON with sorted keys and a final newline.
    static func encode<C>(_ state: CheckpointState<C>) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(state)) + [0x0A]
    }

    /// Moves the finished temporary directory to `finalPath`. An existing checkpoint there
    /// is swapped out atomically (or, where the file system cannot exchange, renamed
    /// aside first and restored if the second rename fails), then removed.
    private func commit(_ temporary: String, to finalPath: String) throws {
        if !FileManager.default.fileExists(atPath: finalPath) {
            try DurableIO.renameAtomically(temporary, to: finalPath)
            try DurableIO.fsyncDirectory(directory)
            return
        }
        if allowsExchange, try DurableIO.exchangeAtomically(temporary, finalPath) {
            try DurableIO.fsyncDirectory(directory)
            try? FileManager.default.removeItem(atPath: temporary)  // now holds the old checkpoint
            return
        }
        let aside = temporary + "-replaced"
        try DurableIO.renameAtomically(finalPath, to: aside)
        do {
            try DurableIO.renameAtomically(temporary, to: finalPath)
        } catch {
            try? DurableIO.renameAtomically(aside, to: finalPath)
            throw error
        }
        try DurableIO.fsyncDirectory(directory)
        try? FileManager.default.removeItem(atPath: aside)
    }

    /// Removes all but the newest `keep` complete checkpoints, never `justWritten` and never
    /// the one `DIR/best` names.
    private func prune(keeping justWritten: String) throws {
        let best = Self.pointer("best", in: directory).map { ($0 as NSString).lastPathComponent }
        let others = try Self.checkpoints(in: directory).filter { $0.name != justWritten && $0.name != best }
        let excess = others.count - (keep - 1)
        guard excess > 0 else { return }
        for old in others.prefix(excess) {
            // Rename first so a half-removed directory never looks like a checkpoint.
            let doomed = directory + "/.tmp-removing-\(old.name)-\(getpid())"
            try DurableIO.renameAtomically(directory + "/" + old.name, to: doomed)
            try? FileManager.default.removeItem(atPath: doomed)
        }
        try DurableIO.fsyncDirectory(directory)
    }

    /// Removes `.tmp-*` directories left by processes that are no longer running.
    private func removeStaleTemporaries() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".tmp-") {
            guard let pidText = name.split(separator: "-").last(where: { Int32($0) != nil }),
                  let pid = Int32(pidText), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
        }
    }

    /// The step of a checkpoint directory name `step-<digits>`, or nil for any other name.
    static func step(ofDirectoryName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst(5)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(digits)
    }

    /// Whether `path` holds all three files of a checkpoint.
    static func isComplete(_ path: String) -> Bool {
        [CheckpointFormat.modelFile, CheckpointFormat.optimizerFile, CheckpointFormat.stateFile]
            .allSatisfy { FileManager.default.fileExists(atPath: path + "/" + $0) }
    }

    /// The complete checkpoints in `directory`, lowest step first.
    static func checkpoints(in directory: String) throws -> [(name: String, step: Int)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw CheckpointError.io(path: directory, operation: "list directory", reason: error.localizedDescription)
        }
        return names.compactMap { name in
            guard let step = step(ofDirectoryName: name), isComplete(directory + "/" + name) else { return nil }
            return (name, step)
        }
        .sorted { $0.step < $1.step }
    }

    /// See ``latest()``.
    static func latest(in directory: String) throws -> String? {
        if let named = pointer("latest", in: directory) { return named }
        return try checkpoints(in: directory).last.map { directory + "/" + $0.name }
    }

    /// The complete checkpoint that the pointer file `DIR/<name>` names, if any.
    static func pointer(_ name: String, in directory: String) -> String? {
        guard let text = try? String(contentsOfFile: directory + "/" + name, encoding: .utf8) else { return nil }
        let target = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard step(ofDirectoryName: target) != nil, isComplete(directory + "/" + target) else { return nil }
        return directory + "/" + target
    }
}
