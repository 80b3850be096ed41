import Foundation

/// Every way loading or preparing data can fail because of bad input from outside
/// (a missing or corrupt file, a malformed CSV line, a dataset too small for the batch).
///
/// Each message says which file (or value), what was expected and what was found, and
/// what to do about it, so the CLI can print `error.localizedDescription` as one line.
///
/// ```swift
/// do { _ = try IDX.read(path: "x.idx") }
/// catch let e as DataError { print(e.localizedDescription) }
/// ```
public enum DataError: Error, LocalizedError, Equatable, Sendable {
    /// The directory that should hold a dataset does not exist; `hint` says how to get one.
    case directoryNotFound(path: String, hint: String)
    /// A required file is absent; `tried` lists the names looked for, `hint` how to get it.
    case fileNotFound(path: String, tried: [String], hint: String)
    /// The file exists but could not be opened or read (permissions, I/O error).
    case readFailed(path: String, reason: String)
    /// The file could not be written.
    case writeFailed(path: String, reason: String)
    /// The gzip stream is truncated or corrupt.
    case corruptGzip(path: String, reason: String)
    /// An IDX file starts with the wrong magic number.
    case badMagic(path: String, expected: UInt32, found: UInt32)
    /// A file is well formed but not the kind asked for (element type, dimension count).
    case unsupportedFormat(path: String, reason: String)
    /// The payload size does not match the size the header's dimensions imply.
    case sizeMismatch(path: String, dimensions: [Int], expectedBytes: Int, foundBytes: Int)
    /// A label is outside `0..<classCount`.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// The features (images) and labels files hold different numbers of samples.
    case countMismatch(featuresPath: String, featureCount: Int, labelsPath: String, labelCount: Int)
    /// A CSV file has a bad line; `line` is 1-based.
    case csv(path: String, line: Int, reason: String)
    /// A NumPy `.npy` file is malformed or of an unsupported kind.
    case npy(path: String, reason: String)
    /// Arrays handed to `Dataset.init` do not fit together.
    case invalidDataset(reason: String)
    /// A sampler's configuration makes no sense (e.g. fewer samples than one global batch).
    case invalidSampler(reason: String)
    /// Normalization statistics that cannot be applied (empty, mismatched, std <= 0).
    case invalidNormalization(reason: String)

    /// A one-line message: where, what was wrong (expected vs found), and what to do.
    public var errorDescription: String? {
        switch self {
        case let .directoryNotFound(path, hint):
            return "data directory '\(path)' does not exist. \(hint)"
        case let .fileNotFound(path, tried, hint):
            let names = tried.isEmpty ? "" : " (looked for \(tried.joined(separator: ", ")))"
            return "data file '\(path)' not found\(names). \(hint)"
        case let .readFailed(path, reason):
            return "cannot read '\(path)': \(reason). Check that the file exists and is readable."
        case let .writeFailed(path, reason):
            return "cannot write '\(path)': \(reason). Check that the directory exists and is writable."
        case let .corruptGzip(path, reason):
            return "'\(path)' is a truncated or corrupt gzip file (\(reason)). "
                + "Download or reinstall the file; `gzip -t` checks it."
        case let .badMagic(path, expected, found):
            return "'\(path)' is not the expected IDX file: magic number expected "
                + "\(hex(expected)), found \(hex(found)). Check that the images and labels files "
                + "are not swapped and that the file is an MNIST-style IDX file."
        case let .unsupportedFormat(path, reason):
            return "'\(path)': \(reason)."
        case let .sizeMismatch(path, dims, expected, found):
            let what = found < expected ? "the file is truncated" : "the file has trailing bytes"
            return "'\(path)': dimensions \(dims) need \(expected) payload bytes, found \(found) "
                + "(\(what)). Download or reinstall the file."
        case let .labelOutOfRange(path, index, label, classCount):
            return "'\(path)': label \(label) of sample \(index) is outside 0..<\(classCount). "
                + "Check the class count or the labels file."
        case let .countMismatch(fPath, fCount, lPath, lCount):
            return "'\(fPath)' holds \(fCount) samples but '\(lPath)' holds \(lCount) labels; "
                + "they must agree. Check that both files belong to the same split."
        case let .csv(path, line, reason):
            return "'\(path)' line \(line): \(reason). Each line must read `label,f1,f2,...`."
        case let .npy(path, reason):
            return "'\(path)': \(reason)."
        case let .invalidDataset(reason):
            return "invalid dataset: \(reason)."
        case let .invalidSampler(reason):
            return "invalid sampler: \(reason)."
        case let .invalidNormalization(reason):
            return "invalid normalization: \(reason)."
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}
