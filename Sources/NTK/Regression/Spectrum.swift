/// The spectral calculus of kernel regression: every formula that acts on a kernel's eigenvalues
/// and the targets in its eigenbasis, written once for every solver — the dense `SpectralSolver`,
/// the `.direct` `NystromRidge`, `EnsembleFlow` (through `SpectralSolver`) and, through the
/// experimental `ntk_x_spectrum_*` C functions, the distributed solver of libntk_mpi.
///
/// A spectrum holds
/// - `eigenvalues` λ_i (ascending, ≥ 0 after `Spectrum.regularize`; exactly 0 marks the null
///   space) of the kernel that the fit uses — K itself, or the Nyström kernel K̃ = ΦΦᵀ;
/// - `projected` P = Ũᵀ R (one row per eigenvalue, k columns): the residual targets
///   R = Y − f₀ in an orthonormal eigenbasis Ũ of that kernel (0 where λ_i = 0 is allowed);
/// - `outsideSpan`: ‖R − ŨŨᵀR‖², the part of R that no direction of the spectrum carries
///   (0 for the full spectrum of an n × n kernel, > 0 for Nyström's m < n directions);
/// - `points` n, the order of the hat matrix (the number of training points).
///
/// What it computes (eq. 17-22 in docs/equations.md):
/// - filter values g(λ) of `SpectralFilter` (ridge, flow, both) with the null-space rule
///   g = 0 where λ = 0, the shrinkage λ g(λ), and the effective degrees of freedom Σ λ g(λ);
/// - filtered coefficients `g(λ_i) · S_i` of any per-direction matrix S (P, or Nyström's
///   Uᵀ L⁻¹ K_mn R), from which every solver forms its dual coefficients and predictions;
/// - GCV `‖(I − H) R‖² / N / (1 − tr H / n)²` with H = K (K + zI)⁻¹ and N = n·k;
/// - leave-one-out `Σ (e_ai)² / N`, e_a = [(K + zI)⁻¹ R]_a / [(K + zI)⁻¹]_aa, from the
///   terms `looTerms` (the inverse spectrum 1/(λ + z) and its product with P) after the caller
///   has applied its eigenvectors to them (locally or distributed).
public struct Spectrum: Sendable {
    /// Eigenvalues, ascending, ≥ 0; zero marks the null space.
    public let eigenvalues: [Double]
    /// n, the number of training points (the order of the hat matrix).
    public let points: Int
    /// k, the number of target columns of `projected`.
    public let outputs: Int
    /// P = Ũᵀ R, `eigenvalues.count × outputs`, row-major (empty when no targets are attached).
    let projected: [Double]
    /// ‖R − ŨŨᵀR‖² summed over the outputs.
    public let outsideSpan: Double

    /// A spectrum with targets in its eigenbasis. - Throws: `dimensionMismatch` when
    /// `projected` is not `eigenvalues.count × outputs`;
    /// `invalidArgument` for negative `points`, eigenvalues or `outsideSpan` (or non-finite ones).
    public init(eigenvalues: [Double], points: Int, projected: [Double], outputs: Int, outsideSpan: Double = 0) throws {
        guard projected.count == eigenvalues.count * outputs else {
            throw NTKError.dimensionMismatch(
                "the projected targets have \(projected.count) entries but the spectrum needs \(eigenvalues.count) × "
                    + "\(outputs)")
        }
        guard points >= 0 else { throw NTKError.invalidArgument("the number of points must be ≥ 0, got \(points)") }
        guard outsideSpan.isFinite, outsideSpan >= 0 else {
            throw NTKError.invalidArgument("the mass outside the span must be finite and ≥ 0, got \(outsideSpan)")
        }
        for (i, v) in projected.enumerated() where !v.isFinite {
            throw NTKError.nonFinite("the projected targets (row \(i / max(outputs, 1)), column "
                                     + "\(i % max(outputs, 1))) are \(v), must be finite")
        }
        for lambda in eigenvalues where !(lambda.isFinite && lambda >= 0) {
            throw NTKError.invalidArgument("eigenvalues must be finite and ≥ 0 (regularize them first), got \(lambda)")
        }
        self.eigenvalues = eigenvalues
        self.points = points
        self.outputs = outputs
        self.projected = projected
        self.outsideSpan = outsideSpan
    }

    /// A spectrum without targets: filter values and degrees of freedom only.
    public init(eigenvalues: [Double], points: Int) throws {
        try self.init(eigenvalues: eigenvalues, points: points, projected: [], outputs: 0)
    }

    /// The number of directions (eigenvalues).
    public var count: Int { eigenvalues.count }

    /// N, the number of target entries n·k that normalises the loss (at least 1).
    public var targetEntries: Int { max(points * outputs, 1) }

    // MARK: the eigenvalue policy

    /// Eigenvalues after the policy that every solver applies once, when it is made.
    public struct Regularized: Sendable, Equatable {
        /// The eigenvalues with everything `≤ cutoff` set to 0 (so all ≥ 0), ascending.
        public let values: [Double]
        /// The threshold `n · ε · max|λ|` below which an eigenvalue is numerically zero.
        public let cutoff: Double
        /// The smallest eigenvalue as computed.
        public let minimumRaw: Double
        /// How many computed eigenvalues were negative (and are now 0).
        public let clampedCount: Int
        /// How many eigenvalues are treated as zero (the null space), clamped ones included.
        public let nullCount: Int
    }

    /// Applies the eigenvalue policy to ascending eigenvalues `raw` of a symmetric kernel:
    /// values `≤ n · ε · max|λ|` (n = `raw.count`) are numerically zero — the kernel's null space
    /// — and negative ones are rounding noise of a positive semi-definite matrix, set to 0
    /// (`rejectNegative`: a value below −cutoff throws `notPositiveDefinite` instead).
    public static func regularize(_ raw: [Double], rejectNegative: Bool = false,
                                  name: String = "K") throws -> Regularized {
        let largest = raw.map(abs).max() ?? 0
        let cutoff = Double(raw.count) * Double.ulpOfOne * largest
        let minimum = raw.first ?? 0
        if rejectNegative, minimum < -cutoff {
            throw NTKError.notPositiveDefinite(
                "\(name) has a negative eigenvalue \(minimum) (largest \(raw.last ?? 0)); it is not positive "
                    + "semi-definite")
        }
        let values = raw.map { $0 <= cutoff ? 0 : $0 }
        return Regularized(values: values, cutoff: cutoff, minimumRaw: minimum,
                           clampedCount: raw.filter { $0 < 0 }.count,
                           nullCount: values.filter { $0 == 0 }.count)
    }

    // MARK: filters

    /// g(λ_i) of `filter` with the null-space rule: 0 where λ_i = 0 (those directions are never
    /// learned; at t = ∞ and z = 0 this gives the minimum-norm interpolant).
    @inline(__always)
    public func value(_ filter: SpectralFilter, direction i: Int) -> Double {
        eigenvalues[i] > 0 ? filter.value(eigenvalues[i]) : 0
    }

    /// Writes, for the directions `directions`, `out[i][f·k + c] = w_f(λ) · source[i][c]` with
    /// w = g (or the shrinkage λ g with `shrink`), for every filter f side by side; `source` has
    /// one row per direction of the range and k columns, `out` the same rows and
    /// `filters.count · k` columns.
    package func filtered(_ filters: [SpectralFilter], shrink: Bool, directions: Range<Int>, source: MatrixView,
                  into out: MutableMatrixView) throws {
        let k = source.cols
        guard source.rows == directions.count, out.rows == directions.count, out.cols == filters.count * k,
              directions.lowerBound >= 0, directions.upperBound <= count else {
            throw NTKError(.internalError,
                           "filtered coefficients of \(source.rows) × \(k) into \(out.rows) × \(out.cols)")
        }
        for (row, i) in directions.enumerated() {
            for (f, filter) in filters.enumerated() {
                let g = value(filter, direction: i)
                let w = shrink ? eigenvalues[i] * g : g
                for c in 0..<k { out[row, f * k + c] = w * source[row, c] }
            }
        }
    }

    /// `filtered` applied to the spectrum's own targets P, every direction (count × filters·k).
    package func filteredTargets(_ filters: [SpectralFilter], shrink: Bool, into out: MutableMatrixView) throws {
        if count == 0 || outputs == 0 || filters.isEmpty { return }
        try projected.withUnsafeBufferPointer { p in
            try filtered(filters, shrink: shrink, directions: 0..<count,
                         source: MatrixView(unchecked: p.baseAddress!, rows: count, cols: outputs,
                                            ld: outputs), into: out)
        }
    }

    /// For each filter: g(λ_i) and λ_i g(λ_i) for every eigenvalue (`count × filters`, row f for
    /// filter f; each may be nil) and the effective degrees of freedom Σ_i λ_i g(λ_i).
    package func filterValues(_ filters: [SpectralFilter], values: UnsafeMutablePointer<Double>?,
                              shrinkage: UnsafeMutablePointer<Double>?,
                              degreesOfFreedom: UnsafeMutablePointer<Double>?) {
        let n = count
        for (f, filter) in filters.enumerated() {
            var dof = 0.0
            for i in 0..<n {
                let g = value(filter, direction: i)
                values?[f * n + i] = g
                shrinkage?[f * n + i] = eigenvalues[i] * g
                dof += eigenvalues[i] * g
            }
            degreesOfFreedom?[f] = dof
        }
    }

    // MARK: ridge selection

    /// How a ridge is scored.
    public enum Criterion: Sendable {
        /// Generalised cross-validation (Craven & Wahba).
        case gcv
        /// The exact leave-one-out error.
        case leaveOneOut

        var name: String { self == .gcv ? "GCV" : "leave-one-out" }
    }

    /// Throws `invalidArgument` for an empty grid or a ridge that is negative or not finite.
    public static func checkRidges(_ ridges: [Double]) throws {
        guard !ridges.isEmpty else { throw NTKError.invalidArgument("the ridge grid is empty") }
        for z in ridges {
            try InputCheck.finite(z, "ridge")
            guard z >= 0 else { throw NTKError.invalidArgument("ridges must be ≥ 0, got \(z)") }
        }
    }

    /// GCV `‖(I − H) R‖² / N / (1 − tr(H)/n)²` for each ridge z, with `H = K (K + zI)⁻¹`
    /// (`gcvScores(filters:)` with the ridge filters). - Throws: as `checkRidges`;
    /// `invalidArgument` without targets.
    public func gcvScores(_ ridges: [Double]) throws -> [Double] {
        try Self.checkRidges(ridges)
        return try gcvScores(filters: ridges.map { try SpectralFilter.ridge($0) })
    }

    /// GCV of the linear smoother of each filter, `H = V diag(λ g(λ)) Vᵀ`: (I − H) keeps
    /// 1 − λ g(λ) of direction i (z/(λ + z) for a ridge, e^{−η t (λ + z)/N}-like for a flow), all of a
    /// null direction and all of the mass outside the span; tr H = Σ λ g(λ). `+∞` when tr H ≈ n
    /// (an interpolating fit). O(count · k) per filter. - Throws: `invalidArgument` without targets.
    public func gcvScores(filters: [SpectralFilter]) throws -> [Double] {
        try requireTargets()
        let k = outputs
        let rowNorms = (0..<count).map { i in
            (0..<k).reduce(0.0) { $0 + projected[i * k + $1] * projected[i * k + $1] }
        }
        let entries = Double(points * k)
        return filters.map { filter in
            var residual = outsideSpan, trace = 0.0
            for (i, lambda) in eigenvalues.enumerated() {
                let keep = lambda > 0 ? filter.residualFactor(lambda) : 1
                residual += keep * keep * rowNorms[i]
                trace += lambda > 0 ? filter.shrinkage(lambda) : 0
            }
            let denominator = 1 - trace / Double(points)
            guard denominator > 1e-12 else { return .infinity }
            return residual / entries / (denominator * denominator)
        }
    }

    /// The inputs of the leave-one-out scores that need no eigenvectors, for a full spectrum
    /// (n directions): `inverse[i][j] = 1/(λ_i + z_j)` (0 where λ_i + z_j = 0, and that ridge is
    /// `singular`) and `scaled[i][j·k + c] = inverse[i][j] · P[i][c]`. With V the eigenvectors,
    /// `diag((K + z_j I)⁻¹) = (V ∘ V) inverse[:, j]` and `(K + z_j I)⁻¹ R = V scaled[:, j·k..]`.
    /// - Throws: as `checkRidges`; `invalidArgument` without targets or for a partial spectrum.
    public func looTerms(_ ridges: [Double]) throws -> (inverse: [Double], scaled: [Double], singular: [Bool]) {
        try Self.checkRidges(ridges)
        try requireTargets()
        guard count == points, outsideSpan == 0 else {
            throw NTKError.invalidArgument("leave-one-out scores need the full spectrum of the n × n kernel")
        }
        let n = count, g = ridges.count, k = outputs, width = g * k
        var inverse = [Double](repeating: 0, count: n * g), scaled = [Double](repeating: 0, count: n * width)
        var singular = [Bool](repeating: false, count: g)
        for i in 0..<n {
            for (j, z) in ridges.enumerated() {
                let h = SpectralFilter.inverse(eigenvalues[i] + z)
                if h == 0 { singular[j] = true }
                inverse[i * g + j] = h
                for c in 0..<k { scaled[i * width + j * k + c] = h * projected[i * k + c] }
            }
        }
        return (inverse, scaled, singular)
    }

    /// Leave-one-out scores `Σ_a Σ_c (solutions[a][j·k + c] / diagonals[a][j])² / N` for each
    /// ridge j, from `diagonals` (n × count) = diag((K + zI)⁻¹) and `solutions` (n × count·k) =
    /// (K + zI)⁻¹ R as `looTerms` describes; `+∞` for a singular ridge (z = 0 on a null space).
    public func looScores(_ ridges: [Double], singular: [Bool], diagonals: MatrixView,
                          solutions: MatrixView) throws -> [Double] {
        let n = count, g = ridges.count, k = outputs
        guard diagonals.rows == n, diagonals.cols == g, solutions.rows == n, solutions.cols == g * k,
        singular.count == g else {
            throw NTKError(.internalError, "leave-one-out terms of the wrong shape")
        }
        try InputCheck.finite(diagonals, "the diagonals of (K + zI)⁻¹")
        try InputCheck.finite(solutions, "the solutions (K + zI)⁻¹ R")
        let entries = Double(points * k)
        return (0..<g).map { j in
            if singular[j] { return .infinity }
            var sum = 0.0
            for a in 0..<n {
                let d = diagonals[a, j]
                for c in 0..<k {
                    let e = solutions[a, j * k + c] / d
                    sum += e * e
                }
            }
            return sum / entries
        }
    }

    /// The index of the best (smallest finite, the first of ties) score. - Throws:
    /// `numericalFailure` when no score is finite.
    public static func best(_ scores: [Double], _ criterion: Criterion) throws -> Int {
        var best = -1
        for (i, s) in scores.enumerated() where s.isFinite && (best < 0 || s < scores[best]) { best = i }
        guard best >= 0 else {
            throw NTKError.numericalFailure("no ridge in the grid gives a finite \(criterion.name) score; include "
                                            + "ridges > 0")
        }
        return best
    }

    private func requireTargets() throws {
        guard points > 0, outputs > 0 else {
            throw NTKError.invalidArgument("ridge selection needs at least one target entry")
        }
    }
}

/// The outcome of ridge selection, the same in every solver and language: the chosen ridge, its
/// index in the grid, and every ridge's score (`+∞` where the criterion is undefined).
public struct RidgeSelection: Sendable, Equatable {
    /// The ridge with the smallest score (the first of ties).
    public let ridge: Double
    /// Its index in the grid.
    public let index: Int
    /// The score of every ridge of the grid, in order.
    public let scores: [Double]

    /// Selects from scores of `ridges` computed by `criterion`. - Throws: as `Spectrum.best`.
    public init(ridges: [Double], scores: [Double], criterion: Spectrum.Criterion) throws {
        let index = try Spectrum.best(scores, criterion)
        self.ridge = ridges[index]
        self.index = index
        self.scores = scores
    }
}
