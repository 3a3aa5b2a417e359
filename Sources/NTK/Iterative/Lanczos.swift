/// The Lanczos process with full reorthogonalisation on a symmetric operator A (n × n, applied
/// by the caller): from a start vector r, an orthonormal basis Q_j = [q₀ … q_{j−1}] of the Krylov
/// space span{r, Ar, …, A^{j−1}r} and the tridiagonal `T_j = Q_jᵀ A Q_j` (diagonal `alphas`,
/// off-diagonal `betas`), so that `f(A) r ≈ ‖r‖ Q_j f(T_j) e₁` for smooth f.
///
/// Each step is one product with A, then the new vector is orthogonalised against the whole
/// basis twice ("twice is enough"), which keeps Q_j orthonormal to rounding. The process stops
/// when the caller's `check` says the approximation has settled, when the space is invariant
/// (β_j ≤ 10⁻¹³ max|α|, or j = n: then the approximation is exact), or after `maxSteps`.
/// Memory: the basis, (maxSteps + 1) · n doubles, kept by the caller.
struct Lanczos {
    /// The recurrence after a run.
    struct Recurrence {
        /// T's diagonal α₀ … α_{j−1}.
        var alphas: [Double] = []
        /// T's off-diagonal β₀ … β_{j−2}, and β_{j−1} (the norm of the next vector) when the run
        /// stopped before the space became invariant.
        var betas: [Double] = []
        /// Whether the Krylov space became invariant (the approximation is then exact).
        var invariant = false
        /// j, the number of steps (basis vectors) taken.
        var steps: Int { alphas.count }
    }

    /// n.
    let order: Int
    /// `w ← A q` for one vector.
    let apply: (UnsafePointer<Double>, UnsafeMutablePointer<Double>) throws -> Void

    /// Runs from `start` (n entries, non-zero) into `basis` (row i = q_i; at least
    /// (maxSteps + 1) · n doubles). Every `checkEvery` steps, at the last step and when the
    /// space becomes invariant, `check(recurrence)` decides whether to stop (true) or go on;
    /// `afterStep(j)` runs after each step (progress). - Throws: what the closures throw.
    func run(start: UnsafePointer<Double>, basis: UnsafeMutablePointer<Double>, maxSteps: Int, checkEvery: Int,
             check: (Recurrence) throws -> Bool, afterStep: (Int) throws -> Void) throws -> Recurrence {
        let n = order
        var recurrence = Recurrence()
        let norm = try VectorOperations.norm(start, count: n)
        guard norm > 0 else {
            recurrence.invariant = true
            return recurrence
        }
        for i in 0..<n { basis[i] = start[i] / norm }
        var w = [Double](repeating: 0, count: max(n, 1)), h = [Double](repeating: 0, count: maxSteps + 1)
        var j = 0
        while !recurrence.invariant && j < maxSteps {
            let q = basis + j * n
            try w.withUnsafeMutableBufferPointer { wp in
                let w = wp.baseAddress!
                try apply(q, w)
                let alpha = try VectorOperations.dot(q, w, count: n)
                // Full reorthogonalisation (twice is enough): w ← w − Q (Qᵀ w).
                let span = MatrixView(unchecked: basis, rows: j + 1, cols: n, ld: max(n, 1))
                for _ in 0..<2 {
                    try h.withUnsafeMutableBufferPointer { hp in
                        try VectorOperations.gemv(span, w, into: hp.baseAddress!)
                        try VectorOperations.gemv(span, transpose: true, hp.baseAddress!, alpha: -1, beta: 1, into: w)
                    }
                }
                let beta = try VectorOperations.norm(w, count: n)
                recurrence.alphas.append(alpha)
                j += 1
                recurrence.invariant = beta <= 1e-13 * max(abs(alpha), recurrence.alphas.map(abs).max() ?? 0) || j == n
                if !recurrence.invariant {
                    recurrence.betas.append(beta)
                    let next = basis + j * n
                    for i in 0..<n { next[i] = w[i] / beta }
                }
            }
            if recurrence.invariant || j % checkEvery == 0 || j == maxSteps {
                if try check(recurrence) { break }
            }
            try afterStep(j)
        }
        return recurrence
    }
}
