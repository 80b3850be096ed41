import Foundation
import Testing

@testable import Datasets

@Suite struct FashionMNISTTests {
    @Test(.enabled(if: FileIO.isDirectory(FashionMNIST.defaultDirectory),
                   "needs Fashion-MNIST in \(FashionMNIST.defaultDirectory) (apt-get install dataset-fashion-mnist)"))
    func realFilesLoad() throws {
        let start = Date()
        let (train, test) = try FashionMNIST.load()
        print("Fashion-MNIST loaded in \(String(format: "%.3f", Date().timeIntervalSince(start))) s")
        #expect(train.count == 60_000)
        #expect(test.count == 10_000)
        #expect(train.classCount == 10 && test.classCount == 10)
        #expect(train.sampleShape == [1, 28, 28] && test.sampleShape == [1, 28, 28])
        #expect(train.features.count == 60_000 * 784)
        #expect(train.classCounts() == [Int](repeating: 6_000, count: 10))
        #expect(test.classCounts() == [Int](repeating: 1_000, count: 10))
        let trainRange = valueRange(train.features)
        #expect(trainRange.min == 0 && trainRange.max == 1, "pixel range \(trainRange)")
        let testRange = valueRange(test.features)
        #expect(testRange.min >= 0 && testRange.max <= 1, "pixel range \(testRange)")
        // Known first labels of the training split: Ankle boot, T-shirt/top, T-shirt/top.
        #expect(Array(train.labels.prefix(3)) == [9, 0, 0])
    }

    @Test func anyMNISTStyleDirectoryLoads() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        _ = try writeMNISTPair(in: dir, prefix: "train", count: 20, rows: 28, cols: 28, gzip: true)
        _ = try writeMNISTPair(in: dir, prefix: "t10k", count: 7, rows: 28, cols: 28, gzip: false)
        let (train, test) = try FashionMNIST.load(directory: dir.path)
        #expect(train.count == 20 && test.count == 7)
        #expect(train.sampleShape == [1, 28, 28])
        #expect(train.features.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(train.labels == (0..<20).map { Int32($0 % 10) })
    }

    @Test func missingDirectoryNamesPackageAndFlag() {
        let e = dataError { _ = try FashionMNIST.load(directory: "/nonexistent/lockstep-fmnist") }
        guard case .directoryNotFound(let p, _)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(p == "/nonexistent/lockstep-fmnist")
        let m = e?.localizedDescription ?? ""
        #expect(m.contains("apt-get install dataset-fashion-mnist"))
        #expect(m.contains("--data DIR"))
    }

    @Test func missingFileNamesPackageAndFlag() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        _ = try writeMNISTPair(in: dir, prefix: "train", count: 3, gzip: true)
        let e = dataError { _ = try FashionMNIST.load(directory: dir.path) }
        guard case .fileNotFound(let p, let tried, _)? = e else {
            Issue.record("got \(String(describing: e))"); return
        }
        #expect(p.hasSuffix("t10k-images-idx3-ubyte"))
        #expect(tried.contains("t10k-images-idx3-ubyte.gz"))
        let m = e?.localizedDescription ?? ""
        #expect(m.contains("dataset-fashion-mnist") && m.contains("--data DIR"))
    }
}

/// The smallest and largest value (one pass over the buffer; fast in debug builds too).
func valueRange(_ values: [Float]) -> (min: Float, max: Float) {
    values.withUnsafeBufferPointer { b in
        var lo = Float.infinity, hi = -Float.infinity
        for v in b {
            lo = Swift.min(lo, v)
            hi = Swift.max(hi, v)
        }
        return (lo, hi)
    }
}
