import MPI

/// The first collective of every `lockstep` command under MPI: each rank contributes a
/// fixed-size record of what it runs (the subcommand and the Lockstep version), so that a
/// launch mixing subcommands (`mpirun -np 1 lockstep train : -np 1 lockstep evaluate`) or
/// builds is refused with a clear message before the commands' own collectives, whose
/// different message sizes would otherwise end in `MPI_ERR_TRUNCATE` or a hang.
public enum LaunchCheck {
    /// Collective over `world`; throws a ``CollectiveError`` (the same on every rank) naming
    /// rank 0's command and the first rank that runs another.
    public static func verify(command: String, world: Communicator) throws {
        guard world.size > 1 else { return }
        let mine = [Int64(bitPattern: fnv1a(Array(command.utf8))), Int64(bitPattern: fnv1a(Array(LockstepVersion.string.utf8)))]
        let all = try world.allgather(mine)
        guard let other = (1..<world.size).first(where: { all[2 * $0] != all[0] || all[2 * $0 + 1] != all[1] }) else { return }
        // The records are fixed-size and agree in layout whatever each rank runs, so the
        // names can now travel as strings: every rank takes part in the same broadcasts.
        let description = "'lockstep \(command)' (version \(LockstepVersion.string))"
        let rootCommand = try Collective.broadcast(string: description, from: 0, world)
        let otherCommand = try Collective.broadcast(string: description, from: other, world)
        throw CollectiveError(
            "the ranks of one launch run different commands: rank 0 runs \(rootCommand) but rank \(other) runs "
                + "\(otherCommand); start every rank with the same subcommand and build")
    }
}
