import CBLAS

/// The eigendecomposition `K = V diag(w) Vᵀ` of a symmetric matrix, the workhorse of the
/// spectral solvers (gradient flow at any time, ridge paths, eq. 22 in docs/equations.md).
///
/// Eigenvalues come in ascending order; column j of `V` is the unit eigenvector of `w[j]`
/// (numpy's `eigh` convention). The input is checked (square, finite, symmetric to `1e-6`
/// relative) and symmetrised. LAPACK's divide-and-conquer DSYEVD does the work; it reports
/// progress only at the start and the end, so cancellation takes effect before it starts.
public enum SymmetricEigen {
    /// Writes the eigenvalues of `k` into `values` (n doubles) and, when `vectors` is given
    /// (n × n), the eigenvectors as its columns. Values alone are several times cheaper.
    /// - Throws: `dimensionMismatch`, `nonFinite`, `invalidArgument` (not symmetric, aliasing),
    ///   `tooLarge` (n beyond what LAPACK's 32-bit workspace size can hold, about 32 000),
    ///   `outOfMemory`, `numericalFailure` (no convergence), `cancelled`.
    package static func compute(_ k: MatrixView, values: UnsafeMutablePointer<Double>,
                                vectors: MutableMatrixView?, progress: ProgressHandler = .none) throws {
        try InputCheck.square(k, "K")
        let n = k.rows
        // DSYEVD's workspace is 1 + 6n + 2n² doubles and its size is a 32-bit integer.
        let lwork = try Sizes.sum(try Sizes.product(2 * n, n, "eigensolver workspace"), 6 * n + 1,
                                  "eigensolver workspace")
        _ = try Sizes.blasInt(lwork, "eigensolver workspace for n = \(n)")
        if let vectors {
            guard vectors.rows == n, vectors.cols == n else {
                throw NTKError.dimensionMismatch("eigenvector output is \(vectors.rows) × \(vectors.cols) but K is "
                                                 + "\(n) × \(n)")
            }
            try vectors.requireDisjoint(from: k, "eigenvector output", "K")
            _ = try Sizes.blasInt(vectors.ld, "leading dimension of the eigenvector output")
        }
        let valuesView = MatrixView(unchecked: UnsafePointer(values), rows: 1, cols: n, ld: max(n, 1))
        try vectors?.requireDisjoint(from: valuesView, "eigenvector output", "eigenvalue output")
        try progress.report(0)
        if n == 0 { return try progress.report(1) }

        // Work in the eigenvector output when there is one, else in a scratch copy.
        let scratch: Workspace?
        let a: UnsafeMutablePointer<Double>, lda: Int
        if let vectors {
            (scratch, a, lda) = (nil, vectors.base, vectors.ld)
        } else {
            let w = try Workspace(count: try Sizes.product(n, n, "size of K"), for: "the eigensolver")
            (scratch, a, lda) = (w, w.pointer, n)
        }
        try withExtendedLifetime(scratch) {
            try Symmetry.symmetrizedCopy(k, into: a, ldOut: lda, name: "K")
            try progress.report(0.01)
            // A symmetric row-major matrix is its own column-major transpose; LAPACK returns the
            // eigenvectors as columns of a column-major array, i.e. rows of ours: transpose after.
            let job = CChar(UInt8(ascii: vectors == nil ? "N" : "V"))
            let info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, job, CChar(UInt8(ascii: "U")), Int32(n), a, Int32(lda), values)
            if info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR {
                throw NTKError.outOfMemory("could not allocate the eigensolver workspace for n = \(n)")
            }
            if info > 0 { throw NTKError.numericalFailure("the symmetric eigensolver (DSYEVD) did not converge (info "
                                                          + "\(info))") }
            if info < 0 { throw NTKError(.internalError, "DSYEVD rejected argument \(-info)") }
        }
        if vectors != nil { Symmetry.transposeInPlace(a, n: n, ld: lda) }
        try progress.report(1)
    }
}

extension SymmetricEigen {
    /// The largest eigenvalue λ_max of the symmetric matrix `k` (values-only DSYEVD).
    public static func largestEigenvalue(_ k: MatrixView, progress: ProgressHandler = .none) throws -> Double {
        let values = try Workspace(count: max(k.rows, 1), for: "eigenvalues")
        try compute(k, values: values.pointer, vectors: nil, progress: progress)
        return k.rows == 0 ? 0 : values.pointer[k.rows - 1]
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix.
public struct SymmetricEigendecomposition: Sendable {
    /// The eigenvalues in ascending order.
    public let values: [Double]
    /// The orthonormal eigenvectors as columns: column j belongs to `values[j]`.
    public let vectors: Matrix

    /// Decomposes `k`; see `SymmetricEigen.compute`.
    public init(_ k: Matrix, progress: ProgressHandler = .none) throws {
        // One spare element so that the buffer has a base address even when n = 0.
        var values = [Double](repeating: 0, count: k.rows + 1)
        var vectors = try Matrix(rows: k.rows, cols: k.rows)
        try k.withView { kv in
            try vectors.withMutableView { vv in
                try values.withUnsafeMutableBufferPointer { w in
                    try SymmetricEigen.compute(kv, values: w.baseAddress!, vectors: vv, progress: progress)
                }
            }
        }
        self.values = Array(values.prefix(k.rows))
        self.vectors = vectors
    }
}

/// The eigenvalues of a symmetric matrix, ascending.
public func symmetricEigenvalues(_ k: Matrix, progress: ProgressHandler = .none) throws -> [Double] {
    var values = [Double](repeating: 0, count: k.rows + 1)
    try k.withView { kv in
        try values.withUnsafeMutableBufferPointer { w in
            try SymmetricEigen.compute(kv, values: w.baseAddress!, vectors: nil, progress: progress)
        }
    }
    return Array(values.prefix(k.rows))
}
