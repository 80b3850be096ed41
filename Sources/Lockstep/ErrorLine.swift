import Foundation

/// Writes one error line on stderr: `lockstep: error: MESSAGE`, or, for an error of one
/// rank among several, `lockstep: error (rank R of N): MESSAGE`. Every error Lockstep
/// shows a user goes through here, from the command line and from inside a run alike.
/// The message is made one line of printable characters: line breaks become spaces and
/// any other control byte (from a damaged input file echoed in a message) becomes `?`.
public func printError(_ message: String, rank: Int? = nil, of size: Int = 1) {
    let who = rank.map { size > 1 ? " (rank \($0) of \(size))" : "" } ?? ""
    FileHandle.standardError.write(Data("lockstep: error\(who): \(oneLine(message))\n".utf8))
}

/// `text` as one line of printable characters.
public func oneLine(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    var lastWasSpace = false
    for scalar in text.unicodeScalars {
        if scalar == "\n" || scalar == "\r" || scalar == "\t" {
            if !lastWasSpace { out.append(" ") }
            lastWasSpace = true
            continue
        }
        lastWasSpace = scalar == " "
        let printable = !(scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) || scalar == "\u{FFFD}")
        out.append(printable ? scalar : "?")
    }
    return String(out).trimmingCharacters(in: .whitespaces)
}
