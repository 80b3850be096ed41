import Testing

@testable import Datasets

@Suite struct CSVTests {
    @Test func goodFileWithDetectedHeader() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("label,a,b,c,d\n1, 0.5,2,3,4\r\n\n0,-1e-2,0,0,7.25\n2,1,1,1,1", to: "x.csv")
        let d = try CSVDataset.load(path: p, sampleShape: nil, classCount: nil, hasHeader: nil)
        #expect(d.count == 3)
        #expect(d.sampleShape == [4])
        #expect(d.classCount == 3)
        #expect(d.labels == [1, 0, 2])
        assertClose(d.features, [0.5, 2, 3, 4, -0.01, 0, 0, 7.25, 1, 1, 1, 1])
    }

    @Test func headerFlagAndSampleShape() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("0,1,2,3,4\n1,5,6,7,8\n", to: "x.csv")
        // No header: first line is data.
        let d = try CSVDataset.load(path: p, sampleShape: [1, 2, 2], classCount: 4, hasHeader: false)
        #expect(d.count == 2 && d.sampleShape == [1, 2, 2] && d.classCount == 4)
        // Detection also sees a numeric first line as data.
        #expect(try CSVDataset.load(path: p, sampleShape: nil, classCount: nil, hasHeader: nil).count == 2)
        // Forced header: first line skipped.
        let h = try CSVDataset.load(path: p, sampleShape: nil, classCount: nil, hasHeader: true)
        #expect(h.count == 1 && h.labels == [1])
        assertClose(h.features, [5, 6, 7, 8])
        // Gzip works too.
        let gz = dir.file("x.csv.gz")
        try FileIO.write(Array("0,1,2\n1,3,4\n".utf8), to: gz, gzip: true)
        #expect(try CSVDataset.load(path: gz, sampleShape: nil, classCount: nil, hasHeader: nil).count == 2)
    }

    @Test func badFieldNamesLineAndField() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("label,x,y\n0,1,2\n1,3,abc\n", to: "bad.csv")
        let e = dataError { _ = try CSVDataset.load(path: p, sampleShape: nil, classCount: nil, hasHeader: nil) }
        guard case .csv(let path, let line, let reason)? = e else {
            Issue.record("got \(String(describing: e))"); return
        }
        #expect(path == p && line == 3)
        #expect(reason.contains("field 3") && reason.contains("'abc'"))
        #expect(e?.localizedDescription.contains("line 3") == true)
    }

    @Test func badLabelAndBadLines() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let cases: [(String, Int, String)] = [
            ("0,1,2\n1.5,3,4\n", 2, "field 1"),  // non-integer label
            ("0,1,2\nx,3,4\n", 2, "field 1"),  // non-numeric label after data started
            ("0,1,2\n1,3,,4\n", 2, "field 3"),  // empty field
            ("0,1,2\n1,3,4,\n", 2, "empty"),  // trailing comma
            ("0,1,2\n1\n", 2, "ragged"),  // label only
            ("0,1,2\n-1,3,4\n", 2, "negative"),
            ("0,1,2\n0,1e99,4\n", 2, "field 2"),  // overflows Float
            ("0,1,2\n7,1,4\n", 2, "outside 0..<5"),  // label >= classCount
        ]
        for (text, line, fragment) in cases {
            let p = try dir.write(text, to: "c.csv")
            let e = dataError { _ = try CSVDataset.load(path: p, sampleShape: nil, classCount: 5, hasHeader: false) }
            guard case .csv(_, let l, let reason)? = e else {
                Issue.record("\(text.debugDescription): got \(String(describing: e))"); continue
            }
            #expect(l == line, "\(text.debugDescription)")
            #expect(reason.contains(fragment), "\(text.debugDescription): \(reason)")
        }
    }

    @Test func raggedRowIsRejected() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("0,1,2,3\n1,4,5,6\n\n2,7,8\n", to: "r.csv")
        let e = dataError { _ = try CSVDataset.load(path: p, sampleShape: nil, classCount: nil, hasHeader: nil) }
        guard case .csv(_, let line, let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(line == 4)
        #expect(reason.contains("expected 3") && reason.contains("found 2"))
    }

    @Test func shapeMismatchAndEmptyFile() throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let p = try dir.write("0,1,2,3\n", to: "s.csv")
        let e = dataError { _ = try CSVDataset.load(path: p, sampleShape: [2, 2], classCount: nil, hasHeader: nil) }
        guard case .csv(_, _, let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(reason.contains("3 features") && reason.contains("[2, 2]"))
        let empty = try dir.write("a,b,c\n\n", to: "e.csv")
        guard case .csv? = dataError({ _ = try CSVDataset.load(path: empty, sampleShape: nil, classCount: nil, hasHeader: nil) })
        else { Issue.record("empty file accepted"); return }
    }
}
