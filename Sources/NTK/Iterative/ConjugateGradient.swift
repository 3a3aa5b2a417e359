/// Block preconditioned conjugate gradients: solves `A X = B` for a symmetric positive
/// (semi-)definite operator A (n × n, applied by the caller) and k right-hand sides at once.
///
/// Each column runs its own CG recurrence — its own step lengths — while all columns share every
/// application of A and of the preconditioner M⁻¹ (one block product per iteration). From X = 0:
///
///     R = B, S = M⁻¹R, P = S;  then per iteration  Q = A P,
///     a_c = (r_c·s_c) / (p_c·q_c),  x_c += a_c p_c,  r_c −= a_c q_c,  S = M⁻¹R,
///     b_c = (r_c·s_c)_new / (r_c·s_c)_old,  p_c = s_c + b_c p_c
///
/// (a column whose curvature p·q is not positive, or whose residual vanished, stops moving).
/// The solver stops when the relative residual `max_c ‖r_c‖ / ‖b_c‖` (the recursively updated
/// one) is at most `tolerance` — at once when B = 0 — or after `maxIterations`; then `converged`
/// is false, a warning is logged and X is the last iterate. With the rows split over the parts
/// of a data partition, `reduce` sums each batch of partial dot products over the parts (one
/// reduction per batch), so every part takes the same steps.
///
/// When `apply` is inexact — single-precision products, relative error ε ≈ 1e-6 — the
/// recursive residual drifts from the true one by about ε‖B‖ and would stop the solver on a
/// residual that is not there. With `exactApply` (A in double precision) the solver makes
/// "reliable updates" (Sleijpen and van der Vorst 1996): whenever the recursive relative
/// residual has fallen by `reliableFactor` since the last update, and whenever it meets the
/// tolerance, R is replaced by `B − A X` from one exact product (X is accumulated in double
/// throughout), and CG restarts from the true residual (P = M⁻¹R: the old directions were
/// conjugate for the inexact operator only; kept, they can stall the iteration, and measured
/// they save few iterations where they do not). It thus stops on the true residual. When an
/// update finds the true residual not halved since the last one, the inexact products cannot
/// take it further (ε times the conditioning is near 1): the solver stops with `stalled` set. Inexact
/// products cost iterations on ill-conditioned systems (CG's superlinear phase is lost to the
/// perturbation): docs/large-scale.md has measurements.
///
/// Used by Falkon (`NystromRidge`, preconditioning by a change of variables inside its
/// operator) and by the matrix-free empirical NTK ridge (`EmpiricalNTKRidge`, with a
/// `Preconditioner`).
struct ConjugateGradient {
    /// When to stop, validated once.
    struct Settings: Sendable {
        /// Relative residual at which to stop (> 0).
        let tolerance: Double
        /// The iteration cap (≥ 1).
        let maxIterations: Int

        /// - Throws: `invalidArgument` unless the tolerance is finite and > 0 and the cap ≥ 1.
        init(tolerance: Double, maxIterations: Int) throws {
            try InputCheck.finite(tolerance, "tolerance")
            guard tolerance > 0 else {
                throw NTKError.invalidArgument("the tolerance (tol) must be > 0, got \(tolerance)")
            }
            guard maxIterations >= 1 else {
                throw NTKError.invalidArgument("the iteration cap (max_iter) must be >= 1, got \(maxIterations)")
            }
            self.tolerance = tolerance
            self.maxIterations = maxIterations
        }
    }

    /// What the solver did.
    struct Outcome: Sendable {
        /// Iterations run.
        let iterations: Int
        /// The relative residual (largest over columns) after each iteration.
        let residuals: [Double]
        /// Whether the tolerance was reached.
        let converged: Bool
        /// Reliable updates made (`exactApply`).
        var updates = 0
        /// Whether the solver stopped because the inexact products made no more progress.
        var stalled = false
    }

    /// n, the rows of X and B.
    let rows: Int
    /// k, the columns (right-hand sides).
    let columns: Int
    /// `out ← A v` for v (n × k); the second argument is the iteration (1-based), for progress.
    let apply: (MatrixView, MutableMatrixView, Int) throws -> Void
    /// `out ← M⁻¹ r` (nil: no preconditioner, S = R).
    let preconditioner: Preconditioner?
    /// Sums partial dot products over the parts of a partition in place (nil: no partition).
    let reduce: ((inout [Double]) throws -> Void)?
    /// The solver's name in the log ("Nyström CG", ...).
    let name: String
    /// Whether stopping at the cap is a warning (false: an inner solve whose caller copes, e.g.
    /// inexact Newton; logged at INFO).
    var warnsAtCap = true
    /// `out ← A x` exactly, when `apply` is inexact: turns on the reliable updates.
    var exactApply: ((MatrixView, MutableMatrixView) throws -> Void)? = nil
    /// The fall of the recursive residual after which it is replaced by the true one.
    static let reliableFactor = 1e-2

    /// Solves into `x` (n × k, contiguous; overwritten) for the right-hand side `b` (n × k).
    /// `progress(iteration)` runs after each iteration. - Throws: what `apply`, the
    /// preconditioner, `reduce` or `progress` throw; `outOfMemory`.
    func solve(_ b: MatrixView, into x: MutableMatrixView, settings: Settings,
               progress: (Int) throws -> Void = { _ in }) throws -> Outcome {
        let n = rows, k = columns, size = max(n * k, 1)
        guard b.rows == n, b.cols == k, x.rows == n, x.cols == k else {
            throw NTKError(.internalError,
                           "\(name): a system of \(n) × \(k) with B \(b.rows) × \(b.cols), X \(x.rows) × \(x.cols)")
        }
        x.fill(0)
        if k == 0 { return Outcome(iterations: 0, residuals: [], converged: true) }
        // R, P, Q and (with a preconditioner) S; kept alive to the end of the solve.
        let buffers = try (0..<(preconditioner == nil ? 3 : 4)).map { _ in try Workspace(count: size,
                                                                                         for: "the CG vectors") }
        defer { withExtendedLifetime(buffers) {} }
        let r = buffers[0].matrix(n, k), p = buffers[1].matrix(n, k), q = buffers[2].matrix(n, k)
        let s = preconditioner == nil ? r : buffers[3].matrix(n, k)
        r.copy(from: b)
        try preconditioner?.apply(r.readOnly, into: s)
        p.copy(from: s.readOnly)
        // One reduction: ‖b_c‖² then r_c·s_c (the same numbers without a preconditioner).
        var initial = columnDots(r, r) + (preconditioner == nil ? [] : columnDots(r, s))
        try reduce?(&initial)
        let norms = initial.prefix(k).map { $0.squareRoot() }
        var rs = preconditioner == nil ? Array(initial.prefix(k)) : Array(initial.suffix(k))
        var history: [Double] = []
        var converged = norms.allSatisfy { $0 == 0 }
        var iteration = 0, updates = 0, stalled = false
        var lastUpdate = 1.0  // (reliable updates)
        func relativeOf(_ squares: [Double]) -> Double {
            (0..<k).map { norms[$0] > 0 ? squares[$0].squareRoot() / norms[$0] : 0 }.max() ?? 0
        }
        while !converged && !stalled && iteration < settings.maxIterations {
            iteration += 1
            try apply(p.readOnly, q, iteration)
            var pq = columnDots(p, q)
            try reduce?(&pq)
            for c in 0..<k {
                let step = pq[c] > 0 && rs[c] != 0 ? rs[c] / pq[c] : 0
                for i in 0..<n {
                    x[i, c] += step * p[i, c]
                    r[i, c] -= step * q[i, c]
                }
            }
            var restart = false
            if let exactApply {
                let recursive = relativeOf(try reduced(columnDots(r, r)))
                if recursive <= settings.tolerance || recursive <= Self.reliableFactor * lastUpdate {
                    // R = B − A X, through q (free until the next iteration's product).
                    try exactApply(x.readOnly, q)
                    for i in 0..<n { for c in 0..<k { r[i, c] = b[i, c] - q[i, c] } }
                    let actual = relativeOf(try reduced(columnDots(r, r)))
                    (updates, restart) = (updates + 1, true)
                    stalled = actual > 0.5 * lastUpdate && actual > settings.tolerance
                    lastUpdate = actual
                }
            }
            try preconditioner?.apply(r.readOnly, into: s)
            var next = columnDots(r, s) + (preconditioner == nil ? [] : columnDots(r, r))
            try reduce?(&next)
            let rr = preconditioner == nil ? Array(next) : Array(next.suffix(k))
            for c in 0..<k {
                let ratio = rs[c] != 0 && !restart ? next[c] / rs[c] : 0
                for i in 0..<n { p[i, c] = s[i, c] + ratio * p[i, c] }
            }
            rs = Array(next.prefix(k))
            let relative = relativeOf(rr)
            history.append(relative)
            // With reliable updates R is the true residual whenever it meets the tolerance.
            converged = relative <= settings.tolerance
            try progress(iteration)
        }
        let outcome = Outcome(iterations: iteration, residuals: history, converged: converged, updates: updates,
                              stalled: stalled)
        log(outcome, settings)
        return outcome
    }

    /// The partial sums `values` summed over the parts of a partition.
    private func reduced(_ values: [Double]) throws -> [Double] {
        var sums = values
        try reduce?(&sums)
        return sums
    }

    /// How the solve ended: INFO, or a WARNING at the cap (when `warnsAtCap`).
    private func log(_ outcome: Outcome, _ settings: Settings) {
        let last = outcome.residuals.last ?? (outcome.converged ? 0 : .nan), iterations = outcome.iterations
        let exactly = exactApply == nil ? "" : " (\(outcome.updates) reliable update(s) with exact products)"
        if outcome.converged {
            Log.info("\(name): converged in \(iterations) iteration(s), relative residual \(last)\(exactly)")
        } else if outcome.stalled {
            Log.info("\(name): the inexact products stalled at relative residual \(last) after \(iterations) "
                     + "iteration(s)\(exactly)")
        } else {
            Log.log(warnsAtCap ? .warning : .info,
                    "\(name): no convergence in \(settings.maxIterations) iterations; relative residual \(last) > "
                        + "tolerance \(settings.tolerance); the result is the last iterate")
        }
    }

    /// `Σ_i u_ic v_ic` for each column c (this part's rows only).
    private func columnDots(_ u: MutableMatrixView, _ v: MutableMatrixView) -> [Double] {
        var sums = [Double](repeating: 0, count: columns)
        for i in 0..<rows { for c in 0..<columns { sums[c] += u[i, c] * v[i, c] } }
        return sums
    }
}

/// A preconditioner `M⁻¹` for `ConjugateGradient`: an approximation of the inverse of the
/// system's operator, symmetric positive definite, applied to a block of columns.
protocol Preconditioner {
    /// `out ← M⁻¹ r` (n × k each; `out` does not alias `r`).
    func apply(_ r: MatrixView, into out: MutableMatrixView) throws
}
