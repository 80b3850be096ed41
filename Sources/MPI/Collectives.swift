import CMPI

// Collectives work on the caller's memory: in place where MPI allows it (`MPI_IN_PLACE`),
// never through a copy. Buffers longer than `maxCountPerCall` elements are split into
// several calls (elementwise operations) or into strided derived datatypes (gathers).

extension Communicator {
    /// Calls `body(offset, count)` for consecutive chunks of at most `maxCountPerCall` elements.
    @inline(__always)
    func forEachChunk(_ count: Int, _ body: (Int, Int32) throws(MPIError) -> Void) throws(MPIError) {
        let step = Swift.max(1, maxCountPerCall)
        var offset = 0
        while offset < count {
            let n = Swift.min(step, count - offset)
            try body(offset, Int32(truncatingIfNeeded: n))
            offset += n
        }
    }

    // MARK: - allreduce

    /// Reduces `buffer` element-wise across all ranks, in place: afterwards every rank
    /// holds the same result (`MPI_Allreduce` with `MPI_IN_PLACE`).
    ///
    /// ```swift
    /// try world.allreduce(gradients, op: .sum)   // gradients: UnsafeMutableBufferPointer<Float>
    /// ```
    public func allreduce<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp = .sum) throws(MPIError) {
        try ensureActive("allreduce")
        try agreeOnCount(buffer.count, "allreduce")
        guard let base = buffer.baseAddress else { return }
        let type = T.mpiDatatype.handle, mpiOp = op.handle, comm = handle
        try forEachChunk(buffer.count) { offset, n throws(MPIError) in
            try check(MPI_Allreduce(MPI_IN_PLACE, base + offset, n, type, mpiOp, comm), "MPI_Allreduce")
        }
    }

    /// In-place all-reduce of an array. See ``allreduce(_:op:)-(UnsafeMutableBufferPointer<T>,_)``.
    public func allreduce<T: MPIDatatype>(_ array: inout [T], op: ReductionOp = .sum) throws(MPIError) {
        try array.withUnsafeMutableBufferPointer { buffer throws(MPIError) in try allreduce(buffer, op: op) }
    }

    /// All-reduce from `send` into `result` (same count), leaving `send` untouched.
    public func allreduce<T: MPIDatatype>(
        _ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>, op: ReductionOp = .sum
    ) throws(MPIError) {
        try ensureActive("allreduce")
        guard send.count == result.count else {
            throw .invalidArgument(operation: "allreduce", reason: "send holds \(send.count) elements but result holds \(result.count); they must match")
        }
        try agreeOnCount(send.count, "allreduce")
        guard let s = send.baseAddress, let r = result.baseAddress else { return }
        let type = T.mpiDatatype.handle, mpiOp = op.handle, comm = handle
        try forEachChunk(send.count) { offset, n throws(MPIError) in
            try check(MPI_Allreduce(s + offset, r + offset, n, type, mpiOp, comm), "MPI_Allreduce")
        }
    }

    /// In-place all-reduce of raw memory with an explicit datatype: the escape hatch for
    /// types that do not adopt ``MPIDatatype``. MPI checks the datatype and the call
    /// throws MPI's own error for an invalid one.
    public func allreduce(raw: UnsafeMutableRawPointer, count: Int, datatype: Datatype, op: ReductionOp = .sum) throws(MPIError) {
        try ensureActive("allreduce")
        guard count >= 0 else { throw .invalidArgument(operation: "allreduce", reason: "count \(count) is negative") }
        try agreeOnCount(count, "allreduce")
        var extent: MPI_Aint = 0, lowerBound: MPI_Aint = 0
        if count > maxCountPerCall {
            try check(MPI_Type_get_extent(datatype.handle, &lowerBound, &extent), "MPI_Type_get_extent")
        }
        let comm = handle, mpiOp = op.handle
        try forEachChunk(count) { offset, n throws(MPIError) in
            try check(MPI_Allreduce(MPI_IN_PLACE, raw + offset * Int(extent), n, datatype.handle, mpiOp, comm), "MPI_Allreduce")
        }
    }

    // MARK: - broadcast

    /// Copies `buffer` from rank `root` to every other rank, in place (`MPI_Bcast`).
    public func broadcast<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, from root: Int = 0) throws(MPIError) {
        try ensureActive("broadcast")
        try checkRoot(root, "broadcast")
        try agreeOnCount(buffer.count, "broadcast")
        guard let base = buffer.baseAddress else { return }
        let type = T.mpiDatatype.handle, comm = handle, root32 = Int32(root)
        try forEachChunk(buffer.count) { offset, n throws(MPIError) in
            try check(MPI_Bcast(base + offset, n, type, root32, comm), "MPI_Bcast")
        }
    }

    /// Broadcast of an array from `root`; every rank's array must already have the same count.
    public func broadcast<T: MPIDatatype>(_ array: inout [T], from root: Int = 0) throws(MPIError) {
        try array.withUnsafeMutableBufferPointer { buffer throws(MPIError) in try broadcast(buffer, from: root) }
    }

    // MARK: - reduce

    /// Reduces `buffer` element-wise onto rank `root`, in place there (`MPI_Reduce`);
    /// other ranks' buffers are left unchanged.
    public func reduce<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp = .sum, to root: Int = 0) throws(MPIError) {
        try ensureActive("reduce")
        try checkRoot(root, "reduce")
        try agreeOnCount(buffer.count, "reduce")
        guard let base = buffer.baseAddress else { return }
        let type = T.mpiDatatype.handle, mpiOp = op.handle, comm = handle, root32 = Int32(root)
        let isRootRank = rank == root
        try forEachChunk(buffer.count) { offset, n throws(MPIError) in
            let p = base + offset
            if isRootRank {
                try check(MPI_Reduce(MPI_IN_PLACE, p, n, type, mpiOp, root32, comm), "MPI_Reduce")
            } else {
                try check(MPI_Reduce(p, nil, n, type, mpiOp, root32, comm), "MPI_Reduce")
            }
        }
    }

    /// Reduce of an array onto `root`, in place there.
    public func reduce<T: MPIDatatype>(_ array: inout [T], op: ReductionOp = .sum, to root: Int = 0) throws(MPIError) {
        try array.withUnsafeMutableBufferPointer { buffer throws(MPIError) in try reduce(buffer, op: op, to: root) }
    }

    // MARK: - allgather / gather

    /// Gathers every rank's `send` (same count on each) into `result` on every rank, rank
    /// `i`'s block at `i * send.count` (`MPI_Allgather`). `result.count` must be `send.count * size`.
    public func allgather<T: MPIDatatype>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>) throws(MPIError) {
        try ensureActive("allgather")
        guard result.count == send.count * size else {
            throw .invalidArgument(operation: "allgather", reason: "result holds \(result.count) elements; it must hold send.count x size = \(send.count) x \(size) = \(send.count * size)")
        }
        try agreeOnCount(send.count, "allgather")
        guard let s = send.baseAddress, let r = result.baseAddress else { return }
        let type = T.mpiDatatype.handle, comm = handle
        try gatherChunks(T.self, perRank: send.count) { offset, n, recvType, recvCount throws(MPIError) in
            try check(MPI_Allgather(s + offset, n, type, r + offset, recvCount, recvType, comm), "MPI_Allgather")
        }
    }

    /// Every rank's `values` (same count on each), concatenated in rank order, on every rank.
    public func allgather<T: MPIDatatype>(_ values: [T]) throws(MPIError) -> [T] {
        var result = [T](repeating: values.first ?? zeroValue(), count: values.count * size)
        try values.withUnsafeBufferPointer { s throws(MPIError) in
            try result.withUnsafeMutableBufferPointer { r throws(MPIError) in try allgather(s, into: r) }
        }
        return result
    }

    /// Gathers every rank's `send` (same count) onto `root` into `result`, rank `i`'s
    /// block at `i * send.count` (`MPI_Gather`). `result` is needed on `root` only.
    public func gather<T: MPIDatatype>(_ send: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>?, to root: Int = 0) throws(MPIError) {
        try ensureActive("gather")
        try checkRoot(root, "gather")
        if rank == root {
            guard let result, result.count == send.count * size else {
                throw .invalidArgument(operation: "gather", reason: "the root's result holds \(result?.count ?? 0) elements; it must hold send.count x size = \(send.count * size)")
            }
        }
        try agreeOnCount(send.count, "gather")
        guard let s = send.baseAddress else { return }
        let r = result?.baseAddress
        let type = T.mpiDatatype.handle, comm = handle, root32 = Int32(root)
        try gatherChunks(T.self, perRank: send.count) { offset, n, recvType, recvCount throws(MPIError) in
            try check(MPI_Gather(s + offset, n, type, r.map { $0 + offset }, recvCount, recvType, root32, comm), "MPI_Gather")
        }
    }

    /// Every rank's `values` (same count), concatenated in rank order, on `root`; `nil` elsewhere.
    public func gather<T: MPIDatatype>(_ values: [T], to root: Int = 0) throws(MPIError) -> [T]? {
        try checkRoot(root, "gather")
        if rank == root {
            var result = values + [T](repeating: values.first ?? zeroValue(), count: values.count * (size - 1))
            try values.withUnsafeBufferPointer { s throws(MPIError) in
                try result.withUnsafeMutableBufferPointer { r throws(MPIError) in try gather(s, into: r, to: root) }
            }
            return result
        }
        try values.withUnsafeBufferPointer { s throws(MPIError) in try gather(s, into: nil, to: root) }
        return nil
    }

    /// Runs a gather in chunks of at most `maxCountPerCall` elements per rank. One chunk
    /// uses the plain datatype; several use a contiguous block resized to the full
    /// per-rank stride, so rank i's chunk lands at `i * perRank + offset`.
    func gatherChunks<T: MPIDatatype>(
        _: T.Type, perRank: Int,
        _ call: (_ offset: Int, _ count: Int32, _ recvType: MPI_Datatype, _ recvCount: Int32) throws(MPIError) -> Void
    ) throws(MPIError) {
        let type = T.mpiDatatype.handle
        if perRank <= maxCountPerCall {
            try call(0, Int32(perRank), type, Int32(perRank))
            return
        }
        try forEachChunk(perRank) { offset, n throws(MPIError) in
            var block: MPI_Datatype? = nil
            var strided: MPI_Datatype? = nil
            try check(MPI_Type_contiguous(n, type, &block), "MPI_Type_contiguous")
            defer { MPI_Type_free(&block) }
            try check(MPI_Type_create_resized(block, 0, MPI_Aint(perRank * MemoryLayout<T>.stride), &strided), "MPI_Type_create_resized")
            defer { MPI_Type_free(&strided) }
            try check(MPI_Type_commit(&strided), "MPI_Type_commit")
            try call(offset, n, strided!, 1)
        }
    }

    @inline(__always)
    private func zeroValue<T: MPIDatatype>() -> T {
        withUnsafeTemporaryAllocation(of: T.self, capacity: 1) { p in
            UnsafeMutableRawPointer(p.baseAddress!).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.size)
            return p[0]
        }
    }

    // MARK: - non-blocking

    /// Starts an in-place all-reduce and returns at once (`MPI_Iallreduce`). The buffer
    /// must stay alive and untouched until the request's ``Request/wait()`` returns.
    ///
    /// ```swift
    /// let request = try world.iallreduce(bucket, op: .sum)
    /// ... more backward ...
    /// try request.wait()
    /// ```
    public func iallreduce<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp = .sum) throws(MPIError) -> Request {
        let request = Request()
        try iallreduce(buffer, op: op, into: request)
        return request
    }

    /// Starts an in-place all-reduce, reusing `request` (which must be complete) so that a
    /// training loop allocates nothing per step.
    public func iallreduce<T: MPIDatatype>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReductionOp = .sum, into request: Request) throws(MPIError) {
        try ensureActive("iallreduce")
        guard request.isComplete else {
            throw .invalidArgument(operation: "iallreduce", reason: "the request passed for reuse is still in flight; wait() for it first")
        }
        try agreeOnCount(buffer.count, "iallreduce")
        guard let base = buffer.baseAddress else { return }
        let type = T.mpiDatatype.handle, mpiOp = op.handle, comm = handle
        try forEachChunk(buffer.count) { offset, n throws(MPIError) in
            var r: MPI_Request? = MPI_REQUEST_NULL
            try check(MPI_Iallreduce(MPI_IN_PLACE, base + offset, n, type, mpiOp, comm, &r), "MPI_Iallreduce")
            request.handles.append(r)
        }
    }
}
