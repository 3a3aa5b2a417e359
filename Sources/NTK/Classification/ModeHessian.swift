#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exact Hessian `H = Σᵢ (Φᵢᵀ Φᵢ) ⊗ Wᵢ + λ I` of a fitted `KernelLogistic` at its minimum,
/// factored once to give, for any feature rows φ (m × r), the k × k blocks
///
///     S(φ) = (φ ⊗ I_k) H⁻¹ (φᵀ ⊗ I_k)
///
/// — the Laplace posterior covariance of the latent logits at φ (prior `w ~ N(0, I/λ)`) — and
/// `log det(H/λ)`. Two factorizations give the same numbers; the cheaper one (by flop count,
/// within the memory budget) is chosen:
///
/// - `subspace`: H restricted to the sum-zero subspace in the orthonormal (Helmert) basis Q of
///   `{v : Σ_c v_c = 0}`, `H_Q = Σᵢ (ΦᵢᵀΦᵢ) ⊗ (Qᵀ Wᵢ Q) + λ I` of order r(k−1), by Cholesky;
///   the sum direction (where H = λ) adds `(φφᵀ/λ)·11ᵀ/k`. Cheap for two classes or few
///   features (Nyström): O(k² n r² + (rk)³).
/// - `woodbury`: `H = A − U Uᵀ` with `A = blockdiag_c(Φᵀ diag(π_c) Φ + λ I)` and the columns
///   `uᵢ = Φᵢᵀ ⊗ πᵢ`, so `H⁻¹ = A⁻¹ + A⁻¹ U M⁻¹ Uᵀ A⁻¹` with the n × n matrix
///   `M = I − Σ_c D_c Φ A_c⁻¹ Φᵀ D_c` (`D_c = diag π_c`, positive definite since H is):
///   O(k n r² + k n² r + n³), the way for many classes with a dense kernel (n small).
struct ModeHessian {
    enum Form: String { case subspace, woodbury }

    let form: Form
    let classes: Int
    let rank: Int
    let ridge: Double
    /// `log det(H/λ)`.
    let logDeterminant: Double
    /// subspace: the Cholesky factor of H_Q. woodbury: the factor of M.
    let factor: Workspace
    /// woodbury only: per class, the factor L_c of A_c and `Y_c = L_c⁻¹ Φᵀ D_c` (r × n).
    let classFactors: [Workspace]
    let scaledFeatures: [Workspace]
    let n: Int

    /// Factors the Hessian of `model`; `form` forces a factorization (tests), nil picks the cheaper.
    init(_ model: KernelLogistic, memoryLimit: Int? = nil, form forced: Form? = nil) throws {
        let features = model.features
        let n = features.n, r = features.rank, k = model.classes
        let (order, budget) = (Double(r * (k - 1)), try MemoryBudget.resolve(memoryLimit))
        let subspaceCost = Double(k * k) * Double(n) * Double(r * r) + order * order * order / 3
            + Double(n) * order * order * Double(k - 1)
        let woodburyCost = 3 * Double(k) * Double(n) * Double(n) * Double(r) + Double(n) * Double(n) * Double(n) / 3
            + 2 * Double(k) * Double(n) * Double(n) * Double(n)
        let subspaceBytes = 8 * order * order, woodburyBytes = 8 * (Double(n) * Double(n) + Double(k * r) * Double(n))
        let useSubspace = forced.map { $0 == .subspace } ?? (subspaceBytes <= Double(budget)
            && (subspaceCost <= woodburyCost || woodburyBytes > Double(budget)))
        guard forced != nil || useSubspace || woodburyBytes <= Double(budget) else {
            throw NTKError.outOfMemory("the exact Hessian needs \(Log.bytes(Int(min(subspaceBytes, woodburyBytes)))) "
                                       + "but the memory budget is \(Log.bytes(budget)): use fewer centres")
        }
        self.classes = k
        self.rank = r
        self.ridge = model.ridge
        self.n = n
        let p = model.probabilities.pointer
        if useSubspace {
            form = .subspace
            (factor, logDeterminant) = try Self.subspaceFactor(features, k: k, ridge: model.ridge, probabilities: p)
            classFactors = []
            scaledFeatures = []
        } else {
            form = .woodbury
            var factors: [Workspace] = [], scaled: [Workspace] = []
            var logDet = 0.0
            let m = try Workspace(count: n * n, for: "the Woodbury matrix M")
            let mv = m.matrix(n, n)
            mv.fill(0)
            for c in 0..<k {
                let l = try NewtonSystem.weightedGram(features, ridge: model.ridge) { p[$0 * k + c] }
                for a in 0..<r { logDet += 2 * log(l.pointer[a * r + a]) }
                let y = try Workspace(count: r * n, for: "the Woodbury factors")
                for a in 0..<r { for i in 0..<n { y.pointer[a * n + i] = features.features[i, a] * p[i * k + c] } }
                try TriangularProduct.solve(l.matrix(r, r).readOnly, y.matrix(r, n))
                try MatrixProduct.syrkLower(y.matrix(r, n).readOnly, transposeA: true, alpha: -1, beta: 1, into: mv)
                factors.append(l)
                scaled.append(y)
            }
            for i in 0..<n { mv[i, i] += 1 }
            try CholeskyFactorization.factorInPlace(m.pointer, n: n, progress: .none)
            for i in 0..<n { logDet += 2 * log(m.pointer[i * n + i]) }
            factor = m
            classFactors = factors
            scaledFeatures = scaled
            logDeterminant = logDet - Double(r * k) * log(model.ridge)
        }
        Log.info("kernel logistic: exact Hessian by the \(form.rawValue) form (order "
                 + "\(form == .subspace ? r * (k - 1) : n))")
    }

    /// The Helmert basis of `{v ∈ ℝᵏ : Σ v = 0}`: column p is `(1, …, 1, −(p+1), 0, …)/√((p+1)(p+2))`.
    static func helmert(_ k: Int, _ c: Int, _ p: Int) -> Double {
        let norm = (Double(p + 1) * Double(p + 2)).squareRoot()
        return c <= p ? 1 / norm : c == p + 1 ? -Double(p + 1) / norm : 0
    }

    private static func subspaceFactor(_ features: KernelFeatures, k: Int, ridge: Double,
                                       probabilities p: UnsafePointer<Double>) throws -> (Workspace, Double) {
        let n = features.n, r = features.rank, q = k - 1, order = r * q
        let h = try Workspace(count: try Sizes.product(order, order, "Hessian"), for: "the exact Hessian")
        let block = try Workspace(count: r * r, for: "a Hessian block")
        let rows = max(1, min(n, (1 << 22) / max(r, 1)))
        let scaled = try Workspace(count: try Sizes.product(rows, r, "features"), for: "weighted features")
        let phi = features.features
        var omega = [Double](repeating: 0, count: n)
        for a in 0..<q {
            for b in a..<q {
                // ω_i = (Qᵀ W_i Q)_ab = Σ_c π_c Q_ca Q_cb − (Σ_c π_c Q_ca)(Σ_c π_c Q_cb).
                for i in 0..<n {
                    var both = 0.0, left = 0.0, right = 0.0
                    for c in 0..<k {
                        let (qa, qb) = (helmert(k, c, a), helmert(k, c, b)), pc = p[i * k + c]
                        both += pc * qa * qb
                        left += pc * qa
                        right += pc * qb
                    }
                    omega[i] = both - left * right
                }
                for r0 in stride(from: 0, to: n, by: rows) {
                    let count = min(rows, n - r0)
                    for i in 0..<count { for j in 0..<r { scaled.pointer[i * r + j] = omega[r0 + i] * phi[r0 + i, j] } }
                    try MatrixProduct.gemm(phi.rowRange(r0, r0 + count), transposeA: true,
                                           scaled.matrix(count, r).readOnly, beta: r0 == 0 ? 0 : 1,
                                           into: block.matrix(r, r))
                }
                for i in 0..<r {
                    for j in 0..<r {
                        let v = block.pointer[i * r + j]
                        h.pointer[(i * q + a) * order + j * q + b] = v
                        h.pointer[(j * q + b) * order + i * q + a] = v
                    }
                }
            }
        }
        for i in 0..<order { h.pointer[i * order + i] += ridge }
        try CholeskyFactorization.factorInPlace(h.pointer, n: order, progress: .none)
        var logDet = 0.0
        for i in 0..<order { logDet += 2 * log(h.pointer[i * order + i]) }
        return (h, logDet - Double(order) * log(ridge))
    }

    /// The blocks S(φᵢ) (k × k, row-major) for the m rows of `phi` into `out` (m·k·k doubles).
    func blocks(_ phi: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        guard phi.cols == rank else {
            throw NTKError(.internalError, "feature rows with \(phi.cols) columns for a Hessian of rank \(rank)")
        }
        let m = phi.rows, k = classes
        let batch = max(1, min(m, (1 << 22) / max(form == .subspace ? rank * k * k : k * n + n, 1)))
        for i0 in stride(from: 0, to: m, by: batch) {
            let rows = phi.rowRange(i0, min(i0 + batch, m))
            switch form {
            case .subspace: try subspaceBlocks(rows, into: out + i0 * k * k)
            case .woodbury: try woodburyBlocks(rows, into: out + i0 * k * k)
            }
        }
    }

    private func subspaceBlocks(_ phi: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        let m = phi.rows, k = classes, q = k - 1, r = rank, order = r * q
        // Right-hand sides E (order × m q): column (i, p) holds φ_i at rows (a, p).
        let e = try Workspace(count: try Sizes.product(order, m * q, "Hessian solves"), for: "Hessian solves")
        let ev = e.matrix(order, m * q)
        ev.fill(0)
        for i in 0..<m { for a in 0..<r { for p in 0..<q { ev[a * q + p, i * q + p] = phi[i, a] } } }
        try TriangularProduct.solve(factor.matrix(order, order).readOnly, ev)
        // S_Q(i)[p, t] = Σ_row (L⁻¹E)[row, (i, p)] (L⁻¹E)[row, (i, t)], accumulated row by row
        // (contiguous reads).
        var gram = [Double](repeating: 0, count: m * q * q)
        for row in 0..<order {
            let e = ev.base + row * ev.ld
            for i in 0..<m {
                for p in 0..<q {
                    let a = e[i * q + p]
                    for t in p..<q { gram[(i * q + p) * q + t] += a * e[i * q + t] }
                }
            }
        }
        var sub = [Double](repeating: 0, count: q * q)
        for i in 0..<m {
            for p in 0..<q {
                for t in p..<q {
                    sub[p * q + t] = gram[(i * q + p) * q + t]
                    sub[t * q + p] = gram[(i * q + p) * q + t]
                }
            }
            var norm = 0.0
            for a in 0..<r { norm += phi[i, a] * phi[i, a] }
            let along = norm / ridge / Double(k)
            let block = out + i * k * k
            for c in 0..<k {
                for d in 0..<k {
                    var s = along
                    for p in 0..<q {
                        for t in 0..<q { s += Self.helmert(k, c, p) * sub[p * q + t] * Self.helmert(k, d, t) }
                    }
                    block[c * k + d] = s
                }
            }
        }
    }

    private func woodburyBlocks(_ phi: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        let m = phi.rows, k = classes, r = rank
        // With M = R Rᵀ: S_cd(i) = δ_cd ‖L_c⁻¹ φᵢᵀ‖² + (R⁻¹ Z_cᵀ)ᵢ · (R⁻¹ Z_dᵀ)ᵢ, where
        // Z_c = φ A_c⁻¹ Φᵀ D_c = (L_c⁻¹ φᵀ)ᵀ Y_c (m × n).
        let t = try Workspace(count: r * m, for: "Hessian solves")
        var q: [Workspace] = []
        var diagonal = [Double](repeating: 0, count: m * k)
        let mFactor = factor.matrix(n, n).readOnly
        for c in 0..<k {
            let tv = t.matrix(r, m)
            for a in 0..<r { for i in 0..<m { tv[a, i] = phi[i, a] } }
            try TriangularProduct.solve(classFactors[c].matrix(r, r).readOnly, tv)
            for a in 0..<r {
                let row = tv.base + a * tv.ld
                for i in 0..<m { diagonal[i * k + c] += row[i] * row[i] }
            }
            let qc = try Workspace(count: n * m, for: "Woodbury solves")
            try MatrixProduct.gemm(scaledFeatures[c].matrix(r, n).readOnly, transposeA: true, tv.readOnly,
                                   into: qc.matrix(n, m))  // Z_cᵀ = Y_cᵀ (L_c⁻¹ φᵀ)
            try TriangularProduct.solve(mFactor, qc.matrix(n, m))
            q.append(qc)
        }
        // Σ_j Q_c[j, i] Q_d[j, i] for every pair c ≤ d, accumulated row j by row j (contiguous reads).
        var products = [Double](repeating: 0, count: k * k * m)
        for j in 0..<n {
            for c in 0..<k {
                let qc = q[c].pointer + j * m
                for d in c..<k {
                    let qd = q[d].pointer + j * m
                    let base = (c * k + d) * m
                    for i in 0..<m { products[base + i] += qc[i] * qd[i] }
                }
            }
        }
        for c in 0..<k {
            for d in c..<k {
                for i in 0..<m {
                    let s = products[(c * k + d) * m + i] + (c == d ? diagonal[i * k + c] : 0)
                    out[i * k * k + c * k + d] = s
                    out[i * k * k + d * k + c] = s
                }
            }
        }
    }
}
