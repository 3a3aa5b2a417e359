import CBLAS

/// `c ← α · op(a) · op(b) + β · c` (DGEMM, or SGEMM on single-precision views) on row-major
/// views, where `op` optionally transposes.
///
/// Internal: callers have validated the shapes (every size and leading dimension fits in 32 bits
/// because it belongs to a validated view whose extent was checked); the dimension agreement is
/// re-checked here and reported as an internal error, never a trap.
enum MatrixProduct {
    static func gemm<S: BLASScalar>(_ a: RowMajorView<S>, transposeA: Bool = false, _ b: RowMajorView<S>,
                                    transposeB: Bool = false, alpha: S = 1, beta: S = 0,
                                    into c: MutableRowMajorView<S>) throws {
        let (m, kA) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
        let (kB, n) = transposeB ? (b.cols, b.rows) : (b.rows, b.cols)
        guard kA == kB, c.rows == m, c.cols == n else {
            throw NTKError(.internalError, "matrix product of \(m)×\(kA) by \(kB)×\(n) into \(c.rows)×\(c.cols)")
        }
        try requireBLASSizes([(m, "rows"), (n, "columns"), (kA, "inner dimension"),
                              (a.ld, "leading dimension"), (b.ld, "leading dimension"), (c.ld, "leading dimension")],
                              "matrix product")
        if m == 0 || n == 0 { return }
        if kA == 0 {
            if beta == 0 { c.fill(0) } else if beta != 1 {
                for i in 0..<m { for j in 0..<n { c[i, j] *= beta } }
            }
            return
        }
        S.gemm(transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n),
               Int32(kA), alpha, a.base, Int32(a.ld), b.base, Int32(b.ld), beta, c.base, Int32(c.ld))
    }
}

extension MatrixProduct {
    /// Throws `tooLarge` unless every size of a BLAS call fits BLAS's 32-bit integers; `what`
    /// names the operation in the message ("matrix product rows", ...).
    static func requireBLASSizes(_ sizes: [(Int, String)], _ what: String) throws {
        for (value, name) in sizes { _ = try Sizes.blasInt(value, "\(what) \(name)") }
    }

    /// The lower triangle of `c ← α · a · aᵀ + β c` (DSYRK or SSYRK; with `transposeA`,
    /// `α · aᵀ · a + β c`); the strict upper triangle of `c` is not written. Shapes validated by
    /// the caller as for `gemm`.
    static func syrkLower<S: BLASScalar>(_ a: RowMajorView<S>, transposeA: Bool = false, alpha: S = 1, beta: S = 0,
                                         into c: MutableRowMajorView<S>) throws {
        let (order, inner) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
        guard c.rows == order, c.cols == order else {
            throw NTKError(.internalError, "symmetric product of \(a.rows)×\(a.cols) into \(c.rows)×\(c.cols)")
        }
        try requireBLASSizes([(a.rows, "rows"), (a.cols, "columns"), (a.ld, "leading dimension"),
                              (c.ld, "leading dimension")], "symmetric product")
        if order == 0 { return }
        if inner == 0 {
            for i in 0..<order { for j in 0...i { c[i, j] *= beta } }
            return
        }
        S.syrkLower(transposeA ? CblasTrans : CblasNoTrans, Int32(order), Int32(inner), alpha, a.base, Int32(a.ld),
                    beta, c.base, Int32(c.ld))
    }

    /// The lower triangle of `c ← α (a bᵀ + b aᵀ) + β c` (DSYR2K), a and b of one shape.
    static func syr2kLower(_ a: MatrixView, _ b: MatrixView, alpha: Double = 1, beta: Double = 0,
                           into c: MutableMatrixView) throws {
        guard b.rows == a.rows, b.cols == a.cols, c.rows == a.rows, c.cols == a.rows else {
            throw NTKError(.internalError,
                           "symmetric rank-2k product of \(a.rows)×\(a.cols) and \(b.rows)×\(b.cols) into "
                               + "\(c.rows)×\(c.cols)")
        }
        try requireBLASSizes([(a.rows, "rows"), (a.cols, "inner dimension"), (a.ld, "leading dimension"),
                              (b.ld, "leading dimension"), (c.ld, "leading dimension")], "symmetric product")
        if a.rows == 0 { return }
        if a.cols == 0 {
            for i in 0..<a.rows { for j in 0...i { c[i, j] *= beta } }
            return
        }
        cblas_dsyr2k(CblasRowMajor, CblasLower, CblasNoTrans, Int32(a.rows), Int32(a.cols), alpha, a.base, Int32(a.ld),
                     b.base, Int32(b.ld), beta, c.base, Int32(c.ld))
    }

    /// `c ← a · s` for a symmetric `s` of which the lower triangle is read (DSYMM, s on the right).
    static func symmRight(_ a: MatrixView, symmetric s: MatrixView, into c: MutableMatrixView) throws {
        guard s.rows == s.cols, s.rows == a.cols, c.rows == a.rows, c.cols == a.cols else {
            throw NTKError(.internalError,
                           "symmetric product of \(a.rows)×\(a.cols) by \(s.rows)×\(s.cols) into \(c.rows)×\(c.cols)")
        }
        try requireBLASSizes([(a.rows, "rows"), (a.cols, "columns"), (a.ld, "leading dimension"),
                              (s.ld, "leading dimension"), (c.ld, "leading dimension")], "symmetric product")
        if a.rows == 0 || a.cols == 0 { return }
        cblas_dsymm(CblasRowMajor, CblasRight, CblasLower, Int32(a.rows), Int32(a.cols), 1, s.base, Int32(s.ld),
                    a.base, Int32(a.ld), 0, c.base, Int32(c.ld))
    }
}

extension AlignedBuffer {
    /// The workspace as a `rows × cols` row-major matrix (rows · cols ≤ count).
    func matrix(_ rows: Int, _ cols: Int) -> MutableRowMajorView<Element> {
        // Safe: the workspace holds at least rows · cols entries, so the shape is valid.
        MutableRowMajorView(unchecked: pointer, rows: rows, cols: cols, ld: max(cols, 1))
    }
}

extension MutableRowMajorView {
    init(unchecked base: UnsafeMutablePointer<Scalar>, rows: Int, cols: Int, ld: Int) {
        self.base = base
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// Rows `from..<to` as a view sharing this memory.
    func rowRange(_ from: Int, _ to: Int) -> MutableRowMajorView {
        MutableRowMajorView(unchecked: base + from * ld, rows: to - from, cols: cols, ld: ld)
    }

    /// Copies `source` (of this view's shape) into this view.
    func copy(from source: RowMajorView<Scalar>) {
        for i in 0..<rows { (base + i * ld).update(from: source.base + i * source.ld, count: cols) }
    }

    /// Columns `from..<to` as a view sharing this memory.
    func columns(_ from: Int, _ to: Int) -> MutableRowMajorView {
        MutableRowMajorView(unchecked: base + from, rows: rows, cols: to - from, ld: ld)
    }
}

extension RowMajorView {
    /// Columns `from..<to` as a view sharing this memory.
    func columns(_ from: Int, _ to: Int) -> RowMajorView {
        RowMajorView(unchecked: base + from, rows: rows, cols: to - from, ld: ld)
    }
}
