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
///
/// With a data partition (`DataPartition`) A's rows and every vector are split by rows over the
/// parts: each part keeps its rows of the basis, and every inner product (α, the two
/// reorthogonalisation projections Qᵀw, ‖w‖²) is its part's partial sum summed over the parts, so
/// every part sees the same T_j and takes the same decisions. The caller's `apply` sums what its
/// product needs; invariance at j = N uses N, the rows over all parts.
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

    /// n, this part's rows (all of them without a partition).
    let order: Int
    /// N, the rows over all parts (`order` without a partition).
    let totalOrder: Int
    /// Sums inner products over the parts (nil: no partition).
    let partition: DataPartition?
    /// `w ← A q` for one vector (this part's rows of both).
    let apply: (UnsafePointer<Double>, UnsafeMutablePointer<Double>) throws -> Void

    /// - Parameters: `order` this part's rows; `partition` the parts (nil: one); `apply` w ← A q.
    /// - Throws: whatever the partition's sum throws (N is summed over the parts).
    init(order: Int, partition: DataPartition? = nil,
         apply: @escaping (UnsafePointer<Double>, UnsafeMutablePointer<Double>) throws -> Void) throws {
        self.order = order
        self.partition = partition
        self.apply = apply
        totalOrder = Int(try partition.total(Double(order)))
    }

    /// `xᵀy` over all the parts.
    func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) throws -> Double {
        try partition.total(try VectorOperations.dot(x, y, count: order))
    }

    /// `‖x‖₂` over all the parts (BLAS's scaled norm without a partition).
    func norm(_ x: UnsafePointer<Double>) throws -> Double {
        if partition == nil { return try VectorOperations.norm(x, count: order) }
        return try dot(x, x).squareRoot()
    }

    /// Runs from `start` (n entries, non-zero) into `basis` (row i = q_i; at least
    /// (maxSteps + 1) · n doubles). Every `checkEvery` steps, at the last step and when the
    /// space becomes invariant, `check(recurrence)` decides whether to stop (true) or go on;
    /// `afterStep(j)` runs after each step (progress). - Throws: what the closures throw.
    func run(start: UnsafePointer<Double>, basis: UnsafeMutablePointer<Double>, maxSteps: Int, checkEvery: Int,
             check: (Recurrence) throws -> Bool, afterStep: (Int) throws -> Void) throws -> Recurrence {
        let n = order
        var recurrence = Recurrence()
        let norm = try self.norm(start)
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
                let alpha = try dot(q, w)
                // Full reorthogonalisation (twice is enough): w ← w − Q (Qᵀ w).
                let span = MatrixView(unchecked: basis, rows: j + 1, cols: n, ld: max(n, 1))
                for _ in 0..<2 {
                    try h.withUnsafeMutableBufferPointer { hp in
                        try VectorOperations.gemv(span, w, into: hp.baseAddress!)
                        try partition.sum(hp.baseAddress!, j + 1)
                        try VectorOperations.gemv(span, transpose: true, hp.baseAddress!, alpha: -1, beta: 1, into: w)
                    }
                }
                let beta = try self.norm(w)
                recurrence.alphas.append(alpha)
                j += 1
                recurrence.invariant = beta <= 1e-13 * max(abs(alpha), recurrence.alphas.map(abs).max() ?? 0)
                    || j == totalOrder
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
