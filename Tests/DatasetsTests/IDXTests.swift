import Testing

@testable import Datasets

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func validFileRoundTrips(gzip: Bool) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "train", count: 5, gzip: gzip)
        if gzip { #expect(rawBytes(pair.images).prefix(2) == [0x1F, 0x8B]) }
        let (dims, bytes) = try IDX.read(path: pair.images)
        #expect(dims == [5, 4, 3])
        #expect(bytes == pair.pixels)
        #expect(try IDX.readLabels(path: pair.labels) == pair.labelBytes)

        let d = try MNISTStyle.load(imagesPath: pair.images, labelsPath: pair.labels, name: "t")
        #expect(d.count == 5)
        #expect(d.sampleShape == [1, 4, 3])
        #expect(d.labels == pair.labelBytes.map { Int32($0) })
        assertClose(d.features, pair.pixels.map { Float($0) / 255 })
    }

    @Test func wrongMagicIsRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "train", count: 3, gzip: false)
        // A labels file where an images file is expected, and vice versa.
        let e1 = dataError { _ = try IDX.readImages(path: pair.labels) }
        #expect(e1 == .badMagic(path: pair.labels, expected: 0x803, found: 0x801))
        let message = e1?.localizedDescription ?? ""
        #expect(message.contains(pair.labels) && message.contains("0x00000803") && message.contains("0x00000801"))
        let e2 = dataError { _ = try IDX.readLabels(path: pair.images) }
        #expect(e2 == .badMagic(path: pair.images, expected: 0x801, found: 0x803))
        // Garbage in the first two bytes.
        var bytes = rawBytes(pair.images)
        bytes[0] = 0x12
        let bad = dir.file("bad")
        try FileIO.write(bytes, to: bad)
        let e3 = dataError { _ = try IDX.read(path: bad) }
        guard case .badMagic(let p, _, let found)? = e3 else {
            Issue.record("got \(String(describing: e3))"); return
        }
        #expect(p == bad && found == 0x1200_0803)
    }

    @Test func nonByteElementTypeIsRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("float.idx")
        try FileIO.write([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], to: p)
        let e = dataError { _ = try IDX.read(path: p) }
        guard case .unsupportedFormat(let path, let reason)? = e else {
            Issue.record("got \(String(describing: e))"); return
        }
        #expect(path == p && reason.contains("0x08") && reason.contains("0xd"))
    }

    @Test func dimensionsDisagreeingWithSizeAreRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        // Header says [2, 2, 2] = 8 bytes, payload has 10.
        var bytes: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]
        bytes += [UInt8](repeating: 7, count: 10)
        let p = dir.file("long")
        try FileIO.write(bytes, to: p)
        let e = dataError { _ = try IDX.read(path: p) }
        #expect(e == .sizeMismatch(path: p, dimensions: [2, 2, 2], expectedBytes: 8, foundBytes: 10))
        #expect(e?.localizedDescription.contains("trailing") == true)
    }

    @Test(arguments: [false, true])
    func truncatedPayloadIsRejected(gzip: Bool) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let full = try FileIO.readAll(path: try writeMNISTPair(in: dir, prefix: "a", count: 4, gzip: false).images)
        let p = dir.file("short" + (gzip ? ".gz" : ""))
        try FileIO.write(Array(full.dropLast(5)), to: p, gzip: gzip)
        let e = dataError { _ = try IDX.readImages(path: p) }
        #expect(e == .sizeMismatch(path: p, dimensions: [4, 4, 3], expectedBytes: 48, foundBytes: 43))
        #expect(e?.localizedDescription.contains("truncated") == true)
        // Truncated inside the header.
        try FileIO.write(Array(full.prefix(9)), to: p, gzip: gzip)
        guard case .unsupportedFormat(let path, _)? = dataError({ _ = try IDX.readImages(path: p) }) else {
            Issue.record("header truncation not reported"); return
        }
        #expect(path == p)
    }

    @Test func truncatedGzipIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "t", count: 50, rows: 28, cols: 28, gzip: true)
        let gz = rawBytes(pair.images)
        let p = dir.file("cut.gz")
        for keep in [gz.count - 3, gz.count / 2, 12] {
            try FileIO.write(Array(gz.prefix(keep)), to: p)
            let e = dataError { _ = try IDX.read(path: p) }
            guard case .corruptGzip(let path, _)? = e else {
                Issue.record("keep \(keep): got \(String(describing: e))"); continue
            }
            #expect(path == p)
        }
    }

    @Test func corruptGzipStreamIsAnError() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "t", count: 50, rows: 28, cols: 28, gzip: true)
        var gz = rawBytes(pair.images)
        for i in 20..<min(60, gz.count - 8) { gz[i] ^= 0xA5 }
        let p = dir.file("corrupt.gz")
        try FileIO.write(gz, to: p)
        let e = dataError { _ = try IDX.read(path: p) }
        guard case .corruptGzip? = e else { Issue.record("got \(String(describing: e))"); return }
    }

    @Test func labelOutOfRangeIsRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "t", count: 4, gzip: false, labels: [0, 3, 10, 1])
        let e = dataError { _ = try MNISTStyle.load(imagesPath: pair.images, labelsPath: pair.labels, name: "t") }
        #expect(e == .labelOutOfRange(path: pair.labels, index: 2, label: 10, classCount: 10))
        // The same labels are fine with more classes.
        let d = try MNISTStyle.load(imagesPath: pair.images, labelsPath: pair.labels, classCount: 11, name: "t")
        #expect(d.classCount == 11 && d.labels[2] == 10)
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let pair = try writeMNISTPair(in: dir, prefix: "t", count: 4, gzip: true, labels: [0, 1, 2])
        let e = dataError { _ = try MNISTStyle.load(imagesPath: pair.images, labelsPath: pair.labels, name: "t") }
        #expect(e == .countMismatch(featuresPath: pair.images, featureCount: 4, labelsPath: pair.labels, labelCount: 3))
        #expect(e?.localizedDescription.contains("4 samples") == true)
    }

    @Test func highlyCompressibleGzipIsReadCompletely() throws {
        // 1 MB of mostly zeros compress ~1000x, far past the reader's size hint.
        let dir = try TempDir()
        defer { dir.remove() }
        var bytes = [UInt8](repeating: 0, count: 1_000_000)
        bytes[999_999] = 42
        let p = dir.file("zeros.gz")
        try IDX.write(dimensions: [1000, 1000], bytes: bytes, to: p, gzip: true)
        #expect(rawBytes(p).count < 10_000)
        let (dims, read) = try IDX.read(path: p)
        #expect(dims == [1000, 1000])
        #expect(read.count == 1_000_000 && read.last == 42 && read.dropLast().allSatisfy { $0 == 0 })
    }

    @Test func missingFileIsAnError() throws {
        let e = dataError { _ = try IDX.read(path: "/nonexistent/lockstep/file.idx") }
        guard case .fileNotFound(let p, _, _)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(p == "/nonexistent/lockstep/file.idx")
    }
}
