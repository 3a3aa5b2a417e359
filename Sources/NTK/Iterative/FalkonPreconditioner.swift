/// Falkon's preconditioner for the Nyström normal equations `H β = K_mn R`,
/// `H = K_mnK_nm + z K_mm` with `K_mm = L Lᵀ` (Rudi, Carratino, Rosasco 2017): `B = L⁻ᵀ A⁻ᵀ` with
/// `A Aᵀ = (n/c) LᵀL + z I`, from `K_mnK_nm ≈ (n/c) K_mm²` for uniformly chosen centres, so that
/// `BᵀHB ≈ I`. CG then runs on `BᵀHB γ = Bᵀ K_mn R` and β = Bγ: a change of variables rather
/// than an `M⁻¹` of `Preconditioner`, since Falkon's B is a factor, not a square root's inverse.
struct FalkonPreconditioner {
    /// L (c × c, lower).
    let factor: MatrixView
    /// A (c × c, lower), the Cholesky factor of (n/c) LᵀL + z I.
    let inner: Workspace

    /// - Parameters: `factor` L; `points` n (over all parts of a partition); `ridge` z ≥ 0.
    /// - Throws: `notPositiveDefinite` if (n/c) LᵀL + z I is numerically singular, `outOfMemory`.
    init(factor l: MatrixView, points n: Int, ridge z: Double) throws {
        let c = l.rows
        let a = try Workspace(count: max(c * c, 1), for: "the Falkon preconditioner")
        try MatrixProduct.syrkLower(l, transposeA: true, alpha: Double(n) / Double(max(c, 1)), into: a.matrix(c, c))
        for i in 0..<c { a.pointer[i * c + i] += z }
        // (n/c) LᵀL + z I is positive definite whenever L is; rounding aside.
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
