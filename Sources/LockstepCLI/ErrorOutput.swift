import ArgumentParser
import Lockstep

/// Prints `error` as one error line (``printError(_:rank:of:)``) and returns the exit
/// status for bad input (2).
func inputError(_ error: any Error) -> ExitCode {
    printError(error.userMessage)
    return ExitCode(2)
}
