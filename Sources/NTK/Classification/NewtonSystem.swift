/// One Newton system of `KernelLogistic`: `H Δ = −g` with
/// `H = Σᵢ (Φᵢᵀ Φᵢ) ⊗ Wᵢ + λ I` (r·k unknowns, w stored r × k), solved by conjugate gradients
/// inside the subspace `Σ_c Δ_c = 0` (H maps it to itself because `Wᵢ 1 = 0`), preconditioned by
/// the projection of `P ⊗ I_k` with `P = Φᵀ diag(dᵢ) Φ + λ I`,
/// `dᵢ = 1/(k−1) · Σ_c π_ic(1 − π_ic)` (the mean eigenvalue of Wᵢ on the subspace):
/// `M⁻¹ v = C (P⁻¹ ⊗ I) C v` with C the centring over classes. For two classes this is H on
/// the subspace exactly (CG converges in one step); for k classes it is exact when every point's
/// probabilities are uniform, and costs one `n·r²` product and one Cholesky per Newton step
/// whatever k.
struct NewtonSystem {
    let features: KernelFeatures
    let classes: Int
    let ridge: Double
    let probabilities: Workspace
    /// The Cholesky factor of P (lower, r × r).
    let factor: Workspace
    var n: Int { features.n }
    var r: Int { features.rank }

    /// The system at the current probabilities; `reusing` keeps an earlier step's factor of P
    /// (still a good preconditioner while the probabilities move little) instead of forming it.
    init(features: KernelFeatures, classes k: Int, ridge: Double, probabilities: Workspace,
         reusing previous: Workspace? = nil) throws {
        self.features = features
        self.classes = k
        self.ridge = ridge
        self.probabilities = probabilities
        if let previous {
            factor = previous
            return
        }
        factor = try NewtonSystem.weightedGram(features, ridge: ridge) { i in
            var sum = 0.0
            for c in 0..<k { sum += probabilities.pointer[i * k + c] * (1 - probabilities.pointer[i * k + c]) }
            return sum / Double(k - 1)
        }
    }

    /// The Cholesky factor L of `Φᵀ diag(d) Φ + λ I` (lower triangle; d ≥ 0 by row), formed by
    /// blocks of rows (DSYRK) so the scaled copy never exceeds 4M doubles.
    static func weightedGram(_ features: KernelFeatures, ridge: Double, weight: (Int) -> Double) throws -> Workspace {
        let n = features.n, r = features.rank
        let gram = try Workspace(count: try Sizes.product(r, r, "preconditioner"), for: "the Newton preconditioner")
        let g = gram.matrix(r, r)
        g.fill(0)
        let rows = max(1, min(n, (1 << 22) / max(r, 1)))
        let scaled = try Workspace(count: try Sizes.product(rows, r, "block"), for: "a block of scaled features")
        let phi = features.features
        for r0 in stride(from: 0, to: n, by: rows) {
            let count = min(rows, n - r0)
            for i in 0..<count {
                let s = weight(r0 + i).squareRoot()
                for j in 0..<r { scaled.pointer[i * r + j] = s * phi[r0 + i, j] }
            }
            try MatrixProduct.syrkLower(scaled.matrix(count, r).readOnly, transposeA: true, beta: 1, into: g)
        }
        for i in 0..<r { g[i, i] += ridge }
        try CholeskyFactorization.factorInPlace(gram.pointer, n: r, progress: .none)
        return gram
    }

    /// Solves for the step Δ = −H⁻¹ g (r × k) to relative residual `tolerance`; returns the CG
    /// iterations taken.
    @discardableResult
    func solve(gradient: Workspace, into step: Workspace, tolerance: Double) throws -> Int {
        let rk = r * classes
        let rhs = try Workspace(count: rk, for: "the Newton right-hand side")
        for j in 0..<rk { rhs.pointer[j] = -gradient.pointer[j] }
        center(rhs.pointer)
        let scratch = try Workspace(count: try Sizes.product(n, classes, "logits"), for: "a Hessian product")
        let cg = ConjugateGradient(rows: rk, columns: 1, apply: { v, out, _ in
            try self.hessianProduct(v.base, into: out.base, scratch: scratch)
        }, preconditioner: SharedPreconditioner(system: self), reduce: nil, name: "kernel logistic Newton CG",
                                    warnsAtCap: false)
        let settings = try ConjugateGradient.Settings(tolerance: tolerance, maxIterations: 200)
        let outcome = try cg.solve(MatrixView(unchecked: UnsafePointer(rhs.pointer), rows: rk, cols: 1, ld: 1),
                                   into: step.matrix(rk, 1), settings: settings)
        center(step.pointer)
        return outcome.iterations
    }

    /// `out ← H v` for v stored r × k: `Φᵀ [Wᵢ (Φ v)ᵢ]ᵢ + λ v`.
    func hessianProduct(_ v: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>,
                        scratch: Workspace) throws {
        let k = classes
        let u = scratch.matrix(n, k)
        try MatrixProduct.gemm(features.features, MatrixView(unchecked: v, rows: r, cols: k, ld: k), into: u)
        for i in 0..<n { Softmax.hessianProduct(probabilities.pointer + i * k, scratch.pointer + i * k, k) }
        for j in 0..<(r * k) { out[j] = ridge * v[j] }
        try MatrixProduct.gemm(features.features, transposeA: true, u.readOnly, beta: 1,
                               into: MutableMatrixView(unchecked: out, rows: r, cols: k, ld: k))
    }

    /// Subtracts each feature row's mean over the classes (the projection onto Σ_c v_c = 0).
    func center(_ v: UnsafeMutablePointer<Double>) {
        let k = classes
        for a in 0..<r {
            var mean = 0.0
            for c in 0..<k { mean += v[a * k + c] }
            mean /= Double(k)
            for c in 0..<k { v[a * k + c] -= mean }
        }
    }

    /// `M⁻¹ = C (P⁻¹ ⊗ I) C` for the CG solver (v stored r × k: P⁻¹ applied to its k columns at once).
    struct SharedPreconditioner: Preconditioner {
        let system: NewtonSystem
        func apply(_ v: MatrixView, into out: MutableMatrixView) throws {
            let r = system.r, k = system.classes
            out.base.update(from: v.base, count: r * k)
            system.center(out.base)
            let l = system.factor.matrix(r, r).readOnly
            let block = MutableMatrixView(unchecked: out.base, rows: r, cols: k, ld: k)
            try TriangularProduct.solve(l, block)
            try TriangularProduct.solve(l, transpose: true, block)
            system.center(out.base)
        }
    }
}
