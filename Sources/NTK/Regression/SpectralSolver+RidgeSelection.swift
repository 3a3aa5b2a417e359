/// Ridge selection by closed forms on the eigendecomposition: no refits.
///
/// For targets `r = Y − f₀` (n × k) and ridge `z`, kernel ridge predicts `f₀ + H r` with the hat
/// matrix `H = K (K + zI)⁻¹`. Scores are means over all n·k target entries, computed by the
/// spectral calculus (`Spectrum`):
/// - GCV: `‖(I − H) r‖² / N  /  (1 − tr(H)/n)²` (Craven & Wahba); `+∞` when `tr H = n`
///   (an interpolating fit, e.g. z = 0 with a full-rank kernel);
/// - LOO: the exact leave-one-out error of refitting without each point in turn,
///   `e_i = [(K + zI)⁻¹ r]_i / [(K + zI)⁻¹]_ii`; `+∞` when `K + zI` is singular (z = 0 with a
///   null space).
/// Cost: O(n k) per ridge for GCV; O(n² (G + G k)) in two GEMMs for LOO over G ridges.
extension SpectralSolver {
    /// How a ridge is scored.
    public typealias SelectionCriterion = Spectrum.Criterion

    /// Scores for every ridge of `ridges` and the best of them.
    /// - Throws: `invalidArgument` for an empty grid, negative or non-finite ridges;
    ///   `numericalFailure` if no ridge has a finite score.
    public func selectRidge(targets: Targets, ridges: [Double],
                            criterion: SelectionCriterion) throws -> RidgeSelection {
        try Spectrum.checkRidges(ridges)
        let s = try spectrum(of: targets)
        let scores = criterion == .gcv ? try s.gcvScores(ridges) : try looScores(s, ridges: ridges)
        return try RidgeSelection(ridges: ridges, scores: scores, criterion: criterion)
    }

    /// The full spectrum with the targets `P = Vᵀ (Y − f₀)` over all n directions.
    func spectrum(of targets: Targets) throws -> Spectrum {
        let k = targets.outputs
        let r = try residual(targets)
        guard n > 0, k > 0 else { throw NTKError.invalidArgument("ridge selection needs at least one target entry") }
        var p = [Double](repeating: 0, count: try Sizes.product(n, k, "size of Y"))
        try p.withUnsafeMutableBufferPointer { buffer in
            try MatrixProduct.gemm(vectorView, transposeA: true, r.matrix(n, k).readOnly,
                                   into: MutableMatrixView(unchecked: buffer.baseAddress!, rows: n, cols: k, ld: k))
        }
        return try Spectrum(eigenvalues: eigenvalues, points: n, projected: p, outputs: k)
    }

    /// Leave-one-out scores: the spectrum's terms, then `diag((K + zI)⁻¹) = (V ∘ V) h` (rows of V
    /// squared, in blocks) and `(K + zI)⁻¹ r = V (h ⊙ P)` for all ridges at once.
    private func looScores(_ s: Spectrum, ridges: [Double]) throws -> [Double] {
        let g = ridges.count, k = s.outputs, v = vectorView
        let (inverse, scaled, singular) = try s.looTerms(ridges)
        let width = try Sizes.product(g, k, "ridges × outputs")
        let diagonal = try Workspace(count: try Sizes.product(n, g, "diagonals"), for: "inverse diagonals")
        let solved = try Workspace(count: try Sizes.product(n, width, "solutions"), for: "solutions")
        let blockRows = 256
        let squares = try Workspace(count: try Sizes.product(min(blockRows, n), n, "squared eigenvectors"),
                                    for: "squared eigenvectors")
        try inverse.withUnsafeBufferPointer { h in
            let hView = MatrixView(unchecked: h.baseAddress!, rows: n, cols: g, ld: g)
            for a0 in stride(from: 0, to: n, by: blockRows) {
                let rows = min(blockRows, n - a0)
                for a in 0..<rows {
                    let src = v.row(a0 + a), dst = squares.pointer + a * n
                    for i in 0..<n { dst[i] = src[i] * src[i] }
                }
                try MatrixProduct.gemm(squares.matrix(rows, n).readOnly, hView,
                                       into: MutableMatrixView(unchecked: diagonal.pointer + a0 * g, rows: rows,
                                                               cols: g, ld: g))
            }
        }
        try scaled.withUnsafeBufferPointer { sp in
            try MatrixProduct.gemm(v, MatrixView(unchecked: sp.baseAddress!, rows: n, cols: width, ld: width),
                                   into: solved.matrix(n, width))
        }
        return try s.looScores(ridges, singular: singular, diagonals: diagonal.matrix(n, g).readOnly,
                               solutions: solved.matrix(n, width).readOnly)
    }
}
