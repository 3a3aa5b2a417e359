/// Gram matrices, the building block of every kernel: `G = α A Bᵀ`, and `G = α A Aᵀ` for the
/// symmetric case.
///
/// With `A` (n1 × d) and `B` (n2 × d) whose rows are feature vectors (or Jacobian rows,
/// eq. 4 in docs/equations.md), `G_ij = α ⟨a_i, b_j⟩`. The general case is one DGEMM per block of rows;
/// the symmetric case computes only the lower triangle (DGEMM left of the diagonal block, DSYRK
/// on it, n²d flops instead of 2n²d) and then mirrors it, so the result is exactly symmetric.
/// With a progress callback, rows are processed in blocks so that it can report and cancel.
public enum Gram {
    /// Rows per block. Blocks exist only to report progress: each extra BLAS call repacks the
    /// shared operand and costs a few percent, so without a callback the whole product is one
    /// call; with one, blocks are large enough to keep DGEMM near full speed.
    static func blockRows(_ n: Int, _ progress: ProgressHandler) -> Int {
        progress.isActive ? max(512, (n + 15) / 16) : max(n, 1)
    }

    /// Writes `α · a · bᵀ` into `out`, or `α · a · aᵀ` (both triangles) when `b` is nil.
    ///
    /// - Parameters:
    ///   - a: n1 × d.
    ///   - b: n2 × d, or nil for the symmetric Gram of `a` (then n2 = n1).
    ///   - alpha: finite scale, e.g. `1/d` for the input kernel `x·x'/d`.
    ///   - out: n1 × n2, must not overlap `a` or `b`.
    /// - Throws: `dimensionMismatch` when shapes disagree, `nonFinite` for NaN/Inf in `a`, `b` or
    ///   `alpha`, `tooLarge` beyond 32-bit BLAS sizes, `invalidArgument` for aliasing outputs,
    ///   `numericalFailure` when an entry overflows the double range, `cancelled`.
    /// - Edge cases: d = 0 gives zeros; n1 = 0 or n2 = 0 writes nothing.
    public static func compute(_ a: MatrixView, _ b: MatrixView?, alpha: Double = 1,
                               into out: MutableMatrixView, progress: ProgressHandler = .none) throws {
        let n1 = a.rows, d = a.cols
        let n2 = b?.rows ?? n1
        if let b, b.cols != d {
            throw NTKError.dimensionMismatch("A has \(d) columns but B has \(b.cols); both need the feature dimension")
        }
        guard out.rows == n1, out.cols == n2 else {
            throw NTKError.dimensionMismatch("output is \(out.rows) × \(out.cols) but A Bᵀ is \(n1) × \(n2)")
        }
        try InputCheck.finite(alpha, "alpha")
        for (n, what) in [(n1, "rows of A"), (n2, "rows of B"), (d, "columns of A"),
                          (a.ld, "leading dimension of A"), (b?.ld ?? 0, "leading dimension of B"),
                          (out.ld, "leading dimension of the output")] {
            _ = try Sizes.blasInt(n, what)
        }
        try out.requireDisjoint(from: a, "output", "A")
        if let b { try out.requireDisjoint(from: b, "output", "B") }
        try InputCheck.finite(a, "A")
        if let b { try InputCheck.finite(b, "B") }

        try progress.report(0)
        if n1 == 0 || n2 == 0 { return try progress.report(1) }
        if d == 0 {
            out.fill(0)
            return try progress.report(1)
        }
        if let b {
            try general(a, b, alpha: alpha, out: out, progress: progress)
        } else {
            try symmetric(a, alpha: alpha, out: out, progress: progress)
        }
        try InputCheck.finiteResult(out, "the Gram matrix")
        try progress.report(1)
    }

    /// `α A Bᵀ` into `out`, unchecked (callers have validated shapes and values), in either
    /// precision.
    static func general<S: BLASScalar>(_ a: RowMajorView<S>, _ b: RowMajorView<S>, alpha: S,
                                       out: MutableRowMajorView<S>, progress: ProgressHandler) throws {
        let n1 = a.rows
        let step = blockRows(n1, progress)
        var i0 = 0
        while i0 < n1 {
            let rows = min(step, n1 - i0)
            try MatrixProduct.gemm(a.rowRange(i0, i0 + rows), b, transposeB: true, alpha: alpha,
                                   into: out.rowRange(i0, i0 + rows))
            i0 += rows
            try progress.report(Double(i0) / Double(n1))
        }
    }

    /// `α A Aᵀ` into `out`, unchecked: the lower triangle (and diagonal), then, with `mirror`,
    /// its copy into the upper one.
    static func symmetric<S: BLASScalar>(_ a: RowMajorView<S>, alpha: S, out: MutableRowMajorView<S>,
                                         progress: ProgressHandler, mirror: Bool = true) throws {
        let n = a.rows
        let step = blockRows(n, progress)
        // Work of block rows [0, i1) is proportional to i1², so report (i1/n)².
        var i0 = 0
        while i0 < n {
            let rows = min(step, n - i0)
            let block = a.rowRange(i0, i0 + rows), outBlock = out.rowRange(i0, i0 + rows)
            if i0 > 0 {
                try MatrixProduct.gemm(block, a.rowRange(0, i0), transposeB: true, alpha: alpha,
                                       into: outBlock.columns(0, i0))
            }
            try MatrixProduct.syrkLower(block, alpha: alpha, into: outBlock.columns(i0, i0 + rows))
            i0 += rows
            let done = Double(i0) / Double(n)
            try progress.report(0.99 * done * done)
        }
        if mirror { Symmetry.mirrorLowerToUpper(out.base, n: n, ld: out.ld) }
    }
}

/// `α · a · bᵀ` (or `α · a · aᵀ` when `b` is nil) as a new matrix. See `Gram.compute`.
public func gram(_ a: Matrix, _ b: Matrix? = nil, alpha: Double = 1,
                 progress: ProgressHandler = .none) throws -> Matrix {
    var out = try Matrix(rows: a.rows, cols: b?.rows ?? a.rows)
    try a.withView { av in
        try out.withMutableView { ov in
            if let b {
                try b.withView { bv in try Gram.compute(av, bv, alpha: alpha, into: ov, progress: progress) }
            } else {
                try Gram.compute(av, nil, alpha: alpha, into: ov, progress: progress)
            }
        }
    }
    return out
}
