import MPI

/// Runs every collective with every datatype, in place and out of place, at every root,
/// blocking and not, chunked and not. Each assertion holds for any world size.
func runCollectiveTests(_ t: Checks, world base: Communicator) {
    let n = base.size, me = base.rank

    t.test("rank and size agree across ranks") {
        let ranks = try base.allgather([me])
        t.expectEqual(ranks, Array(0..<n), "allgather of ranks")
        let sizes = try base.allgather([n])
        t.expect(sizes.allSatisfy { $0 == n }, "every rank sees size \(n): \(sizes)")
    }

    t.test("minMax: the smallest and largest value over the ranks, extremes included") {
        let r = try base.minMax(me * 3 - 1)
        t.expectEqual(r.min, -1, "min of rank*3-1")
        t.expectEqual(r.max, (n - 1) * 3 - 1, "max of rank*3-1")
        // Int64.min cannot be negated; the bitwise-NOT encoding must still give it back.
        let extremes = try base.minMax(me == 0 ? Int64.min : Int64.max)
        t.expectEqual(extremes.min, Int64.min, "Int64.min survives")
        t.expectEqual(extremes.max, n > 1 ? Int64.max : Int64.min, "Int64.max on the other ranks")
        let same = try base.minMax(Int64(42))
        t.expect(same.min == 42 && same.max == 42, "equal values agree: \(same)")
    }

    t.test("splitByNode and a shared window: every rank reads every other rank's writes") {
        let node = try base.splitByNode()
        t.expectEqual(node.size, n, "one machine: the node communicator holds every rank")
        let count = 1000
        let window = try SharedWindow(communicator: node, count: count)
        t.expectEqual(window.segments.count, n, "one segment per rank")
        t.expect(window.local.allSatisfy { $0 == 0 }, "a new window is zeroed")
        for i in 0..<count { window.local[i] = Float(node.rank * 10_000 + i) }
        try window.synchronize()
        for q in 0..<n {
            let segment = window.segments[q]
            t.expect((0..<count).allSatisfy { segment[$0] == Float(q * 10_000 + $0) }, "rank \(q)'s segment as seen from rank \(node.rank)")
        }
        try window.synchronize()   // nobody frees while another still reads
        try window.free()
        try window.free()          // a second free does nothing
        t.expectThrows("synchronize after free", { try window.synchronize() }) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
        try node.free()
    }

    t.test("a shared window held by rank 0 alone: every rank writes its part, every rank reads all") {
        let node = try base.splitByNode()
        let count = 1001
        let window = try SharedWindow(communicator: node, count: node.rank == 0 ? count : 0)
        t.expectEqual(window.local.count, node.rank == 0 ? count : 0, "this rank's segment")
        t.expectEqual(window.segments.map(\.count), [count] + Array(repeating: 0, count: n - 1), "segment sizes seen from rank \(node.rank)")
        let shared = window.segments[0]
        for i in stride(from: node.rank, to: count, by: n) { shared[i] = Float(i) * 0.5 }
        try window.memoryFence()
        try window.synchronize()
        let wrong = (0..<count).filter { shared[$0] != Float($0) * 0.5 }
        t.expect(wrong.isEmpty, "rank \(node.rank) sees every rank's writes; wrong: \(wrong.prefix(8).map { ($0, shared[$0]) })")
        try window.synchronize()
        try window.free()
        t.expectThrows("a negative count", { _ = try SharedWindow(communicator: node, count: -1) }) {
            if case .invalidArgument = $0 { return true } else { return false }
        }
        try node.free()
    }

    // Run the data tests twice: one MPI call per collective, then forced into chunks of 7.
    for chunk in [Int(Int32.max), 7] {
        var world = base
        world.maxCountPerCall = chunk
        let tag = chunk == 7 ? " (chunked by 7)" : ""
        let count = chunk == 7 ? 100 : 1000

        t.test("allreduce Float, all ops, in place\(tag)") {
            try checkAllreduce(t, world, count: count, Float.self) { Float($0) }
        }
        t.test("allreduce Double\(tag)") { try checkAllreduce(t, world, count: count, Double.self) { Double($0) } }
        t.test("allreduce Int32\(tag)") { try checkAllreduce(t, world, count: count, Int32.self) { Int32($0) } }
        t.test("allreduce Int64\(tag)") { try checkAllreduce(t, world, count: count, Int64.self) { Int64($0) } }
        t.test("allreduce Int\(tag)") { try checkAllreduce(t, world, count: count, Int.self) { $0 } }
        t.test("allreduce UInt8 (sum wraps like C)\(tag)") {
            try checkAllreduce(t, world, count: count, UInt8.self) { UInt8(truncatingIfNeeded: $0) }
        }

        t.test("allreduce out of place leaves the input alone\(tag)") {
            let send = (0..<count).map { Float(me * count + $0) }
            var result = [Float](repeating: -1, count: count)
            try send.withUnsafeBufferPointer { s in
                try result.withUnsafeMutableBufferPointer { r in try world.allreduce(s, into: r, op: .sum) }
            }
            let expected = (0..<count).map { i in Float((0..<n).reduce(0) { $0 + $1 * count + i }) }
            t.expectEqual(result, expected, "out-of-place sum")
            t.expectEqual(send, (0..<count).map { Float(me * count + $0) }, "send buffer after out-of-place allreduce")
        }

        t.test("broadcast from every root\(tag)") {
            for root in 0..<n {
                var xs = me == root ? (0..<count).map { Double(root * 1000 + $0) } : [Double](repeating: .nan, count: count)
                try world.broadcast(&xs, from: root)
                t.expectEqual(xs, (0..<count).map { Double(root * 1000 + $0) }, "broadcast from \(root)")
            }
        }

        t.test("reduce to the last rank (non-zero root)\(tag)") {
            let root = n - 1
            var xs = (0..<count).map { Int64(me + $0) }
            try world.reduce(&xs, op: .sum, to: root)
            if me == root {
                t.expectEqual(xs, (0..<count).map { i in Int64((0..<n).reduce(0) { $0 + $1 + i }) }, "reduce at root")
            } else {
                t.expectEqual(xs, (0..<count).map { Int64(me + $0) }, "non-root buffer unchanged by reduce")
            }
        }

        t.test("allgather and gather to a non-zero root\(tag)") {
            let mine = (0..<count).map { Int32(me * 100_000 + $0) }
            let expected = (0..<n).flatMap { r in (0..<count).map { Int32(r * 100_000 + $0) } }
            t.expectEqual(try world.allgather(mine), expected, "allgather")
            let root = n > 1 ? 1 : 0
            let gathered = try world.gather(mine, to: root)
            if me == root { t.expectEqual(gathered ?? [], expected, "gather at root \(root)") }
            else { t.expect(gathered == nil, "gather returns nil off the root") }
        }

        t.test("iallreduce: start, poll with test(), wait; request reuse\(tag)") {
            var xs = (0..<count).map { Float($0 + me) }
            let request = Request()
            for round in 0..<3 {
                try xs.withUnsafeMutableBufferPointer { buffer in
                    try world.iallreduce(buffer, op: .sum, into: request)
                    var polls = 0
                    while try !request.test() { polls += 1; if polls > 50_000_000 { break } }
                    try request.wait()   // harmless after completion
                }
                t.expect(request.isComplete, "request complete after round \(round)")
            }
            // Three sums of n copies: ((x*n)*n)*n with x_i = sum over ranks of (i + r) / n.
            let base = (0..<count).map { i in Float((0..<n).reduce(0) { $0 + $1 + i }) }
            let expected = base.map { $0 * Float(n * n) }
            t.expectEqual(xs, expected, "three chained iallreduce sums")
        }
    }

    t.test("several iallreduce in flight at once, waited out of order") {
        var a = [Float](repeating: Float(me), count: 5000)
        var b = [Float](repeating: 1, count: 3)
        try a.withUnsafeMutableBufferPointer { pa in
            try b.withUnsafeMutableBufferPointer { pb in
                let ra = try base.iallreduce(pa, op: .max)
                let rb = try base.iallreduce(pb, op: .sum)
                try rb.wait()
                try ra.wait()
            }
        }
        t.expect(a.allSatisfy { $0 == Float(n - 1) }, "max of ranks")
        t.expect(b.allSatisfy { $0 == Float(n) }, "sum of ones")
    }

    t.test("split into even and odd ranks") {
        guard let half = try base.split(color: me % 2, key: -me) else {
            t.expect(false, "split with a colour returned nil"); return
        }
        let expectedSize = (0..<n).filter { $0 % 2 == me % 2 }.count
        t.expectEqual(half.size, expectedSize, "sub-communicator size")
        // key = -rank reverses the order inside each half.
        let members = try half.allgather([me])
        t.expectEqual(members, (0..<n).filter { $0 % 2 == me % 2 }.reversed(), "members ordered by key")
        var one: [Int] = [1]
        try half.allreduce(&one)
        t.expectEqual(one, [expectedSize], "allreduce inside the half")
        try half.free()
        let none = try base.split(color: me == 0 ? 0 : nil)
        t.expect((none == nil) == (me != 0), "nil colour opts out")
        try none?.free()
    }

    t.test("an invalid root throws on every rank, without hanging") {
        var xs: [Float] = [1, 2]
        t.expectThrows("broadcast from root \(n)", { try base.broadcast(&xs, from: n) }) {
            if case .invalidArgument(_, let reason) = $0 { return reason.contains("root \(n)") }
            return false
        }
        t.expectThrows("reduce to root -1", { try base.reduce(&xs, to: -1) }) {
            if case .invalidArgument = $0 { return true }
            return false
        }
        t.expectThrows("gather to root \(n + 5)", { _ = try base.gather(xs, to: n + 5) }) {
            if case .invalidArgument = $0 { return true }
            return false
        }
    }

    t.test("mismatched counts are caught with count checking on") {
        var checked = base
        checked.checksCounts = true
        var xs = [Float](repeating: 1, count: 10 + me)
        if n > 1 { t.expectThrows("allreduce with per-rank counts 10 + rank", { try checked.allreduce(&xs) }) {
            if case .countMismatch(_, let local, let lo, let hi) = $0 { return local == 10 + me && lo == 10 && hi == 10 + n - 1 }
            return false
        } }
        // Matching counts still work with checking on.
        var ys = [Float](repeating: 1, count: 10)
        try checked.allreduce(&ys)
        t.expectEqual(ys, [Float](repeating: Float(n), count: 10), "checked allreduce")
    }

    t.test("buffers of the wrong size are refused before MPI sees them") {
        let send: [Float] = [1, 2, 3]
        var small = [Float](repeating: 0, count: 2)
        t.expectThrows("allgather into too small a buffer", {
            try send.withUnsafeBufferPointer { s in try small.withUnsafeMutableBufferPointer { r in try base.allgather(s, into: r) } }
        }) { if case .invalidArgument(_, let reason) = $0 { return reason.contains("must hold") }; return false }
        t.expectThrows("out-of-place allreduce with different counts", {
            try send.withUnsafeBufferPointer { s in try small.withUnsafeMutableBufferPointer { r in try base.allreduce(s, into: r) } }
        }) { if case .invalidArgument = $0 { return true }; return false }
    }

    t.test("MPI's own errors come back as thrown errors") {
        var xs: [Float] = [1]
        t.expectThrows("allreduce with MPI_DATATYPE_NULL", {
            try xs.withUnsafeMutableBytes { try base.allreduce(raw: $0.baseAddress!, count: 1, datatype: .null) }
        }) { if case .call(let function, _, _, let message) = $0 { return function == "MPI_Allreduce" && message.hasPrefix("MPI_ERR") }; return false }
        t.expectThrows("a second initialize", { _ = try MPIEnvironment.initialize() }) { $0 == .alreadyInitialized }
        // The communicator still works after the errors.
        var ok: [Int32] = [1]
        try base.allreduce(&ok)
        t.expectEqual(ok, [Int32(n)], "allreduce after errors")
    }
}

/// Every rank fills x_i = value(rank * count + i); checks sum, max, min and product
/// against the values computed locally for all ranks.
private func checkAllreduce<T: MPIDatatype & Equatable & Numeric & Comparable>(
    _ t: Checks, _ world: Communicator, count: Int, _: T.Type, _ value: (Int) -> T
) throws {
    let n = world.size, me = world.rank
    func column(_ i: Int) -> [T] { (0..<n).map { value($0 * 7 + i % 5) } }
    for op in ReductionOp.allCases {
        var xs = (0..<count).map { value(me * 7 + $0 % 5) }
        try world.allreduce(&xs, op: op)
        let expected: [T] = (0..<count).map { i in
            let c = column(i)
            switch op {
            case .sum: return c.dropFirst().reduce(c[0]) { wrappingAdd($0, $1) }
            case .product: return c.dropFirst().reduce(c[0]) { wrappingMultiply($0, $1) }
            case .max: return c.max()!
            case .min: return c.min()!
            }
        }
        t.expectEqual(xs, expected, "\(T.self) \(op)")
    }
}

private func wrappingAdd<T: Numeric>(_ a: T, _ b: T) -> T {
    if let x = a as? UInt8, let y = b as? UInt8 { return (x &+ y) as! T }
    return a + b
}
private func wrappingMultiply<T: Numeric>(_ a: T, _ b: T) -> T {
    if let x = a as? UInt8, let y = b as? UInt8 { return (x &* y) as! T }
    return a * b
}
