import CBLAS

/// Sets how many threads OpenBLAS uses for matrix products in this process.
/// Lockstep runs one thread per MPI rank unless the user asks otherwise.
///
/// ```swift
/// setBLASThreads(1)
/// ```
public func setBLASThreads(_ n: Int) {
    precondition(n >= 1, "setBLASThreads: \(n) must be >= 1")
    openblas_set_num_threads(Int32(n))
}

/// Row-major `C = alpha * op(A) * op(B) + beta * C` with `op(A)` [m, k], `op(B)` [k, n].
@inline(__always)
func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
