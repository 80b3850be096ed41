import Foundation
import Testing

@testable import Datasets

/// A fresh temporary directory for one test; removed by `remove()`.
struct TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "lockstep-data-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ text: String, to name: String) throws -> String {
        let p = file(name)
        try FileIO.write(Array(text.utf8), to: p)
        return p
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The raw bytes on disk (no decompression).
func rawBytes(_ path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
}

/// Runs `body`, which must throw a `DataError`, and returns that error (records an issue otherwise).
func dataError(
    _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
) -> DataError? {
    do {
        try body()
        Issue.record("expected a DataError, nothing was thrown", sourceLocation: sourceLocation)
    } catch let e as DataError {
        return e
    } catch {
        Issue.record("expected a DataError, got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// `|a - b| <= atol + rtol * |b|` element-wise.
func assertClose(
    _ a: [Float], _ b: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(a.count == b.count, "count \(a.count) vs \(b.count)", sourceLocation: sourceLocation)
    for (i, (x, y)) in zip(a, b).enumerated() where !(abs(x - y) <= atol + rtol * abs(y)) {
        Issue.record("element \(i): \(x) vs \(y)", sourceLocation: sourceLocation)
        return
    }
}

/// A small MNIST-style images/labels pair written into `dir`.
func writeMNISTPair(
    in dir: TempDir, prefix: String, count: Int, rows: Int = 4, cols: Int = 3, gzip: Bool,
    labels: [UInt8]? = nil
) throws -> (images: String, labels: String, pixels: [UInt8], labelBytes: [UInt8]) {
    let pixels = (0..<(count * rows * cols)).map { UInt8(($0 * 37) % 256) }
    let labs = labels ?? (0..<count).map { UInt8($0 % 10) }
    let suffix = gzip ? ".gz" : ""
    let ip = dir.file("\(prefix)-images-idx3-ubyte\(suffix)")
    let lp = dir.file("\(prefix)-labels-idx1-ubyte\(suffix)")
    try IDX.write(dimensions: [count, rows, cols], bytes: pixels, to: ip, gzip: gzip)
    try IDX.write(dimensions: [labs.count], bytes: labs, to: lp, gzip: gzip)
    return (ip, lp, pixels, labs)
}
