/// Ridge selection by closed forms on the eigendecomposition: no refits.
///
/// For targets `r = Y − f₀` (n × k) and ridge `z`, kernel ridge predicts `f₀ + H r` with the hat
/// matrix `H = K (K + zI)⁻¹`. Scores are means over all n·k target entries:
/// - GCV: `‖(I − H) r‖² / N  /  (1 − tr(H)/n)²` (Craven & Wahba); `+∞` when `tr H = n`
///   (an interpolating fit, e.g. z = 0 with a full-rank kernel);
/// - LOO: the exact leave-one-out error of refitting without each point in turn,
///   `e_i = [(K + zI)⁻¹ r]_i / [(K + zI)⁻¹]_ii`; `+∞` when `K + zI` is singular (z = 0 with a
///   null space).
/// Cost: O(n k) per ridge for GCV; O(n² (G + G k)) in two GEMMs for LOO over G ridges.
extension SpectralSolver {
    /// How a ridge is scored.
    public enum SelectionCriterion: Sendable {
        case gcv
        case leaveOneOut
    }

    /// Scores for every ridge of `ridges` and the index of the best (the first minimum).
    /// - Throws: `invalidArgument` for an empty grid, negative or non-finite ridges;
    ///   `numericalFailure` if no ridge has a finite score.
    public func selectRidge(targets: Targets, ridges: [Double],
                            criterion: SelectionCriterion) throws -> (scores: [Double], best: Int) {
        guard !ridges.isEmpty else { throw NTKError.invalidArgument("the ridge grid is empty") }
        for z in ridges {
            try InputCheck.finite(z, "ridge")
            guard z >= 0 else { throw NTKError.invalidArgument("ridges must be ≥ 0, got \(z)") }
        }
        let k = targets.outputs
        let r = try residual(targets)
        guard n > 0, k > 0 else { throw NTKError.invalidArgument("ridge selection needs at least one target entry") }
        // P = Vᵀ r over all directions (n × k).
        let p = try Workspace(count: try Sizes.product(n, k, "size of Y"), for: "projected residuals")
        try MatrixProduct.gemm(vectorView, transposeA: true, r.matrix(n, k).readOnly, into: p.matrix(n, k))
        let scores = criterion == .gcv ? gcvScores(p, k: k, ridges: ridges)
                                       : try looScores(p, k: k, ridges: ridges)
        var best = -1
        for (i, s) in scores.enumerated() where s.isFinite && (best < 0 || s < scores[best]) { best = i }
        guard best >= 0 else {
            throw NTKError.numericalFailure("no ridge in the grid gives a finite \(criterion == .gcv ? "GCV" : "leave-one-out") score; include ridges > 0")
        }
        return (scores, best)
    }

    private func gcvScores(_ p: Workspace, k: Int, ridges: [Double]) -> [Double] {
        let entries = Double(n * k)
        return ridges.map { z in
            var residual = 0.0, trace = 0.0
            for i in 0..<n {
                var rowNorm = 0.0
                for c in 0..<k { rowNorm += p.pointer[i * k + c] * p.pointer[i * k + c] }
                let lambda = eigenvalues[i]
                // (I − H) keeps z/(λ + z) of direction i; all of it on the null space.
                let keep = lambda > 0 ? z / (lambda + z) : 1
                residual += keep * keep * rowNorm
                trace += lambda > 0 ? lambda / (lambda + z) : 0
            }
            let denominator = 1 - trace / Double(n)
            guard denominator > 1e-12 else { return .infinity }
            return residual / entries / (denominator * denominator)
        }
    }

    private func looScores(_ p: Workspace, k: Int, ridges: [Double]) throws -> [Double] {
        let g = ridges.count
        let v = vectorView
        // h[i][j] = 1/(λ_i + z_j), or 0 where λ_i + z_j = 0 (that ridge's score is then +∞).
        let h = try Workspace(count: try Sizes.product(n, g, "eigenvalues × ridges"), for: "the inverse spectrum")
        var singular = [Bool](repeating: false, count: g)
        for i in 0..<n {
            for (j, z) in ridges.enumerated() {
                let s = eigenvalues[i] + z
                if s > 0 { h.pointer[i * g + j] = 1 / s } else { h.pointer[i * g + j] = 0; singular[j] = true }
            }
        }
        // diag((K + zI)⁻¹)_a = Σ_i V_ai² h_i(z): rows of V squared, in blocks, times h.
        let diagonal = try Workspace(count: try Sizes.product(n, g, "diagonals"), for: "inverse diagonals")
        let blockRows = 256
        let squares = try Workspace(count: try Sizes.product(min(blockRows, n), n, "squared eigenvectors"), for: "squared eigenvectors")
        var a0 = 0
        while a0 < n {
            let rows = min(blockRows, n - a0)
            for a in 0..<rows {
                let src = v.row(a0 + a), dst = squares.pointer + a * n
                for i in 0..<n { dst[i] = src[i] * src[i] }
            }
            try MatrixProduct.gemm(squares.matrix(rows, n).readOnly, h.matrix(n, g).readOnly,
                                   into: MutableMatrixView(unchecked: diagonal.pointer + a0 * g, rows: rows, cols: g, ld: g))
            a0 += rows
        }
        // (K + zI)⁻¹ r = V (h ⊙ P) for all ridges at once: n × (g·k).
        let width = try Sizes.product(g, k, "ridges × outputs")
        let scaled = try Workspace(count: try Sizes.product(n, width, "scaled projections"), for: "scaled projections")
        for i in 0..<n {
            for j in 0..<g { for c in 0..<k { scaled.pointer[i * width + j * k + c] = h.pointer[i * g + j] * p.pointer[i * k + c] } }
        }
        let solved = try Workspace(count: try Sizes.product(n, width, "solutions"), for: "solutions")
        try MatrixProduct.gemm(v, scaled.matrix(n, width).readOnly, into: solved.matrix(n, width))
        let entries = Double(n * k)
        return (0..<g).map { j in
            if singular[j] { return .infinity }
            var sum = 0.0
            for a in 0..<n {
                let d = diagonal.pointer[a * g + j]
                for c in 0..<k {
                    let e = solved.pointer[a * width + j * k + c] / d
                    sum += e * e
                }
            }
            return sum / entries
        }
    }
}
