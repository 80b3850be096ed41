#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Loads a classification dataset from a CSV file (plain or gzip), one sample per line:
/// `label,f1,f2,...,fF`, the label an integer in `0..<classCount`, the features numbers.
///
/// - `hasHeader`: `true` skips the first non-blank line, `false` parses it as data, `nil`
///   detects a header: the first line is a header when any of its fields is not a number.
/// - `sampleShape`: the shape of one sample, whose product must equal F; `nil` gives `[F]`.
/// - `classCount`: `nil` takes the largest label + 1.
///
/// Blank lines are skipped; `\r\n` line ends are accepted; spaces around fields are
/// ignored. A bad field, a ragged row or a label out of range throws
/// ``DataError/csv(path:line:reason:)`` naming the 1-based line and the field.
///
/// ```swift
/// let d = try CSVDataset.load(path: "iris.csv", sampleShape: nil, classCount: 3, hasHeader: nil)
/// ```
public enum CSVDataset {
    /// Reads the file at `path`; see the type's documentation.
    public static func load(
        path: String, sampleShape: [Int]? = nil, classCount: Int? = nil, hasHeader: Bool? = nil
    ) throws -> Dataset {
        try parse(FileIO.readAll(path: path), path: path, sampleShape: sampleShape, classCount: classCount, hasHeader: hasHeader)
    }

    /// As ``load(path:sampleShape:classCount:hasHeader:)``, from the file's bytes; `path`
    /// only names the file in errors.
    static func parse(
        _ contents: [UInt8], path: String, sampleShape: [Int]? = nil, classCount: Int? = nil, hasHeader: Bool? = nil
    ) throws -> Dataset {
        if let k = classCount, k <= 0 {
            throw DataError.invalidDataset(reason: "class count \(k) for '\(path)' must be positive")
        }
        var bytes = contents
        bytes.append(0)  // strtof/strtol stop at the terminator
        var features = [Float]()
        var labels = [Int32]()
        var featureCount = -1
        var firstDataLine = 0
        try bytes.withUnsafeBufferPointer { raw in
            let buf = UnsafeRawPointer(raw.baseAddress!).assumingMemoryBound(to: CChar.self)
            let total = raw.count - 1
            var lineStart = 0
            var lineNumber = 0
            var headerDecided = hasHeader == false
            while lineStart < total {
                lineNumber += 1
                var lineEnd = lineStart
                while lineEnd < total && buf[lineEnd] != 10 { lineEnd += 1 }
                let next = lineEnd + 1
                var end = lineEnd
                if end > lineStart && buf[end - 1] == 13 { end -= 1 }
                defer { lineStart = next }
                var p = lineStart
                while p < end && isBlank(buf[p]) { p += 1 }
                if p == end { continue }  // blank line
                if !headerDecided {
                    headerDecided = true
                    if hasHeader == true || !lineIsNumeric(buf, from: lineStart, to: end) { continue }
                }
                // Label.
                var fieldIndex = 1
                let label = try parseField(buf, &p, end: end, integer: true) {
                    DataError.csv(path: path, line: lineNumber,
                                  reason: "field 1 (label) '\(fieldText(buf, $0, end))' is not an integer")
                }
                // strtol clamps a huge label to Int.max; the text is quoted, never the value,
                // which may not fit an Int.
                guard label >= 0, label < Double(Int32.max) else {
                    throw DataError.csv(path: path, line: lineNumber,
                                        reason: "label '\(fieldText(buf, lineStart, end))' is negative or larger than \(Int32.max - 1); labels are class indices")
                }
                if let k = classCount, Int(label) >= k {
                    throw DataError.csv(path: path, line: lineNumber,
                                        reason: "label \(Int(label)) is outside 0..<\(k) (class count \(k))")
                }
                labels.append(Int32(label))
                let before = features.count
                while p < end {
                    // parseField left p just past a comma.
                    fieldIndex += 1
                    let index = fieldIndex
                    let v = try parseField(buf, &p, end: end, integer: false) {
                        DataError.csv(path: path, line: lineNumber,
                                      reason: "field \(index) '\(fieldText(buf, $0, end))' is not a finite number")
                    }
                    features.append(Float(v))
                }
                if buf[end - 1] == 44 {  // trailing comma: an empty last field
                    throw DataError.csv(path: path, line: lineNumber,
                                        reason: "field \(fieldIndex + 1) is empty (trailing comma)")
                }
                let found = features.count - before
                if featureCount < 0 {
                    guard found > 0 else {
                        throw DataError.csv(path: path, line: lineNumber,
                                            reason: "the row has a label but no features")
                    }
                    featureCount = found
                    firstDataLine = lineNumber
                    // Room for the rows the file's size suggests (never more values than bytes).
                    let (guess, overflow) = found.multipliedReportingOverflow(by: max(16, total / max(1, next - lineStart)))
                    features.reserveCapacity(overflow ? total : min(guess, total))
                } else if found != featureCount {
                    throw DataError.csv(
                        path: path, line: lineNumber,
                        reason: "ragged row: expected \(featureCount) features (as on line "
                            + "\(firstDataLine)), found \(found)")
                }
            }
        }
        guard featureCount > 0 else {
            throw DataError.csv(path: path, line: 0, reason: "the file holds no data lines")
        }
        let shape = sampleShape ?? [featureCount]
        guard shape.allSatisfy({ $0 > 0 }), shape.reduce(1, *) == featureCount else {
            throw DataError.csv(
                path: path, line: firstDataLine,
                reason: "rows have \(featureCount) features but sample shape \(shape) needs "
                    + "\(shape.reduce(1, *)); pass a matching sample shape")
        }
        let classes = classCount ?? (Int(labels.max() ?? 0) + 1)
        return try Dataset(
            name: lastPathComponent(path), sampleShape: shape, classCount: classes,
            features: features, labels: labels)
    }

    @inline(__always)
    private static func isBlank(_ c: CChar) -> Bool { c == 32 || c == 9 }

    /// Parses one field at `p` (up to the next comma or `end`), leaves `p` after the comma.
    @inline(__always)
    private static func parseField(
        _ buf: UnsafePointer<CChar>, _ p: inout Int, end: Int, integer: Bool,
        error: (Int) -> DataError
    ) throws -> Double {
        let start = p
        var q = p
        while q < end && isBlank(buf[q]) { q += 1 }
        // strtod skips leading white space, including newlines: refuse an empty field here.
        guard q < end, buf[q] != 44 else { throw error(start) }
        var endPtr: UnsafeMutablePointer<CChar>? = nil
        let value: Double
        if integer {
            value = Double(strtol(buf + q, &endPtr, 10))
        } else {
            value = Double(strtof(buf + q, &endPtr))
        }
        guard let e = endPtr else { throw error(start) }
        var r = UnsafePointer(e) - buf
        guard r > q, r <= end, value.isFinite else { throw error(start) }
        while r < end && isBlank(buf[r]) { r += 1 }
        if r < end {
            guard buf[r] == 44 else { throw error(start) }
            r += 1
        }
        p = r
        return value
    }

    /// Whether every comma-separated field between `from` and `to` parses as a number.
    private static func lineIsNumeric(_ buf: UnsafePointer<CChar>, from: Int, to: Int) -> Bool {
        var p = from
        while p < to {
            let ok = (try? parseField(buf, &p, end: to, integer: false) { _ in
                DataError.invalidDataset(reason: "")
            }) != nil
            if !ok { return false }
        }
        return true
    }

    private static func fieldText(_ buf: UnsafePointer<CChar>, _ start: Int, _ end: Int) -> String {
        var e = start
        while e < end && buf[e] != 44 { e += 1 }
        let bytes = UnsafeRawBufferPointer(start: buf + start, count: e - start)
        var s = String(decoding: bytes, as: UTF8.self).trimmingBlanks()
        if s.count > 40 { s = String(s.prefix(40)) + "..." }
        return s
    }
}

func lastPathComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
}

extension String {
    fileprivate func trimmingBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
