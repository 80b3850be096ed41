// Multi-process tests, run by scripts/test.sh as `mpirun -np N MPITestRunner [suite [name filter]]`.
// Every assertion holds for any world size; rank 0 prints "N passed, M failed" and the
// exit code is non-zero when any rank failed.
import MPI

#if canImport(Glibc)
import Glibc
#endif

let suite = CommandLine.arguments.dropFirst().first ?? "mpi"
let mpi: MPIEnvironment
do {
    mpi = try MPIEnvironment.initialize(threadLevel: .funneled)
} catch {
    print("cannot initialise MPI: \(error)")
    exit(2)
}
let checks = Checks(world: mpi.world)
switch suite {
case "mpi":
    runCollectiveTests(checks, world: mpi.world)
case "training":
    runTrainingTests(checks, mpi: mpi)
    runNonFiniteTests(checks, mpi: mpi)
default:
    if mpi.world.rank == 0 { print("unknown suite '\(suite)'; known: mpi, training") }
    mpi.world.abort(code: 2)
}
let ok = (try? checks.summarize(suite: suite)) ?? false
try? mpi.finalize()
exit(ok ? 0 : 1)
