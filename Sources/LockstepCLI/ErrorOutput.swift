import ArgumentParser
import Foundation
import Lockstep

/// Prints `error` as one error line (``printError(_:rank:of:)``) and returns the exit
/// status for bad input (2).
func inputError(_ error: any Error) -> ExitCode {
    printError(error.userMessage)
    return ExitCode(2)
}

/// Whether this process speaks for the job: rank 0 under mpirun, or a plain process.
/// Errors found before MPI starts (bad flags) are the same on every rank, so only rank 0
/// prints them.
var isFirstRank: Bool {
    let env = ProcessInfo.processInfo.environment
    return (env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? env["PMI_RANK"] ?? "0") == "0"
}

extension LockstepCommand {
    /// Parses the command line (with `--resume auto` rewritten to `--resume-auto`: a flag
    /// cannot take an optional value in ArgumentParser, and `--resume` alone must keep its
    /// meaning) and runs the command. ArgumentParser's own errors (an
    /// unknown flag, a missing or malformed value, a failed `validate()`) become one line
    /// and exit 2 like every other user error, instead of a usage text and exit 64;
    /// `--help` and `--version` print as usual.
    static func main() {
        do {
            var command = try parseAsRoot(resumeAutoRewritten(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)   // the command has reported its error already
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }   // --help, --version
            let usage = code == .validationFailure
            if isFirstRank {
                var text = message(for: error)
                if usage {
                    // The subcommand path given (`bench recurrent`), for the pointer to its help.
                    var path = "lockstep", level: [ParsableCommand.Type] = configuration.subcommands
                    for argument in CommandLine.arguments.dropFirst() {
                        guard let next = level.first(where: { $0.configuration.commandName == argument }) else { break }
                        path += " " + argument
                        level = next.configuration.subcommands
                    }
                    text += " (see '\(path) --help')"
                }
                printError(text)
            }
            Foundation.exit(usage ? 2 : code.rawValue)
        }
    }
}
