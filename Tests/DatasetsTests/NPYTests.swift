import Testing

@testable import Datasets

/// Builds a `.npy` file by hand, to test what NPY.write never produces.
func npyBytes(descr: String, fortran: Bool = false, shape: String, payload: [UInt8], major: UInt8 = 1)
    -> [UInt8]
{
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
    let prefix = major == 1 ? 10 : 12
    while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    let n = header.utf8.count
    var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
    out += major == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8), 0, 0]
    return out + Array(header.utf8) + payload
}

func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: v.littleEndian >> ($0 * 8)) } }
}

@Suite struct NPYTests {
    @Test(arguments: [[2, 3], [6], [1, 2, 3], [0, 4], []])
    func roundTrip(shape: [Int]) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let values = (0..<shape.reduce(1, *)).map { Float($0) * 0.25 - 1 }
        let p = dir.file("a.npy")
        try NPY.write(values, shape: shape, to: p)
        let raw = rawBytes(p)
        #expect((raw.count - values.count * 4) % 64 == 0, "header padded to 64 bytes")
        let a = try NPY.read(path: p)
        #expect(a.shape == shape && a.dtype == .float32)
        #expect(a.floats() == values)
    }

    @Test func int64RoundTrip() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let values: [Int64] = [0, -1, 7, Int64.max, Int64.min, 3]
        let p = dir.file("c.npy")
        try NPY.write(values, shape: [2, 3], to: p)
        let a = try NPY.read(path: p)
        #expect(a.shape == [2, 3] && a.dtype.rawValue == "<i8")
        #expect(a.integers() == values)
    }

    @Test func headerVersions2And3AndOtherDtypes() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("v.npy")
        for major: UInt8 in [2, 3] {
            try FileIO.write(npyBytes(descr: "<i4", shape: "(3,)", payload: littleEndian([Int32(-1), 5, 9]), major: major), to: p)
            let a = try NPY.read(path: p)
            #expect(a.shape == [3] && a.dtype == .int32 && a.integers() == [-1, 5, 9])
        }
        let f8 = littleEndian([1.5, -2.0].map { (x: Double) in x.bitPattern })
        try FileIO.write(npyBytes(descr: "<f8", shape: "(2,)", payload: f8), to: p)
        #expect(try NPY.read(path: p).floats() == [1.5, -2])
        #expect(try NPY.read(path: p).integers() == nil)
        try FileIO.write(npyBytes(descr: "|u1", shape: "(2, 2)", payload: [0, 1, 255, 7]), to: p)
        #expect(try NPY.read(path: p).floats() == [0, 1, 255, 7])
        try FileIO.write(npyBytes(descr: "<i8", shape: "(2,)", payload: littleEndian([Int64(3), 4])), to: p)
        #expect(try NPY.read(path: p).integers() == [3, 4])
    }

    @Test func rejectedFiles() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("bad.npy")
        let four = [UInt8](repeating: 0, count: 16)
        let cases: [([UInt8], String)] = [
            (Array("not numpy at all".utf8), "magic"),
            (npyBytes(descr: "<f4", fortran: true, shape: "(2, 2)", payload: four), "Fortran"),
            (npyBytes(descr: ">f4", shape: "(2, 2)", payload: four), "big-endian"),
            (npyBytes(descr: "<c8", shape: "(2,)", payload: four), "'<c8' is not supported"),
            (npyBytes(descr: "<f4", shape: "(2, 3)", payload: four), "needs 24 payload bytes, found 16"),
            (npyBytes(descr: "<f4", shape: "(2, 1)", payload: four), "trailing"),
            (npyBytes(descr: "<f4", shape: "(2, 2)", payload: four, major: 4), "version 4.0"),
            (npyBytes(descr: "<f4", shape: "(2, x)", payload: four), "shape entry"),
            (Array(npyBytes(descr: "<f4", shape: "(4,)", payload: four).prefix(30)), "truncated"),
        ]
        for (bytes, fragment) in cases {
            try FileIO.write(bytes, to: p)
            let e = dataError { _ = try NPY.read(path: p) }
            guard case .npy(let path, let reason)? = e else {
                Issue.record("\(fragment): got \(String(describing: e))"); continue
            }
            #expect(path == p)
            #expect(reason.contains(fragment), "expected '\(fragment)' in: \(reason)")
        }
    }

    @Test func datasetFromFeaturesAndLabels() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let x = dir.file("x.npy"), y = dir.file("y.npy")
        let values = (0..<24).map(Float.init)
        try NPY.write(values, shape: [3, 2, 4], to: x)
        try FileIO.write(npyBytes(descr: "<i8", shape: "(3,)", payload: littleEndian([Int64(2), 0, 1])), to: y)
        let d = try NPYDataset.load(featuresPath: x, labelsPath: y, sampleShape: nil, classCount: nil)
        #expect(d.count == 3 && d.sampleShape == [2, 4] && d.classCount == 3 && d.labels == [2, 0, 1])
        #expect(d.features == values)
        let r = try NPYDataset.load(featuresPath: x, labelsPath: y, sampleShape: [1, 2, 4], classCount: 10)
        #expect(r.sampleShape == [1, 2, 4] && r.classCount == 10)

        // Float labels, mismatched counts, wrong sample shape, label out of range.
        let yf = dir.file("yf.npy")
        try NPY.write([Float](arrayLiteral: 0, 1, 2), shape: [3], to: yf)
        guard case .npy(_, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: yf) })
        else { Issue.record("float labels accepted"); return }
        #expect(reason.contains("integer dtype"))
        let y2 = dir.file("y2.npy")
        try FileIO.write(npyBytes(descr: "|u1", shape: "(2,)", payload: [0, 1]), to: y2)
        #expect(dataError { _ = try NPYDataset.load(featuresPath: x, labelsPath: y2) }
            == .countMismatch(featuresPath: x, featureCount: 3, labelsPath: y2, labelCount: 2))
        guard case .npy? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y, sampleShape: [3, 3]) })
        else { Issue.record("wrong sample shape accepted"); return }
        #expect(dataError { _ = try NPYDataset.load(featuresPath: x, labelsPath: y, classCount: 2) }
            == .labelOutOfRange(path: y, index: 0, label: 2, classCount: 2))
    }
}
