#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Kernel logistic (softmax) regression: the regularised cross-entropy minimiser, the t → ∞
/// limit of eq. 13's dynamics with a ridge (docs/equations.md, "Classification"):
///
///     f(x) = f₀(x) + K(x, Z) β,   minimising   J(w) = Σᵢ ℓ(f₀ᵢ + Φᵢ w, yᵢ) + (λ/2) ‖w‖²
///
/// over the weights w (r × k) of the kernel's features Φ (`KernelFeatures`: exact for a dense
/// kernel, where the penalty is `(λ/2) Σ_c f_cᵀ K⁻¹ f_c`; Nyström for large n), with
/// `ℓ` the softmax cross-entropy (`Softmax`), k the number of classes and `β = B w`. At the
/// minimum `w = Φᵀ(Y − Π)/λ`, so with a full-rank dense kernel `β = (Y − Π)/λ` exactly.
///
/// The same minimiser is the mode of Gaussian-process classification with prior covariance
/// `K/λ` on each class's latent function; `KernelLogistic+Laplace` adds the Laplace
/// approximation (latent covariance, marginal likelihood) and the approximate leave-one-out
/// log loss that selects λ.
///
/// Solver: Newton's method. Each step solves `H Δ = −g` with `H = Σᵢ (Φᵢᵀ Φᵢ) ⊗ Wᵢ + λ I`
/// (Wᵢ = diag πᵢ − πᵢπᵢᵀ) by preconditioned conjugate gradients inside the subspace
/// `Σ_c w_c = 0`, where the iterates stay (J is invariant to adding a vector to every class's
/// logits, and the ridge pulls that direction to 0), with one preconditioner shared by the
/// classes (`NewtonSystem`) — exact for two classes (one CG step) and for uniform
/// probabilities. CG runs to a relative residual `min(0.1, ‖g‖/‖g₀‖)` (inexact Newton,
/// superlinear), then a backtracking (Armijo) line search on J keeps every step a descent.
/// Stops when `‖g‖ ≤ tolerance · ‖g₀‖` (g₀ the gradient at zero logits and w = 0); once the
/// Newton decrement `−gᵀΔ` is at the rounding level of J, full steps are taken without a line
/// search, and after three of them the gradient is at its own rounding level: converged.
/// Per Newton step: 4·n·r·k flops per CG step (two passes over Φ: memory-bound), and when the
/// previous step's CG took more than 8 iterations (or at the first step) n·r² for a new
/// preconditioner and r³/3 for its Cholesky. Memory: Φ and B, r² for the preconditioner, O(n k).
///
/// A ridge λ > 0 is required: on separable data the unregularised minimiser does not exist
/// (the logits grow without bound). Immutable after fitting; thread-safe.
public final class KernelLogistic: @unchecked Sendable {
    /// Newton's stopping rule.
    public struct Settings: Sendable {
        /// Stop when the gradient norm falls below `tolerance` times its value at w = 0 (> 0).
        public var tolerance: Double = 1e-10
        /// Newton steps at most (≥ 1).
        public var maxIterations: Int = 100
        public init(tolerance: Double = 1e-10, maxIterations: Int = 100) {
            self.tolerance = tolerance
            self.maxIterations = maxIterations
        }

        func check() throws {
            try InputCheck.finite(tolerance, "tol")
            guard tolerance > 0 else { throw NTKError.invalidArgument("tol must be > 0, got \(tolerance)") }
            guard maxIterations >= 1 else {
                throw NTKError.invalidArgument("max_iter must be >= 1, got \(maxIterations)")
            }
        }
    }

    /// n, the number of training points.
    public var n: Int { features.n }
    /// k, the number of classes.
    public let classes: Int
    /// The ridge λ (the prior precision of the GP view).
    public let ridge: Double
    /// Newton steps taken.
    public let iterations: Int
    /// Whether `‖g‖ ≤ tolerance · ‖g₀‖` was reached.
    public let converged: Bool
    /// J at the solution.
    public let objective: Double
    /// ‖g‖ / ‖g₀‖ at the solution.
    public let relativeGradient: Double
    /// c, the number of kernel columns the coefficients are on (n dense, the centres Nyström).
    public var columns: Int { features.columns }
    /// With a ridge grid: each grid ridge's approximate LOO log loss, in the grid's order
    /// (empty for a fit at one ridge). Set once, before the model is handed out.
    public internal(set) var ridgeScores: [Double] = []

    let features: KernelFeatures
    let labels: ClassLabels
    /// w, r × k.
    let weights: Workspace
    /// f₀ + Φ w, n × k.
    let logits: Workspace
    /// softmax of the logits, n × k.
    let probabilities: Workspace

    /// Fits by Newton's method from `start` (r × k weights of an earlier fit on the same
    /// features, e.g. at a neighbouring ridge; nil: w = 0).
    /// - Throws: `invalidArgument` (ridge ≤ 0, settings), `dimensionMismatch`, `numericalFailure`
    ///   (a non-finite objective), `outOfMemory`, `cancelled`.
    init(features: KernelFeatures, labels: ClassLabels, ridge: Double, settings: Settings = Settings(),
         start: Workspace? = nil, progress: ProgressHandler = .none) throws {
        try InputCheck.finite(ridge, "ridge")
        guard ridge > 0 else {
            throw NTKError.invalidArgument("the ridge must be > 0 for cross-entropy, got \(ridge): without it the "
                                           + "minimiser does not exist on separable data")
        }
        try settings.check()
        guard labels.rows == features.n else {
            throw NTKError.dimensionMismatch("there are \(labels.rows) labels but the kernel has \(features.n) rows")
        }
        let n = features.n, r = features.rank, k = labels.classes
        self.features = features
        self.labels = labels
        self.classes = k
        self.ridge = ridge
        weights = try Workspace(count: try Sizes.product(r, k, "weights"), for: "the weights")
        logits = try Workspace(count: try Sizes.product(n, k, "logits"), for: "the logits")
        probabilities = try Workspace(count: n * k, for: "the probabilities")
        if let start { weights.pointer.update(from: start.pointer, count: r * k) } else {
            weights.pointer.initialize(repeating: 0, count: r * k)
        }
        var newton = try NewtonState(features: features, labels: labels, ridge: ridge, weights: weights,
                                     logits: logits, probabilities: probabilities)
        (iterations, converged, relativeGradient) = try newton.run(settings, progress: progress)
        objective = newton.objective
    }

    /// Dual coefficients β = B w (c × k) into `out`.
    public func copyCoefficients(into out: MutableMatrixView) throws {
        guard out.rows == columns, out.cols == classes else {
            throw NTKError.dimensionMismatch("the coefficient output is \(out.rows) × \(out.cols) but must be "
                                             + "\(columns) × \(classes)")
        }
        try MatrixProduct.gemm(features.basisView, weights.matrix(features.rank, classes).readOnly, into: out)
    }

    /// Test logits `f₀_test + K(X_test, Z) β` (m × k) into `out`.
    public func predict(test: TestKernel, into out: MutableMatrixView) throws {
        try test.require(trainRows: columns, outputs: classes)
        let beta = try Workspace(count: try Sizes.product(columns, classes, "coefficients"), for: "coefficients")
        try copyCoefficients(into: beta.matrix(columns, classes))
        try test.predict(beta.matrix(columns, classes).readOnly, into: out)
    }

    /// Copies the train logits `f₀ + Φ w` (n × k) into `out`.
    public func copyTrainLogits(into out: MutableMatrixView) throws {
        guard out.rows == n, out.cols == classes else {
            throw NTKError.dimensionMismatch("the output is \(out.rows) × \(out.cols) but must be \(n) × \(classes)")
        }
        for i in 0..<n { (out.base + i * out.ld).update(from: logits.pointer + i * classes, count: classes) }
    }
}

/// Newton's iteration for `KernelLogistic`, on the caller's buffers (w, logits, probabilities).
struct NewtonState {
    let features: KernelFeatures
    let labels: ClassLabels
    let ridge: Double
    let weights: Workspace, logits: Workspace, probabilities: Workspace
    let gradient: Workspace, step: Workspace, stepLogits: Workspace
    var objective = 0.0
    var n: Int { features.n }
    var r: Int { features.rank }
    var k: Int { labels.classes }
    var phi: MatrixView { features.features }

    init(features: KernelFeatures, labels: ClassLabels, ridge: Double, weights: Workspace, logits: Workspace,
         probabilities: Workspace) throws {
        (self.features, self.labels, self.ridge) = (features, labels, ridge)
        (self.weights, self.logits, self.probabilities) = (weights, logits, probabilities)
        let rk = features.rank * labels.classes
        gradient = try Workspace(count: rk, for: "the gradient")
        step = try Workspace(count: rk, for: "the Newton step")
        stepLogits = try Workspace(count: features.n * labels.classes, for: "the step's logits")
    }

    /// Runs Newton's method: `(iterations, converged, ‖g‖/‖g₀‖)`.
    mutating func run(_ settings: KernelLogistic.Settings, progress: ProgressHandler) throws
        -> (Int, Bool, Double) {
        try progress.report(0)
        let scale = try gradientScale()
        try updateLogits()
        var iteration = 0, relative = Double.infinity, polishing = 0
        var preconditioner: Workspace? = nil, cgIterations = 0
        while true {
            try computeGradient()
            relative = try VectorOperations.norm(gradient.pointer, count: r * k) / scale
            Log.debug("kernel logistic: Newton step \(iteration), objective \(objective), relative gradient "
                      + "\(relative)")
            if relative <= settings.tolerance || iteration >= settings.maxIterations { break }
            iteration += 1
            // The preconditioner (n·r² flops, ~17 CG steps) is formed again only when CG needed more than 8 with
            // the last one: near the minimum the probabilities hardly move.
            let system = try NewtonSystem(features: features, classes: k, ridge: ridge, probabilities: probabilities,
                                          reusing: cgIterations > 8 ? nil : preconditioner)
            preconditioner = system.factor
            cgIterations = try system.solve(gradient: gradient, into: step, tolerance: min(0.1, max(relative, 1e-14)))
            // The Newton decrement −gᵀΔ is what the step can gain. At the rounding level of J a line
            // search cannot see it: the full step is taken (the quadratic model is exact there), at
            // most 3 times; if the gradient still has not met the tolerance it is at its own
            // rounding level (ill-conditioned kernels), and that is convergence.
            let decrement = -(try VectorOperations.dot(gradient.pointer, step.pointer, count: r * k))
            if decrement <= 8 * Double.ulpOfOne * max(1, abs(objective)) {
                polishing += 1
                if polishing > 3 {
                    Log.info("kernel logistic: the Newton decrement \(decrement) is at the rounding level of the "
                             + "objective \(objective) (relative gradient \(relative)): converged")
                    try progress.report(1)
                    return (iteration, true, relative)
                }
                try VectorOperations.axpy(1, step.pointer, weights.pointer, count: r * k)
                try updateLogits()
                continue
            }
            guard try lineSearch() else {
                Log.warning("kernel logistic: the line search found no decrease at Newton step \(iteration) "
                            + "(relative gradient \(relative)); stopping at the current point")
                return (iteration, relative <= settings.tolerance, relative)
            }
            try progress.report(min(0.99, log(relative) / log(settings.tolerance)))
        }
        let converged = relative <= settings.tolerance
        if converged {
            Log.info("kernel logistic: converged in \(iteration) Newton step(s), objective \(objective), ridge "
                     + "\(ridge)")
        } else {
            Log.warning("kernel logistic: no convergence in \(settings.maxIterations) Newton steps (relative "
                        + "gradient \(relative) > tol \(settings.tolerance)); the result is the last iterate")
        }
        try progress.report(1)
        return (iteration, converged, relative)
    }

    /// ‖g₀‖ = ‖Φᵀ(1/k − Y)‖ (the gradient at zero logits and w = 0), or 1 if that vanishes.
    func gradientScale() throws -> Double {
        let residual = stepLogits
        for i in 0..<n {
            for c in 0..<k { residual.pointer[i * k + c] = 1 / Double(k) - (labels.labels[i] == c ? 1 : 0) }
        }
        try MatrixProduct.gemm(phi, transposeA: true, residual.matrix(n, k).readOnly, into: gradient.matrix(r, k))
        let norm = try VectorOperations.norm(gradient.pointer, count: r * k)
        return norm > 0 ? norm : 1
    }

    /// logits = f₀ + Φ w, probabilities and the objective.
    mutating func updateLogits() throws {
        try MatrixProduct.gemm(phi, weights.matrix(r, k).readOnly, into: logits.matrix(n, k))
        if let f0 = labels.offsets {
            for i in 0..<n { for c in 0..<k { logits.pointer[i * k + c] += f0[i, c] } }
        }
        var loss = 0.0
        for i in 0..<n {
            loss += Softmax.row(logits.pointer + i * k, k, label: labels.labels[i], into: probabilities.pointer + i * k)
        }
        let norm = try VectorOperations.norm(weights.pointer, count: r * k)
        objective = loss + 0.5 * ridge * norm * norm
        guard objective.isFinite else { throw NTKError.numericalFailure("the cross-entropy objective is not finite") }
    }

    /// g = Φᵀ(Π − Y) + λ w.
    func computeGradient() throws {
        let residual = stepLogits
        for i in 0..<n {
            for c in 0..<k {
                residual.pointer[i * k + c] = probabilities.pointer[i * k + c] - (labels.labels[i] == c ? 1 : 0)
            }
        }
        for j in 0..<(r * k) { gradient.pointer[j] = ridge * weights.pointer[j] }
        try MatrixProduct.gemm(phi, transposeA: true, residual.matrix(n, k).readOnly, beta: 1,
                               into: gradient.matrix(r, k))
    }

    /// Backtracking along the step Δ: the largest t ∈ {1, ½, ¼, …} with
    /// `J(w + tΔ) ≤ J(w) + 10⁻⁴ t gᵀΔ` (+ J's rounding level); updates w, the logits and the
    /// objective. False when no t ≥ 2⁻⁴⁰ decreases J (the step is then not taken).
    mutating func lineSearch() throws -> Bool {
        try MatrixProduct.gemm(phi, step.matrix(r, k).readOnly, into: stepLogits.matrix(n, k))
        let slope = try VectorOperations.dot(gradient.pointer, step.pointer, count: r * k)
        let ww = try VectorOperations.dot(weights.pointer, weights.pointer, count: r * k)
        let wd = try VectorOperations.dot(weights.pointer, step.pointer, count: r * k)
        let dd = try VectorOperations.dot(step.pointer, step.pointer, count: r * k)
        let roundingLevel = 8 * Double.ulpOfOne * max(1, abs(objective))
        var t = 1.0
        for _ in 0..<40 {
            var loss = 0.0
            for i in 0..<n {
                loss += Softmax.loss(logits.pointer + i * k, stepLogits.pointer + i * k, t, k, label: labels.labels[i])
            }
            let value = loss + 0.5 * ridge * (ww + 2 * t * wd + t * t * dd)
            // (J is known to its rounding level only: a step that changes it by less is accepted.)
            if value.isFinite && value <= objective + 1e-4 * t * min(slope, 0) + roundingLevel {
                try VectorOperations.axpy(t, step.pointer, weights.pointer, count: r * k)
                try updateLogits()
                return true
            }
            t *= 0.5
        }
        return false
    }
}
