/// Falkon's preconditioner for the Nyström normal equations `H β = K_mn R`,
/// `H = K_mnK_nm + z K_mm` with `K_mm = L Lᵀ` (Rudi, Carratino, Rosasco 2017): `B = L⁻ᵀ A⁻ᵀ` with
/// `A Aᵀ ≈ L⁻¹ K_mnK_nm L⁻ᵀ + z I`, so that `BᵀHB ≈ I`. CG then runs on `BᵀHB γ = Bᵀ K_mn R` and
/// β = Bγ: a change of variables rather than an `M⁻¹` of `Preconditioner`, since B is a factor,
/// not a square root's inverse.
///
/// Two approximations of `K_mnK_nm`:
/// - **sketched** (`init(factor:rows:…)`): from s evenly spaced rows of `K(X, C)`,
///   `(n/s) K_smᵀK_sm`, so `A Aᵀ = (n/s) FᵀF + z I` with `F = K_sm L⁻ᵀ` (built block by block:
///   c² + blockRows·c doubles). With s = n it is H itself (CG converges at once); its cost is s
///   kernel rows and 2·s·c² flops;
/// - **Falkon's original** (`init(factor:points:ridge:)`): the centres as the rows,
///   `K_mnK_nm ≈ (n/c) K_mm²`, so `A Aᵀ = (n/c) LᵀL + z I` — no extra kernel rows, but poor for
///   slowly decaying spectra (the NTK's): 2–4× the iterations of a sketch of 16 c rows.
struct FalkonPreconditioner {
    /// L (c × c, lower).
    let factor: MatrixView
    /// A (c × c, lower), the Cholesky factor of the approximated `L⁻¹ H L⁻ᵀ`.
    let inner: Workspace

    /// Falkon's original: `A Aᵀ = (n/c) LᵀL + z I`.
    /// - Parameters: `factor` L; `points` n (over all parts of a partition); `ridge` z ≥ 0.
    /// - Throws: `notPositiveDefinite` if (n/c) LᵀL + z I is numerically singular, `outOfMemory`.
    init(factor l: MatrixView, points n: Int, ridge z: Double) throws {
        let c = l.rows
        let a = try Workspace(count: max(c * c, 1), for: "the Falkon preconditioner")
        try MatrixProduct.syrkLower(l, transposeA: true, alpha: Double(n) / Double(max(c, 1)), into: a.matrix(c, c))
        try self.init(factor: l, normal: a, ridge: z)
    }

    /// The sketch `A Aᵀ = (n/s) FᵀF + z I` from the rows that `blocks` hands out (each block's
    /// `K(X[rows], C)`, s rows in all on this part), summed over the parts of a partition.
    /// - Parameters: `points` n and the s rows are counted over every part.
    /// - Throws: `notPositiveDefinite`, `outOfMemory`, what `blocks` throws.
    init(factor l: MatrixView, points n: Int, ridge z: Double, partition: DataPartition?, sampledRows s: Int,
         blocks: ((MatrixView) throws -> Void) throws -> Void) throws {
        let c = l.rows
        // FᵀF (c × c) and then the row count: one reduction over the parts of a partition.
        let a = try Workspace(count: c * c + 1, for: "the Falkon preconditioner")
        let normal = a.matrix(c, c)
        a.pointer.update(repeating: 0, count: c * c + 1)
        a.pointer[c * c] = Double(s)
        var scratch: Workspace?
        try blocks { kb in
            // F = K_sm L⁻ᵀ for this block, then FᵀF accumulated (lower triangle).
            let rows = kb.rows
            if (scratch?.count ?? 0) < rows * c {
                scratch = try Workspace(count: max(rows * c, 1), for: "a block of the preconditioner's rows")
            }
            let f = scratch!.matrix(rows, c)
            f.copy(from: kb)
            try TriangularProduct.solve(l, transpose: true, side: .right, f)
            try MatrixProduct.syrkLower(f.readOnly, transposeA: true, beta: 1, into: normal)
        }
        try partition.sum(a.pointer, c * c + 1)
        let total = a.pointer[c * c]
        guard total > 0 else { throw NTKError.invalidArgument("the preconditioner needs at least one row") }
        let scale = Double(n) / total
        for i in 0..<c { for j in 0...i { a.pointer[i * c + j] *= scale } }
        try self.init(factor: l, normal: a, ridge: z)
    }

    /// A from the lower triangle of `L⁻¹ K_mnK_nm L⁻ᵀ`'s approximation in `a`, plus z I.
    private init(factor l: MatrixView, normal a: Workspace, ridge z: Double) throws {
        let c = l.rows
        for i in 0..<c { a.pointer[i * c + i] += z }
        // Positive definite whenever L is (z > 0 or the rows span); rounding aside.
        try CholeskyFactorization.factorInPlace(a.pointer, n: c, progress: .none)
        self.factor = l
        self.inner = a
    }

    /// `x ← B x = L⁻ᵀ A⁻ᵀ x` (c × k, in place).
    func apply(_ x: MutableMatrixView) throws {
        try TriangularProduct.solve(inner.matrix(factor.rows, factor.rows).readOnly, transpose: true, x)
        try TriangularProduct.solve(factor, transpose: true, x)
    }

    /// `x ← Bᵀ x = A⁻¹ L⁻¹ x` (c × k, in place).
    func applyTranspose(_ x: MutableMatrixView) throws {
        try TriangularProduct.solve(factor, x)
        try TriangularProduct.solve(inner.matrix(factor.rows, factor.rows).readOnly, x)
    }
}
