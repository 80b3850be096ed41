import Testing

@testable import Datasets

/// Headers and values that claim sizes or numbers beyond what the types can hold: each
/// must be a thrown ``DataError`` naming the file, never a trap. (Regression tests: every
/// one of these once crashed the process.)
@Suite struct OversizeInputTests {
    /// A features/labels pair of NPY files in `dir`.
    private func pair(_ dir: TempDir, features: [UInt8], labels: [UInt8]) throws -> (String, String) {
        let x = dir.file("x.npy"), y = dir.file("y.npy")
        try FileIO.write(features, to: x)
        try FileIO.write(labels, to: y)
        return (x, y)
    }

    private func twoFloats() -> [UInt8] {
        npyBytes(descr: "<f4", shape: "(2, 1)", payload: littleEndian([Float(0.5).bitPattern, Float(1).bitPattern]))
    }

    @Test(arguments: [Int64.max, 2_550_136_836, Int64(Int32.max), -1])
    func npyLabelBeyondInt32IsRefused(label: Int64) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let (x, y) = try pair(dir, features: twoFloats(), labels: npyBytes(descr: "<i8", shape: "(2,)", payload: littleEndian([Int64(1), label])))
        guard case .npy(let path, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y) }) else { return }
        #expect(path == y)
        #expect(reason.contains("label \(label) of sample 1"), "\(reason)")
    }

    @Test func npyLabelOfUInt64MaxIsRefused() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let (x, y) = try pair(dir, features: twoFloats(), labels: npyBytes(descr: "<u8", shape: "(2,)", payload: littleEndian([UInt64(0), UInt64.max])))
        guard case .npy(_, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y) }) else { return }
        #expect(reason.contains("of sample 1"), "\(reason)")
    }

    @Test(arguments: ["(2305843009213693952,)", "(9223372036854775807, 2)", "(99999999999999999999,)"])
    func npyShapeWhoseByteCountOverflowsIsRefused(shape: String) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = dir.file("huge.npy")
        try FileIO.write(npyBytes(descr: "<f8", shape: shape, payload: [0, 0, 0, 0, 0, 0, 0, 0]), to: p)
        guard case .npy(let path, let reason)? = dataError({ _ = try NPY.read(path: p) }) else { return }
        #expect(path == p)
        #expect(reason.contains("corrupt") || reason.contains("below 2^63"), "\(reason)")
    }

    @Test func npyEmptyArrayWithHugeSamplesIsRefused() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        // (0, 2^40, 2^40): zero elements, so the file itself is consistent; the samples are not.
        let (x, y) = try pair(dir, features: npyBytes(descr: "<f4", shape: "(0, 1099511627776, 1099511627776)", payload: []),
                              labels: npyBytes(descr: "<i8", shape: "(0,)", payload: []))
        guard case .npy(let path, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y) }) else { return }
        #expect(path == x)
        #expect(reason.contains("[1099511627776, 1099511627776]"), "\(reason)")
    }

    @Test(arguments: [Float.nan, Float.infinity, -Float.infinity])
    func npyNonFiniteFeatureIsRefusedWithItsIndex(bad: Float) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let values: [Float] = [0, 1, 2, 3, bad, 5]
        let (x, y) = try pair(dir, features: npyBytes(descr: "<f4", shape: "(3, 2)", payload: littleEndian(values.map(\.bitPattern))),
                              labels: npyBytes(descr: "<i8", shape: "(3,)", payload: littleEndian([Int64(0), 1, 0])))
        guard case .npy(let path, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y) }) else { return }
        #expect(path == x)
        #expect(reason.contains("value 0 of sample 2 (element 4)"), "\(reason)")
        #expect(reason.contains(bad.isNaN ? "NaN" : "infinity"), "\(reason)")
    }

    @Test func npyFloat64BeyondFloatRangeIsRefused() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let (x, y) = try pair(dir, features: npyBytes(descr: "<f8", shape: "(2,)", payload: littleEndian([Double(1).bitPattern, Double(1e300).bitPattern])),
                              labels: npyBytes(descr: "<i8", shape: "(2,)", payload: littleEndian([Int64(0), 1])))
        guard case .npy(_, let reason)? = dataError({ _ = try NPYDataset.load(featuresPath: x, labelsPath: y) }) else { return }
        #expect(reason.contains("sample 1") && reason.contains("float64"), "\(reason)")
    }

    @Test(arguments: ["99999999999999999999", "9223372036854775807", "2147483647", "-99999999999999999999"])
    func csvLabelBeyondInt32IsRefused(label: String) throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("0,1,2\n\(label),3,4\n", to: "c.csv")
        guard case .csv(_, let line, let reason)? = dataError({ _ = try CSVDataset.load(path: p, hasHeader: false) }) else { return }
        #expect(line == 2)
        #expect(reason.contains("'\(label)'"), "\(reason)")
    }
}
