import MPI

/// A tiny assertion recorder for tests that run under mpirun: every rank records its own
/// failures; the totals are summed over ranks at the end, and rank 0 prints one line.
final class Checks {
    let world: Communicator
    /// One entry per test, in the same order on every rank: 1 if this rank saw it fail.
    private var outcomes: [Int32] = []
    private var failed = 0
    private var currentTest = ""

    init(world: Communicator) { self.world = world }

    /// Only tests whose name contains this run (the third argument of the runner), for
    /// working on one test; every rank gets the same arguments from mpirun.
    let filter: String? = CommandLine.arguments.dropFirst(2).first

    func test(_ name: String, _ body: () throws -> Void) {
        if let filter, !name.contains(filter) { return }
        currentTest = name
        let before = failed
        do { try body() } catch { fail("threw \(error)") }
        outcomes.append(failed == before ? 0 : 1)
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String, line: Int = #line) {
        if !condition { fail("\(message()) (line \(line))") }
    }

    func expectEqual<T: Equatable>(_ a: T, _ b: T, _ what: String, line: Int = #line) {
        if a != b { fail("\(what): got \(a), expected \(b) (line \(line))") }
    }

    /// Expects `body` to throw an `MPIError` that `matches`; returns without hanging either way.
    func expectThrows(_ what: String, line: Int = #line, _ body: () throws -> Void, matches: (MPIError) -> Bool) {
        do {
            try body()
            fail("\(what): did not throw (line \(line))")
        } catch let error as MPIError {
            if !matches(error) { fail("\(what): threw the wrong error: \(error) (line \(line))") }
        } catch {
            fail("\(what): threw a non-MPI error \(error) (line \(line))")
        }
    }

    private func fail(_ message: String) {
        failed += 1
        print("rank \(world.rank)/\(world.size) FAIL [\(currentTest)] \(message)")
    }

    /// A test fails if it failed on any rank; rank 0 prints "N passed, M failed".
    /// Returns true if none failed.
    func summarize(suite: String) throws -> Bool {
        try world.allreduce(&outcomes, op: .max)
        let failedTests = outcomes.reduce(0) { $0 + Int($1) }
        if world.rank == 0 {
            print("\(suite) (\(world.size) ranks):")
            print("\(outcomes.count - failedTests) passed, \(failedTests) failed")
        }
        return failedTests == 0
    }
}
