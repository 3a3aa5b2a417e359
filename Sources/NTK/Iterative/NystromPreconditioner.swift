/// A rank-m Nyström preconditioner for CG on `(K + zI) α = R` with a kernel K given by its
/// columns (the matrix-free empirical NTK of an MLP or of a model): with m uniformly chosen
/// centres C, `K_nm = K(X, C)` and `K_mm = L Lᵀ`, `U = K_nm L⁻ᵀ` and
///
///     M = U Uᵀ + z′I,   M⁻¹ r = (r − U (z′I + UᵀU)⁻¹ Uᵀ r) / z′   (Woodbury),
///
/// z′ = z, or 10⁻⁶ × the mean diagonal of K_mm when z = 0. Memory n·m + m² doubles. With a
/// data partition (the rows one part of the data, the centres the same on every part) this is
/// the preconditioner of all the rows: UᵀU and Uᵀr are summed over the parts, the rest is the
/// part's own rows of M⁻¹ r.
final class NystromPreconditioner: Preconditioner {
    /// U (n × m).
    let u: Workspace
    /// The Cholesky factor of z′I + UᵀU (m × m, lower).
    let inner: Workspace
    /// z′.
    let shift: Double
    let n: Int, m: Int

    /// The parts' sums (nil: the rows are all the data): UᵀU and Uᵀr add up over the parts.
    let partition: DataPartition?

    /// Centres drawn among the rows.
    /// - Throws: `notPositiveDefinite` (K_mm singular beyond jitter), `outOfMemory`, `cancelled`.
    /// `columns(centers, out)` writes K(X, X[centers]) (n × m) into `out`.
    convenience init(n: Int, rank m: Int, ridge z: Double, seed: UInt64,
                     columns: ([Int], MutableMatrixView) throws -> Void) throws {
        let centers = try NystromCenters.uniform(n: n, c: m, seed: seed)
        let u = try Workspace(count: try Sizes.product(n, m, "K(X, C)"), for: "the preconditioner's K(X, C)")
        try columns(centers, u.matrix(n, m))
        // K_mm: the centres' rows of K(X, C).
        let kmm = try Workspace(count: m * m, for: "the centres' kernel")
        for (r, i) in centers.enumerated() { (kmm.pointer + r * m).update(from: u.pointer + i * m, count: m) }
        try self.init(n: n, m: m, kernelColumns: u, centerKernel: kmm, ridge: z, partition: nil)
    }

    /// Centres given as points, the same on every part of a partition (this part's n rows):
    /// `columns(false, out)` writes K(X, C) (n × m), `columns(true, out)` K(C, C) (m × m).
    /// - Throws: as the other initialiser, and whatever the partition's sum throws.
    convenience init(n: Int, m: Int, ridge z: Double, partition: DataPartition?,
                     columns: (Bool, MutableMatrixView) throws -> Void) throws {
        let u = try Workspace(count: try Sizes.product(n, m, "K(X, C)"), for: "the preconditioner's K(X, C)")
        try columns(false, u.matrix(n, m))
        let kmm = try Workspace(count: m * m, for: "the centres' kernel")
        try columns(true, kmm.matrix(m, m))
        try self.init(n: n, m: m, kernelColumns: u, centerKernel: kmm, ridge: z, partition: partition)
    }

    /// From K(X, C) (n × m, becomes U) and K_mm (m × m).
    private init(n: Int, m: Int, kernelColumns u: Workspace, centerKernel kmm: Workspace, ridge z: Double,
                 partition: DataPartition?) throws {
        var trace = 0.0
        for i in 0..<m { trace += kmm.pointer[i * m + i] }
        let (l, _) = try NystromRidge.centerFactor(kmm.matrix(m, m).readOnly)
        // U = K_nm L⁻ᵀ.
        try TriangularProduct.solve(l.matrix(m, m).readOnly, transpose: true, side: .right, u.matrix(n, m))
        let shift = z > 0 ? z : 1e-6 * max(trace / Double(m), Double.leastNormalMagnitude)
        let inner = try Workspace(count: m * m, for: "the preconditioner's inner matrix")
        inner.pointer.update(repeating: 0, count: m * m)
        if n > 0 { try MatrixProduct.syrkLower(u.matrix(n, m).readOnly, transposeA: true, into: inner.matrix(m, m)) }
        try partition.sum(inner.pointer, m * m)  // UᵀU over all the rows (the lower triangle is what counts)
        for i in 0..<m { inner.pointer[i * m + i] += shift }
        try CholeskyFactorization.factorInPlace(inner.pointer, n: m, progress: .none)
        self.u = u
        self.inner = inner
        self.shift = shift
        self.n = n
        self.m = m
        self.partition = partition
    }

    /// out = M⁻¹ r (n × k each).
    func apply(_ r: MatrixView, into out: MutableMatrixView) throws {
        let k = r.cols
        // A part without rows still takes part in the sum (every part calls it at the same points).
        if k == 0 || (n == 0 && partition == nil) { return }
        let w = try Workspace(count: max(m * k, 1), for: "a preconditioner product")
        w.pointer.update(repeating: 0, count: m * k)
        if n > 0 { try MatrixProduct.gemm(u.matrix(n, m).readOnly, transposeA: true, r, into: w.matrix(m, k)) }
        try partition.sum(w.pointer, m * k)  // Uᵀr over all the rows
        let l = inner.matrix(m, m).readOnly
        try TriangularProduct.solve(l, w.matrix(m, k))
        try TriangularProduct.solve(l, transpose: true, w.matrix(m, k))
        out.copy(from: r)
        try MatrixProduct.gemm(u.matrix(n, m).readOnly, w.matrix(m, k).readOnly, alpha: -1, beta: 1, into: out)
        let scale = 1 / shift
        for i in 0..<n { for c in 0..<k { out[i, c] *= scale } }
    }
}
