#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

/// The stopping time of gradient flow chosen like the ridge: GCV of the flow's linear smoother
/// `H_t = V diag(1 − e^{−η t (λ + z)/N} ·  λ/(λ + z)) Vᵀ` (eq. 22), a one-dimensional search on the
/// spectrum: a grid of 256 scaled times τ = η t / N, log-spaced from 10⁻⁴/(λ_max + z) (nothing
/// learned) to 40/(λ_min + z) (converged; λ_min the smallest positive eigenvalue), then
/// golden-section refinement in log τ around the best grid point; t = 0 (nothing learned: the
/// offsets alone, when the targets look like noise) and t = ∞ win when their scores are lower.
/// O(256 n k) plus the refinement. (No leave-one-out here: for a finite time the linear
/// smoother's shortcut is not the error of refits without each point.)
extension SpectralSolver {
    /// The GCV-optimal time (0 or `.infinity` when an end is best) and its score.
    /// - Throws: `invalidArgument` (ridge < 0, learning rate ≤ 0, a zero kernel, no targets),
    ///   `dimensionMismatch`, `nonFinite`, `numericalFailure` (no finite score).
    public func selectTime(targets: Targets, ridge z: Double = 0, learningRate eta: Double = 1) throws
        -> (time: Double, score: Double) {
        let s = try spectrum(of: targets)
        let positive = s.eigenvalues.filter { $0 > 0 }
        guard let smallest = positive.min(), let largest = positive.max() else {
            throw NTKError.invalidArgument("the kernel has no positive eigenvalue: there is no training time to select")
        }
        _ = try SpectralFilter(ridge: z, learningRate: eta)
        let entries = s.targetEntries
        func score(_ logTau: Double) throws -> Double {
            let time = exp(logTau) * Double(entries) / eta
            return try s.gcvScores(filters: [SpectralFilter(time: time, ridge: z, learningRate: eta,
                                                            nTargets: entries)])[0]
        }
        let lower = log(1e-4 / (largest + z)), upper = log(40 / (smallest + z)), steps = 256
        let grid = (0..<steps).map { lower + (upper - lower) * Double($0) / Double(steps - 1) }
        let scores = try grid.map(score)
        guard let best = scores.indices.filter({ scores[$0].isFinite }).min(by: { scores[$0] < scores[$1] }) else {
            throw NTKError.numericalFailure("no training time gives a finite GCV score")
        }
        // Golden-section search on the bracket around the best grid point.
        var a = grid[max(best - 1, 0)], b = grid[min(best + 1, steps - 1)]
        let ratio = (5.0.squareRoot() - 1) / 2
        var c = b - ratio * (b - a), d = a + ratio * (b - a)
        var fc = try score(c), fd = try score(d)
        for _ in 0..<100 where b - a > 1e-12 * max(1, abs(a)) {
            if fc < fd {
                b = d
                d = c
                fd = fc
                c = b - ratio * (b - a)
                fc = try score(c)
            } else {
                a = c
                c = d
                fc = fd
                d = a + ratio * (b - a)
                fd = try score(d)
            }
        }
        var (logTau, value) = fc < fd ? (c, fc) : (d, fd)
        if scores[best] < value { (logTau, value) = (grid[best], scores[best]) }
        let limit = z > 0 ? try s.gcvScores([z])[0] : .infinity
        let start = try s.gcvScores(filters: [SpectralFilter(time: 0, ridge: z, learningRate: eta,
                                                             nTargets: entries)])[0]
        Log.info("time selection by GCV: best scaled time \(exp(logTau)) (score \(value)); t = 0 scores \(start), "
                 + "t = inf \(limit)")
        if start <= min(value, limit) { return (0, start) }
        if limit <= value { return (.infinity, limit) }
        return (exp(logTau) * Double(entries) / eta, value)
    }
}

extension SpectralSolver {
    /// `selectTime(targets:ridge:learningRate:)` for `Matrix` targets Y (n × k) and offsets.
    public func selectTime(y: Matrix, f0Train: Matrix? = nil, ridge: Double = 0,
                           learningRate: Double = 1) throws -> (time: Double, score: Double) {
        try Targets.with(y, f0Train) { try selectTime(targets: $0, ridge: ridge, learningRate: learningRate) }
    }
}
