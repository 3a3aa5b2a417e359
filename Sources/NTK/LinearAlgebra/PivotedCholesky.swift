import CBLAS

/// The pivoted Cholesky factorization of a symmetric positive semidefinite matrix,
/// `Pᵀ A P = L Lᵀ` (LAPACK DPSTRF with its default tolerance, n·ε·max_i A_ii): `L` is n × rank,
/// lower trapezoidal, and the part of `A` it leaves out — the trailing Schur complement, never
/// factored — has every diagonal entry below the tolerance. So for any row vector w,
/// `w A wᵀ = ‖(w P) L‖²` up to n·tol·‖w‖² (the remainder is positive semidefinite with trace at
/// most n·tol), about the rounding error of forming `w A wᵀ` directly: an exact factor of a
/// rank-deficient kernel, at a third of an eigendecomposition's cost, and half the flops of
/// `w A wᵀ` by a symmetric product (a triangular one instead).
struct PivotedCholesky {
    /// `L` in the first `rank` columns of an n × n row-major buffer (leading dimension n).
    let factor: Workspace
    let n: Int
    let rank: Int
    /// Row k of `Pᵀ A P` is row `pivots[k]` of `A`: `(w P)_k = w[pivots[k]]`.
    let pivots: [Int]

    /// Factors the n × n matrix `a` (its lower triangle is read).
    /// - Throws: `numericalFailure` for a NaN or infinite entry (DPSTRF would stop its pivoting
    ///   there and drop the rest silently) or when LAPACK rejects the call, `outOfMemory`.
    init(_ a: MatrixView) throws {
        let n = a.rows
        factor = try Workspace(count: max(n * n, 1), for: "a pivoted Cholesky factor")
        for i in 0..<n {
            (factor.pointer + i * n).update(from: a.base + i * a.ld, count: n)
            guard InputCheck.allFinite(factor.pointer + i * n, count: n) else {
                throw NTKError(.numericalFailure, "pivoted Cholesky: row \(i) of the matrix is not finite (overflow "
                                                  + "upstream); rescale the kernels")
            }
        }
        var piv = [Int32](repeating: 0, count: max(n, 1)), found: Int32 = 0
        let info = n == 0 ? 0 : LAPACKE_dpstrf(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "L")), Int32(n), factor.pointer,
                                                Int32(n), &piv, &found, -1)
        guard info >= 0 else { throw NTKError(.numericalFailure, "pivoted Cholesky: LAPACK DPSTRF returned \(info)") }
        // Columns ≥ rank hold the unfactored remainder; the strict upper triangle is junk.
        self.n = n
        rank = Int(found)
        pivots = piv.prefix(n).map { Int($0) - 1 }
    }

    /// `‖(w P) L‖²` for each row w of `w` (m × n) into `out` (m, accumulated: `out[i] += …`).
    /// `permuted` and `product` (m × n each) are scratch; `product` may be `w`'s own memory
    /// (`w` is read only before `product` is written).
    func addQuadraticForms(_ w: MatrixView, permuted: MutableMatrixView, product: MutableMatrixView,
                           into out: UnsafeMutablePointer<Double>) throws {
        let m = w.rows, q = rank
        if m == 0 || q == 0 { return }
        for i in 0..<m {
            let src = w.base + i * w.ld, dst = permuted.base + i * permuted.ld
            for k in 0..<n { dst[k] = src[pivots[k]] }
        }
        let l = MatrixView(unchecked: UnsafePointer(factor.pointer), rows: n, cols: n, ld: n)
        let head = permuted.columns(0, q)
        // (w P)[:, q…] L[q…, :q] first (it reads the columns the triangular product leaves alone) …
        if q < n {
            try MatrixProduct.gemm(permuted.columns(q, n).readOnly, l.rowRange(q, n).columns(0, q),
                                   into: product.columns(0, q))
        }
        // … then (w P)[:, :q] L[:q, :q] in place.
        try TriangularProduct.multiply(l.rowRange(0, q).columns(0, q), side: .right, head)
        for i in 0..<m {
            let a = head.base + i * head.ld, b = product.base + i * product.ld
            var s = 0.0
            if q < n {
                for k in 0..<q { let z = a[k] + b[k]; s += z * z }
            } else {
                for k in 0..<q { s += a[k] * a[k] }
            }
            out[i] += s
        }
    }
}
