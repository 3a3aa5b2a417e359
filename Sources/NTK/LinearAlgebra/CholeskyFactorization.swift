#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBLAS

/// The Cholesky factorization `K + zI = L Lᵀ` of a symmetric positive definite kernel matrix,
/// kept so that many right-hand sides can be solved from one factorization: kernel ridge
/// regression `(K + zI)⁻¹ Y` (eq. 5 and 21 in docs/equations.md) and everything built on it.
///
/// - The input is checked (square, finite, symmetric to `1e-6` relative) and symmetrised,
///   `(K + Kᵀ)/2`, so the factor does not depend on which triangle was read.
/// - `z` (the ridge) is absolute, `z ≥ 0`.
/// - A matrix that is not positive definite throws `notPositiveDefinite` with the order of the
///   first non-positive leading minor; adding a ridge is the usual cure.
/// - Large matrices are factored by blocks of rows (LAPACK DPOTRF on the diagonal block, DTRSM
///   and DSYRK on the rest), which reports progress between blocks and can be cancelled.
///
/// The object is immutable after creation: `solve` may be called from several threads at once.
public final class CholeskyFactorization: @unchecked Sendable {
    /// Order of the matrix.
    public let n: Int
    /// The ridge `z` that was added to the diagonal.
    public let ridge: Double
    /// `L`, lower triangular, row-major n × n (the strict upper triangle holds junk).
    let factor: Workspace

    /// Factors `k + ridge · I`.
    /// - Throws: `dimensionMismatch` (not square), `nonFinite`, `invalidArgument` (not symmetric,
    ///   negative ridge), `notPositiveDefinite`, `tooLarge`, `outOfMemory`, `cancelled`.
    public convenience init(_ k: MatrixView, ridge: Double = 0, progress: ProgressHandler = .none) throws {
        let factor = try Self.factor(k, ridge: ridge, progress: progress)
        self.init(n: k.rows, ridge: ridge, factor: factor)
    }

    /// Factors `k + ridge · I` for a `Matrix`; see `init(_:ridge:progress:)` for the view.
    public convenience init(_ k: Matrix, ridge: Double = 0, progress: ProgressHandler = .none) throws {
        let factor = try k.withView { try Self.factor($0, ridge: ridge, progress: progress) }
        self.init(n: k.rows, ridge: ridge, factor: factor)
    }

    private init(n: Int, ridge: Double, factor: Workspace) {
        self.n = n
        self.ridge = ridge
        self.factor = factor
    }

    private static func factor(_ k: MatrixView, ridge: Double, progress: ProgressHandler) throws -> Workspace {
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be ≥ 0, got \(ridge)") }
        try InputCheck.square(k, "K")
        let n = k.rows
        _ = try Sizes.blasInt(n, "order of K")
        let factor = try Workspace(count: try Sizes.product(n, n, "size of K"), for: "the Cholesky factor")
        try progress.report(0)
        try Symmetry.symmetrizedCopy(k, into: factor.pointer, ldOut: n, name: "K")
        if ridge != 0 { for i in 0..<n { factor.pointer[i * n + i] += ridge } }
        try factorInPlace(factor.pointer, n: n, progress: progress)
        try progress.report(1)
        return factor
    }

    /// Solves `(K + zI) X = Y` for an n × m right-hand side.
    ///
    /// `x` may be the same memory as `y` (solve in place) but must not partly overlap it.
    /// - Throws: `dimensionMismatch`, `nonFinite` (NaN/Inf in `y`), `invalidArgument`, `tooLarge`.
    public func solve(_ y: MatrixView, into x: MutableMatrixView) throws {
        guard y.rows == n else {
            throw NTKError.dimensionMismatch("Y has \(y.rows) rows but K is \(n) × \(n)")
        }
        guard x.rows == n, x.cols == y.cols else {
            throw NTKError.dimensionMismatch("X is \(x.rows) × \(x.cols) but must be \(n) × \(y.cols) like Y")
        }
        let inPlace = UnsafePointer(x.base) == y.base && x.ld == y.ld
        if !inPlace { try x.requireDisjoint(from: y, "X", "Y") }
        let m = try Sizes.blasInt(y.cols, "columns of Y")
        let ldx = try Sizes.blasInt(x.ld, "leading dimension of X")
        try InputCheck.finite(y, "Y")
        if n == 0 || m == 0 { return }
        if !inPlace {
            for i in 0..<n { (x.base + i * x.ld).update(from: y.row(i), count: y.cols) }
        }
        let l = UnsafePointer(factor.pointer), ldl = Int32(n)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                    Int32(n), m, 1, l, ldl, x.base, ldx)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit,
                    Int32(n), m, 1, l, ldl, x.base, ldx)
    }

    /// Solves `L X = B` in place (the first half of `solve`): afterwards `‖x_j‖²` is
    /// `b_jᵀ (K + zI)⁻¹ b_j`, which is how posterior covariances stay symmetric and PSD.
    /// `b` is n × m with its own leading dimension; shapes are checked.
    package func solveLower(_ b: MutableMatrixView) throws {
        guard b.rows == n else {
            throw NTKError.dimensionMismatch("the right-hand side has \(b.rows) rows but K is \(n) × \(n)")
        }
        let m = try Sizes.blasInt(b.cols, "columns of the right-hand side")
        let ldb = try Sizes.blasInt(b.ld, "leading dimension of the right-hand side")
        if n == 0 || m == 0 { return }
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit,
                    Int32(n), m, 1, UnsafePointer(factor.pointer), Int32(n), b.base, ldb)
    }

    /// `(K + zI)⁻¹ Y` as a new matrix.
    public func solve(_ y: Matrix) throws -> Matrix {
        var x = try Matrix(rows: y.rows, cols: y.cols)
        try y.withView { yv in try x.withMutableView { xv in try solve(yv, into: xv) } }
        return x
    }

    /// `(K + zI)⁻¹` into `out` (n × n, row-major, leading dimension n, both triangles) by LAPACK
    /// DPOTRI from the factor: n³ flops, for the objectives that need the whole inverse.
    package func inverse(into out: UnsafeMutablePointer<Double>) throws {
        if n == 0 { return }
        out.update(from: factor.pointer, count: n * n)
        // Row-major lower L is column-major upper U = Lᵀ; DPOTRI leaves (UᵀU)⁻¹ in that triangle.
        let info = LAPACKE_dpotri(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(n), out, Int32(n))
        guard info == 0 else { throw NTKError.numericalFailure("DPOTRI failed (info \(info)): K + zI is singular") }
        Symmetry.mirrorLowerToUpper(out, n: n, ld: n)
    }

    /// `log det(K + zI) = 2 Σ log L_ii`, useful for Gaussian-process marginal likelihoods.
    public var logDeterminant: Double {
        var s = 0.0
        for i in 0..<n { s += 2 * log(factor.pointer[i * n + i]) }
        return s
    }

    /// Below this order one DPOTRF call is both fast and quick enough to need no progress.
    static let blockedThreshold = 1536
    static let blockSize = 384
    /// Most multiply-adds between two progress reports in the trailing update (~0.1 s of
    /// DGEMM on one core), so that cancellation takes effect quickly at any n.
    static let updateChunk = 4_000_000_000

    /// Factors the row-major n × n matrix at `a` (lower triangle, leading dimension n) in place.
    ///
    /// Right-looking by panels of `blockSize` columns: DPOTRF on the diagonal block, DTRSM for
    /// the panel below it, then the trailing update `A22 ← A22 − L21 L21ᵀ` by row chunks (DGEMM
    /// left of the diagonal, DSYRK on it), with a progress report after each chunk of at most
    /// `chunk` multiply-adds (and at least 64 rows).
    static func factorInPlace(_ a: UnsafeMutablePointer<Double>, n: Int, progress: ProgressHandler,
                              chunk: Int = updateChunk) throws {
        if n == 0 { return }
        let nb = n <= blockedThreshold ? n : blockSize
        let ld = Int32(n)
        let cube = Double(n) * Double(n) * Double(n)
        /// Fraction of the n³ work done once the first `k` columns are factored.
        func done(_ k: Int) -> Double { let left = Double(n - k); return 1 - left * left * left / cube }
        var k0 = 0
        while k0 < n {
            let kb = min(nb, n - k0)
            let a11 = a + k0 * n + k0
            // Row-major lower is column-major upper: LAPACK computes U = Lᵀ with A = Uᵀ U.
            let info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "U")), Int32(kb), a11, ld)
            if info > 0 {
                throw NTKError.notPositiveDefinite(
                    "K + ridge·I is not positive definite: its leading minor of order \(k0 + Int(info)) is not "
                        + "positive (try a larger ridge)")
            }
            if info < 0 { throw NTKError(.internalError, "DPOTRF rejected argument \(-info)") }
            let m = n - k0 - kb
            if m > 0 {
                let a21 = a + (k0 + kb) * n + k0
                // L21 = A21 · L11⁻ᵀ.
                cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit,
                            Int32(m), Int32(kb), 1, a11, ld, a21, ld)
                // A22 ← A22 − L21 L21ᵀ (lower triangle), rows r0..<r1 of A22 at a time.
                let rows = max(64, chunk / max(m * kb, 1))
                var r0 = 0
                while r0 < m {
                    let r = min(rows, m - r0)
                    let li = a21 + r0 * n, aii = a21 + r0 * n + kb + r0
                    if r0 > 0 {
                        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(r), Int32(r0), Int32(kb),
                                    -1, li, ld, a21, ld, 1, a21 + r0 * n + kb, ld)
                    }
                    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, Int32(r), Int32(kb), -1, li, ld, 1, aii, ld)
                    r0 += r
                    let within = Double(r0) / Double(m)
                    try progress.report(0.99 * (done(k0) + within * within * (done(k0 + kb) - done(k0))))
                }
            }
            k0 += kb
            try progress.report(0.99 * done(k0))
        }
    }
}

/// Solves `(K + ridge · I) X = Y` by Cholesky, returning X (n × m).
public func choleskySolve(_ k: Matrix, _ y: Matrix, ridge: Double = 0,
                          progress: ProgressHandler = .none) throws -> Matrix {
    try CholeskyFactorization(k, ridge: ridge, progress: progress).solve(y)
}
