// libFuzzer entry point for Lockstep's parsers of outside input. scripts/fuzz.sh compiles
// this file together with the parsers' sources (Datasets, Randomness, Checkpoints) as one
// module, with -sanitize=fuzzer,address, and picks the parser with LOCKSTEP_FUZZ_TARGET:
// idx, npy, csv, safetensors or state.
//
// A parser may throw on any input; it must never trap, hang or touch memory it does not own.

import Foundation

/// The parser under test, read once.
private let target: String = {
    let name = ProcessInfo.processInfo.environment["LOCKSTEP_FUZZ_TARGET"] ?? ""
    guard ["idx", "npy", "csv", "safetensors", "state"].contains(name) else {
        FileHandle.standardError.write(Data("set LOCKSTEP_FUZZ_TARGET to idx, npy, csv, safetensors or state\n".utf8))
        exit(2)
    }
    return name
}()

/// Splits an input in two: the first two bytes (little-endian) give the first part's
/// length, modulo what follows. Targets that read a pair of files use it.
private func split(_ bytes: [UInt8]) -> ([UInt8], [UInt8]) {
    guard bytes.count >= 2 else { return (bytes, []) }
    let rest = Array(bytes[2...])
    let cut = (Int(bytes[0]) | Int(bytes[1]) << 8) % (rest.count + 1)
    return (Array(rest[..<cut]), Array(rest[cut...]))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func lockstepFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch target {
    case "idx":
        _ = try? IDX.parseHeader(bytes, path: "fuzz.idx", expectedMagic: nil)
        let (images, labels) = split(bytes)
        _ = try? MNISTStyle.parse(images: images, imagesPath: "images.idx", labels: labels, labelsPath: "labels.idx",
                                  classCount: 10, name: "fuzz")
    case "npy":
        if let a = try? NPY.parse(bytes, path: "fuzz.npy") { _ = a.floats(); _ = a.integers() }
        let (x, y) = split(bytes)
        if let features = try? NPY.parse(x, path: "x.npy"), let labels = try? NPY.parse(y, path: "y.npy") {
            _ = try? NPYDataset.make(features: features, labels: labels, featuresPath: "x.npy", labelsPath: "y.npy",
                                     sampleShape: nil, classCount: nil)
        }
    case "csv":
        _ = try? CSVDataset.parse(bytes, path: "fuzz.csv")
        _ = try? CSVDataset.parse(bytes, path: "fuzz.csv", sampleShape: [2, 2], classCount: 3, hasHeader: false)
    case "safetensors":
        if let (tensors, _) = try? SafeTensors.parse(bytes, path: "fuzz.safetensors") {
            let layout: [(name: String, shape: [Int], dtype: SafeTensorsDType)] = [("0.weight", [3, 4], .f32), ("0.bias", [3], .f32)]
            _ = try? CheckpointStore.verifyTensors(tensors, expected: layout, file: "fuzz.safetensors")
            _ = try? CheckpointStore.verifyFinite(tensors, file: "fuzz.safetensors")
        }
    default:  // state
        _ = try? CheckpointStore.decodeState(bytes, path: "state.json") as CheckpointState<FuzzConfiguration>
    }
    return 0
}

/// A stand-in for the trainer's configuration in `state.json` (the fields a checkpoint's
/// `configuration` holds that have fixed types; unknown keys are ignored as by the trainer).
struct FuzzConfiguration: Codable, Sendable, Equatable {
    var model: String
    var dataset: String
    var epochs: Int
    var batchSize: Int
    var accumulate: Int
    var learningRate: Float
    var bucketMB: Double
    var seed: UInt64
    var trainLimit: Int?
    var maxSteps: Int?
}
