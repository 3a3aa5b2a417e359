#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The criteria by which kernel hyperparameters are fitted (docs/tuning.md).
public enum TuningCriterion: Sendable, CaseIterable {
    /// The log marginal likelihood of Y under the Gaussian process with covariance aK + zI
    /// (`GaussianProcess`'s value): to be maximised.
    case logMarginalLikelihood
    /// Generalised cross-validation of kernel ridge `(aK + zI)⁻¹` (`Spectrum.gcvScores`' value):
    /// to be minimised.
    case gcv
    /// The exact leave-one-out mean squared error of that kernel ridge (`Spectrum.looScores`'):
    /// to be minimised.
    case leaveOneOut

    /// Whether larger values are better.
    public var maximised: Bool { self == .logMarginalLikelihood }
}

/// A tuning objective and its exact gradient, for dense kernels: with `K̃ = aK + zI` (K the
/// infinite-width kernel of the scaled inputs, a the amplitude, z the ridge or noise variance),
/// `A = K̃⁻¹`, residuals R = Y − f₀ (n × k), `α = A R` and N = n k,
///
///     LML = −½ Σ_c r_cᵀ α_c − (k/2) log det K̃ − (N/2) log 2π,   G = ½ (α αᵀ − k A)
///     GCV = n² ‖α‖² / (N (tr A)²),       G = (n²/N) (2‖α‖² A²/(tr A)³ − (A α αᵀ + α αᵀ A)/(tr A)²)
///     LOO = (1/N) Σ_ic (α_ic / A_ii)²,   G = (2/N) (A V A − (A U αᵀ + α Uᵀ A)/2)
///
/// (U_ic = α_ic/A_ii², V = diag(Σ_c α_ic²/A_ii³)), each G being the objective's derivative in K̃:
/// `∂/∂θ = ⟨G, ∂K̃/∂θ⟩`, so the gradient is `a · KernelGradient.contract(G)` for the kernel's
/// hyperparameters, `tr G` for z and `⟨G, K⟩` for a. GCV and LOO are unchanged by scaling a
/// and z together (their predictions depend on z/a only). Costs: the kernel, one Cholesky, its
/// inverse (DPOTRI), one n³ product for GCV and LOO, and the contraction pass.
public enum KernelObjective {
    /// The objective's value and its gradient with respect to
    /// `[W_std, b_std, s_1 … s_d, z, a]` (d + 4 entries).
    /// - Throws: `invalidArgument` (ridge ≤ 0, amplitude ≤ 0, hyperparameters), `dimensionMismatch`,
    ///   `nonFinite`, `notPositiveDefinite` (K̃ at these hyperparameters), `numericalFailure`
    ///   (a non-finite value or gradient), `outOfMemory`, `tooLarge`, `cancelled`.
    public static func evaluate(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind,
                                _ x: MatrixView, targets: Targets, hyper: KernelHyperparameters,
                                ridge z: Double, amplitude a: Double = 1, criterion: TuningCriterion,
                                points: Int = 0, progress: ProgressHandler = .none) throws
        -> (value: Double, gradient: [Double]) {
        try checkRidge(z, amplitude: a)
        let n = x.rows, k = targets.outputs
        try targets.requireRows(n, "the kernel of X")
        guard n > 0, k > 0 else { throw NTKError.invalidArgument("the objective needs n ≥ 1 points and k ≥ 1 outputs") }
        let r = try KernelGradient.Recursion(architecture, kind: kind, x, hyper, points: points)
        let nn = try Sizes.product(n, n, "kernel size")
        let kernel = try Workspace(count: nn, for: "the kernel")
        let km = kernel.matrix(n, n)
        try r.kernel(0..<n, into: km, progress: progress.stage(0, 0.3))
        try VectorOperations.scale(a, kernel.pointer, count: nn)
        let factor = try CholeskyFactorization(km.readOnly, ridge: z, progress: progress.stage(0.3, 0.45))
        let inverse = try Workspace(count: nn, for: "the inverse kernel")
        try factor.inverse(into: inverse.pointer)
        let residual = try targets.residual()
        let alpha = try Workspace(count: n * k, for: "the dual coefficients")
        try MatrixProduct.gemm(inverse.matrix(n, n).readOnly, residual.matrix(n, k).readOnly, into: alpha.matrix(n, k))
        let g = try Workspace(count: nn, for: "the objective's derivative in K")
        let terms = Terms(n: n, k: k, inverse: inverse, alpha: alpha, g: g)
        let value: Double
        switch criterion {
        case .logMarginalLikelihood:
            value = try terms.logMarginalLikelihood(residual: residual, logDeterminant: factor.logDeterminant)
        case .gcv: value = try terms.gcv()
        case .leaveOneOut: value = try terms.leaveOneOut()
        }
        try progress.report(0.6)
        let gv = g.matrix(n, n).readOnly
        let kernelPart = try KernelGradient.contract(r, weights: gv, progress: progress.stage(0.6, 1)).map { a * $0 }
        var trace = 0.0
        for i in 0..<n { trace += g.pointer[i * n + i] }
        let inner = try VectorOperations.dot(g.pointer, kernel.pointer, count: nn)
        let gradient = kernelPart + [trace, inner / a]
        guard value.isFinite, gradient.allSatisfy(\.isFinite) else {
            throw NTKError.numericalFailure("the objective or its gradient is not finite (value \(value))")
        }
        try progress.report(1)
        return (value, gradient)
    }

    /// Throws `invalidArgument` unless the ridge z and the amplitude a are finite and > 0.
    static func checkRidge(_ z: Double, amplitude a: Double) throws {
        for (name, v) in [("ridge", z), ("amplitude", a)] where !(v.isFinite && v > 0) {
            throw NTKError.invalidArgument("the \(name) must be finite and > 0, got \(v)")
        }
    }

    /// The per-criterion values and their derivatives G in K̃ (see the type's formulas).
    private struct Terms {
        let n: Int, k: Int
        let inverse: Workspace, alpha: Workspace, g: Workspace

        /// The n × n matrices as views.
        var a: MatrixView { inverse.matrix(n, n).readOnly }
        var gm: MutableMatrixView { g.matrix(n, n) }

        func logMarginalLikelihood(residual: Workspace, logDeterminant: Double) throws -> Double {
            let quadratic = try VectorOperations.dot(residual.pointer, alpha.pointer, count: n * k)
            // G = ½ α αᵀ − (k/2) A.
            let av = alpha.matrix(n, k).readOnly
            try MatrixProduct.gemm(av, av, transposeB: true, alpha: 0.5, into: gm)
            try VectorOperations.axpy(-0.5 * Double(k), inverse.pointer, g.pointer, count: n * n)
            return -0.5 * quadratic - 0.5 * Double(k) * logDeterminant - 0.5 * Double(n * k) * log(2 * Double.pi)
        }

        func gcv() throws -> Double {
            let entries = Double(n * k), nd = Double(n)
            let norm = try VectorOperations.dot(alpha.pointer, alpha.pointer, count: n * k)
            var trace = 0.0
            for i in 0..<n { trace += inverse.pointer[i * n + i] }
            // G = (n²/N) (2‖α‖² A²/τ³ − (Aα αᵀ + α αᵀA)/τ²), A symmetric.
            let c = nd * nd / entries
            try MatrixProduct.gemm(a, a, alpha: 2 * c * norm / (trace * trace * trace), into: gm)
            let aAlpha = try Workspace(count: n * k, for: "A α")
            try MatrixProduct.gemm(a, alpha.matrix(n, k).readOnly, into: aAlpha.matrix(n, k))
            try symmetricOuterUpdate(aAlpha, alpha, scale: -c / (trace * trace))
            return c * norm / (trace * trace)
        }

        func leaveOneOut() throws -> Double {
            let entries = Double(n * k)
            var value = 0.0
            let u = try Workspace(count: n * k, for: "leave-one-out terms")
            let scaled = try Workspace(count: n * n, for: "leave-one-out terms")
            for i in 0..<n {
                let aii = inverse.pointer[i * n + i]
                var v = 0.0
                for c in 0..<k {
                    let e = alpha.pointer[i * k + c] / aii
                    value += e * e
                    u.pointer[i * k + c] = e / aii
                    v += e * e / aii
                }
                // Row i of A scaled by √v_i: A V A = Bᵀ B with B = √V A.
                let root = v.squareRoot()
                for j in 0..<n { scaled.pointer[i * n + j] = root * inverse.pointer[i * n + j] }
            }
            let b = scaled.matrix(n, n).readOnly
            try MatrixProduct.gemm(b, transposeA: true, b, alpha: 2 / entries, into: gm)
            let aU = try Workspace(count: n * k, for: "A U")
            try MatrixProduct.gemm(a, u.matrix(n, k).readOnly, into: aU.matrix(n, k))
            try symmetricOuterUpdate(aU, alpha, scale: -1 / entries)
            return value / entries
        }

        /// G += scale · (P αᵀ + α Pᵀ) for n × k matrices P and α.
        private func symmetricOuterUpdate(_ p: Workspace, _ q: Workspace, scale: Double) throws {
            let pv = p.matrix(n, k).readOnly, qv = q.matrix(n, k).readOnly
            try MatrixProduct.gemm(pv, qv, transposeB: true, alpha: scale, beta: 1, into: gm)
            try MatrixProduct.gemm(qv, pv, transposeB: true, alpha: scale, beta: 1, into: gm)
        }
    }
}

extension KernelObjective {
    /// `evaluate` for `Matrix` inputs X (n × d) and targets Y (n × k) with offsets f₀ (nil: 0).
    public static func evaluate(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind, x: Matrix,
                                y: Matrix, f0: Matrix? = nil, hyper: KernelHyperparameters, ridge: Double,
                                amplitude: Double = 1, criterion: TuningCriterion, points: Int = 0,
                                progress: ProgressHandler = .none) throws -> (value: Double, gradient: [Double]) {
        try x.withView { xv in
            try Targets.with(y, f0) { targets in
                try evaluate(architecture, kind: kind, xv, targets: targets, hyper: hyper, ridge: ridge,
                             amplitude: amplitude, criterion: criterion, points: points, progress: progress)
            }
        }
    }
}
