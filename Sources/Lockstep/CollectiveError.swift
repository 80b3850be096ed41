import Foundation

/// An error that every rank raises alike, at the same point (bad flags, a missing
/// dataset, a configuration that differs between ranks). The CLI prints it once, from
/// rank 0, and every rank exits cleanly with ``exitCode``: no MPI_Abort is needed because
/// no rank is left waiting.
public struct CollectiveError: Error, LocalizedError, Sendable {
    /// One line: what was wrong and what to do.
    public let message: String
    /// The process exit code (2 for bad input, 1 otherwise).
    public let exitCode: Int32

    public init(_ message: String, exitCode: Int32 = 2) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Wraps any error that is known to be raised identically on every rank.
    public init(_ error: any Error, exitCode: Int32 = 2) {
        self.message = error.userMessage
        self.exitCode = exitCode
    }

    public var errorDescription: String? { message }
}

extension Error {
    /// The text to show a user: a `LocalizedError`'s description, else the error itself.
    public var userMessage: String { (self as? LocalizedError)?.errorDescription ?? "\(self)" }
}
