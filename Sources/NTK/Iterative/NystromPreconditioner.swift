/// A rank-m Nyström preconditioner for CG on `(K + zI) α = R` with a kernel K given by its
/// columns (the matrix-free empirical NTK of an MLP or of a model): with m centres C (rows of
/// the data or given points), `K_nm = K(X, C)` and `K_mm = L Lᵀ`, `U = K_nm L⁻ᵀ` and
///
///     M = U Uᵀ + z′I,   M⁻¹ r = (r − U (z′I + UᵀU)⁻¹ Uᵀ r) / z′   (Woodbury),
///
/// z′ = z, or 10⁻⁶ × the mean diagonal of K_mm when z = 0.
///
/// **U is stored in single precision** (n·m floats — half the memory of the largest thing a
/// matrix-free fit keeps, 1.6 GB instead of 3.3 GB at n = 2·10⁵, m = 2048) and read back into
/// doubles block by block for every product, with `UᵀU` formed from the rounded U. So M is the
/// preconditioner of the rounded U *exactly* — symmetric positive definite, applied in double
/// precision — and CG converges to any tolerance; rounding only moves U by a relative 6·10⁻⁸,
/// nothing next to how far M is from K + zI. K_nm is computed in blocks of rows, so the
/// full double-precision K_nm never exists either (`bytes(n:m:)` is the whole footprint).
///
/// With a data partition (the rows one part of the data, the centres the same on every part)
/// this is the preconditioner of all the rows: UᵀU and Uᵀr are summed over the parts, the rest is
/// the part's own rows of M⁻¹ r.
final class NystromPreconditioner: Preconditioner {
    /// U (n × m, row-major), rounded to single precision.
    let u: SingleWorkspace
    /// The Cholesky factor of z′I + UᵀU (m × m, lower).
    let inner: Workspace
    /// z′.
    let shift: Double
    let n: Int, m: Int

    /// The parts' sums (nil: the rows are all the data): UᵀU and Uᵀr add up over the parts.
    let partition: DataPartition?
    /// Rows of U per block read back into doubles.
    let panelRows: Int

    /// Rows of U per block when K_nm is formed (about 128 MB of doubles, at least 2m rows: the
    /// centres' share of each block's kernel work stays small).
    static func constructionRows(n: Int, m: Int) -> Int { max(1, min(n, max(2 * m, (16 << 20) / max(m, 1)))) }
    /// Rows of U per block when U is read back (a cache-sized panel of doubles).
    static func productRows(m: Int) -> Int { max(1, (1 << 19) / max(m, 1)) }

    /// Bytes the preconditioner needs at its peak (U, its three m × m matrices and a block).
    static func bytes(n: Int, m: Int) throws -> Int {
        let single = try Sizes.product(try Sizes.product(n, m, "the preconditioner"), 4, "bytes")
        let doubles = try Sizes.product(try Sizes.sum(3 * m, constructionRows(n: n, m: m), "the preconditioner"), m,
                                        "the preconditioner")
        return try Sizes.sum(single, try Sizes.product(doubles, 8, "bytes"), "the preconditioner's bytes")
    }

    /// `centerKernel(out)` writes K(C, C) (m × m); `rows(range, out)` K(X[range], C)
    /// (range.count × m) for consecutive blocks of this part's n rows.
    /// - Throws: `notPositiveDefinite` (K_mm singular beyond jitter), `outOfMemory`, `cancelled`,
    ///   whatever the closures and the partition's sum throw.
    /// `blockRows` (construction, products) overrides the block sizes (tests).
    init(n: Int, m: Int, ridge z: Double, partition: DataPartition?, blockRows: (Int, Int)? = nil,
         centerKernel: (MutableMatrixView) throws -> Void,
         rows kernelRows: (Range<Int>, MutableMatrixView) throws -> Void) throws {
        let kmm = try Workspace(count: max(m * m, 1), for: "the centres' kernel")
        try centerKernel(kmm.matrix(m, m))
        var trace = 0.0
        for i in 0..<m { trace += kmm.pointer[i * m + i] }
        let (l, _) = try NystromRidge.centerFactor(kmm.matrix(m, m).readOnly)
        let factor = l.matrix(m, m).readOnly
        let u = try SingleWorkspace(count: try Sizes.product(n, m, "K(X, C)"), for: "the preconditioner's U")
        let inner = try Workspace(count: max(m * m, 1), for: "the preconditioner's inner matrix")
        inner.pointer.update(repeating: 0, count: m * m)
        let rowsPerBlock = max(1, min(blockRows?.0 ?? Self.constructionRows(n: n, m: m), max(n, 1)))
        let block = try Workspace(count: max(rowsPerBlock * m, 1), for: "a block of K(X, C)")
        for start in stride(from: 0, to: n, by: rowsPerBlock) {
            let rows = start..<min(n, start + rowsPerBlock), b = block.matrix(rows.count, m)
            try kernelRows(rows, b)
            // U_b = K_bm L⁻ᵀ, rounded; UᵀU from the rounded rows.
            try TriangularProduct.solve(factor, transpose: true, side: .right, b)
            Precision.round(block.pointer, count: rows.count * m, into: u.pointer + start * m)
            try MatrixProduct.syrkLower(b.readOnly, transposeA: true, beta: 1, into: inner.matrix(m, m))
        }
        try partition.sum(inner.pointer, m * m)  // UᵀU over all the rows (the lower triangle is what counts)
        let shift = z > 0 ? z : 1e-6 * max(trace / Double(max(m, 1)), Double.leastNormalMagnitude)
        for i in 0..<m { inner.pointer[i * m + i] += shift }
        try CholeskyFactorization.factorInPlace(inner.pointer, n: m, progress: .none)
        self.u = u
        self.inner = inner
        self.shift = shift
        self.n = n
        self.m = m
        self.partition = partition
        self.panelRows = max(1, blockRows?.1 ?? Self.productRows(m: m))
    }

    /// U as doubles, a block of rows at a time: `body(rows, U[rows])`.
    private func forEachBlock(_ body: (Range<Int>, MatrixView) throws -> Void) throws {
        let panel = try Workspace(count: max(min(panelRows, n) * m, 1), for: "a panel of the preconditioner")
        for start in stride(from: 0, to: n, by: panelRows) {
            let rows = start..<min(n, start + panelRows)
            Precision.widen(u.pointer + start * m, count: rows.count * m, into: panel.pointer)
            try body(rows, panel.matrix(rows.count, m).readOnly)
        }
    }

    /// out = M⁻¹ r (n × k each).
    func apply(_ r: MatrixView, into out: MutableMatrixView) throws {
        let k = r.cols
        // A part without rows still takes part in the sum (every part calls it at the same points).
        if k == 0 || (n == 0 && partition == nil) { return }
        let w = try Workspace(count: max(m * k, 1), for: "a preconditioner product")
        w.pointer.update(repeating: 0, count: m * k)
        try forEachBlock { rows, panel in
            try MatrixProduct.gemm(panel, transposeA: true, r.rowRange(rows.lowerBound, rows.upperBound), beta: 1,
                                   into: w.matrix(m, k))
        }
        try partition.sum(w.pointer, m * k)  // Uᵀr over all the rows
        let l = inner.matrix(m, m).readOnly
        try TriangularProduct.solve(l, w.matrix(m, k))
        try TriangularProduct.solve(l, transpose: true, w.matrix(m, k))
        out.copy(from: r)
        try forEachBlock { rows, panel in
            try MatrixProduct.gemm(panel, w.matrix(m, k).readOnly, alpha: -1, beta: 1,
                                   into: out.rowRange(rows.lowerBound, rows.upperBound))
        }
        let scale = 1 / shift
        for i in 0..<n { for c in 0..<k { out[i, c] *= scale } }
    }
}
