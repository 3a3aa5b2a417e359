/// Kernel regression and kernel gradient flow through one eigendecomposition `K = V Λ Vᵀ` of
/// the training kernel (eq. 17-22 in docs/equations.md): after the O(n³) decomposition, predictions for
/// a whole grid of training times and ridges cost matrix products only.
///
/// Conventions (docs/conventions.md): MSE loss `(1/N) Σ ½(f − y)²` with `N` = number of target entries
/// (n·k), so train residuals decay as `exp(−η t K / N)`; ridges are absolute.
///
/// Eigenvalue policy, decided once when the solver is made:
/// - *negative eigenvalues* of a computed kernel are rounding noise of a positive semi-definite
///   matrix; with `.clamp` (default) they are set to 0, and `clampedCount` and
///   `minimumRawEigenvalue` report what was changed; `.error` throws `notPositiveDefinite` when
///   any eigenvalue is below `−cutoff` instead.
/// - eigenvalues `≤ cutoff = n · ε · λ_max` are *numerically zero*: the kernel's null space.
///   Gradient flow never moves the training outputs along it, and the test kernel of a positive
///   semi-definite kernel on train ∪ test points is orthogonal to it, so predictions drop these
///   directions. Hence `t = ∞` with `z = 0` is the minimum-norm interpolant `K_* K⁺ (Y − f₀)`,
///   finite for singular kernels, and predictions are continuous in `t` and `z`.
///
/// The object is immutable after creation and may be shared between threads.
public final class SpectralSolver: @unchecked Sendable {
    /// What happens to negative eigenvalues of the kernel (see the type's documentation).
    public enum NegativeEigenvaluePolicy: Sendable {
        case clamp
        case error
    }

    /// Order of the kernel.
    public let n: Int
    /// Eigenvalues, ascending, after the policy above (so all ≥ 0).
    public let eigenvalues: [Double]
    /// The smallest eigenvalue as computed, before clamping.
    public let minimumRawEigenvalue: Double
    /// How many negative eigenvalues were clamped to zero.
    public let clampedCount: Int
    /// How many eigenvalues are treated as zero (null space), clamped ones included.
    public let nullCount: Int
    /// The threshold `n · ε · λ_max` below which an eigenvalue counts as zero.
    public let cutoff: Double
    /// Eigenvectors as the columns of a row-major n × n matrix.
    let vectors: Workspace
    /// The eigenvalues as a spectrum without targets (filter values, degrees of freedom).
    let spectrum: Spectrum

    /// Decomposes `k` (symmetric, finite; used as `(K + Kᵀ)/2`).
    /// - Throws: as `SymmetricEigen.compute`; `notPositiveDefinite` under `.error`.
    public convenience init(_ k: MatrixView, negativeEigenvalues policy: NegativeEigenvaluePolicy = .clamp,
                            progress: ProgressHandler = .none) throws {
        let (raw, vectors) = try Self.decompose(k, progress: progress)
        try self.init(raw: raw, vectors: vectors, policy: policy)
    }

    /// Convenience for a `Matrix`.
    public convenience init(_ k: Matrix, negativeEigenvalues policy: NegativeEigenvaluePolicy = .clamp,
                            progress: ProgressHandler = .none) throws {
        let (raw, vectors) = try k.withView { try Self.decompose($0, progress: progress) }
        try self.init(raw: raw, vectors: vectors, policy: policy)
    }

    private static func decompose(_ k: MatrixView, progress: ProgressHandler) throws -> ([Double], Workspace) {
        try InputCheck.square(k, "K")
        let n = k.rows
        let vectors = try Workspace(count: try Sizes.product(n, n, "size of K"), for: "the eigenvectors")
        var raw = [Double](repeating: 0, count: n + 1)  // one spare: a base address even for n = 0
        try raw.withUnsafeMutableBufferPointer { w in
            try SymmetricEigen.compute(k, values: w.baseAddress!, vectors: vectors.matrix(n, n), progress: progress)
        }
        raw.removeLast()
        return (raw, vectors)
    }

    private init(raw: [Double], vectors: Workspace, policy: NegativeEigenvaluePolicy) throws {
        let r = try Spectrum.regularize(raw, rejectNegative: policy == .error)
        self.n = raw.count
        self.vectors = vectors
        self.minimumRawEigenvalue = r.minimumRaw
        self.clampedCount = r.clampedCount
        self.eigenvalues = r.values
        self.nullCount = r.nullCount
        self.cutoff = r.cutoff
        self.spectrum = try Spectrum(eigenvalues: r.values, points: raw.count)
        Log.info("spectral solver: eigendecomposition of the \(n) x \(n) kernel (LAPACK DSYEVD), λ in "
                 + "[\(r.minimumRaw), \(raw.last ?? 0)], \(nullCount) direction(s) treated as null (λ ≤ \(cutoff))")
        if clampedCount > 0, r.minimumRaw < -cutoff {
            Log.warning("spectral solver: \(clampedCount) negative eigenvalue(s) clamped to 0, the lowest "
                        + "\(r.minimumRaw) (largest \(raw.last ?? 0)); the kernel is not positive semi-definite")
        }
    }

    /// The largest eigenvalue λ_max.
    public var maxEigenvalue: Double { eigenvalues.last ?? 0 }

    /// The largest stable learning rate of gradient descent on the linearised model with MSE,
    /// `2N / λ_max` (`+∞` for a zero kernel), for `nTargets = N` target entries.
    public func maxLearningRate(nTargets: Int) throws -> Double {
        try Self.maxLearningRate(lambdaMax: maxEigenvalue, nTargets: nTargets)
    }

    /// `2N / λ_max`, `+∞` when λ_max ≤ 0 (a zero kernel learns nothing at any rate).
    public static func maxLearningRate(lambdaMax: Double, nTargets: Int) throws -> Double {
        guard nTargets >= 1 else {
            throw NTKError.invalidArgument("the number of target entries must be ≥ 1, got \(nTargets)")
        }
        return lambdaMax > 0 ? 2 * Double(nTargets) / lambdaMax : .infinity
    }

    /// Eigenvectors (columns) as a read-only view.
    var vectorView: MatrixView { vectors.matrix(n, n).readOnly }

    /// Index of the first eigenvalue that is not treated as zero: directions `first..<n` are
    /// the kernel's range.
    var firstActive: Int { nullCount }

    /// `Y − f₀` (n × k) of targets with one row per training point.
    func residual(_ targets: Targets) throws -> Workspace {
        try targets.requireRows(n, "K")
        return try targets.residual()
    }

    /// Predictions of gradient flow / kernel ridge for every filter of `filters`.
    ///
    /// - Parameters:
    ///   - targets: Y and f₀ on the training points, n × k.
    ///   - filters: the grid (times and ridges; `nTargets` of each must be n·k).
    ///   - test: the test kernel (m × n) with its offsets, or nil for no test predictions.
    ///   - trainOut: `filters.count × n × k` contiguous doubles, or nil.
    ///   - testOut: `filters.count × m × k` contiguous doubles, or nil (needs `test`).
    /// Cost: O(n²k + m n r) once plus O((n + m) r k) per filter in one GEMM, r = rank.
    /// The public Swift form is `predict(y:f0Train:filters:)` and its test-kernel variant.
    package func predict(targets: Targets, filters: [SpectralFilter], test: TestKernel?,
                         trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?) throws {
        let k = targets.outputs
        let r0 = try residual(targets)
        try requireTargetCount(filters, k: k)
        if let test {
            try test.require(trainRows: n, outputs: k)
        } else if testOut != nil {
            throw NTKError.invalidArgument("test predictions need a test kernel")
        }
        let kTestTrain = test?.kernel
        let count = filters.count
        let m = kTestTrain?.rows ?? 0
        let width = try Sizes.product(count, k, "number of filters × outputs")
        _ = try Sizes.product(try Sizes.product(width, max(n, m), "prediction size"), 8, "prediction bytes")
        if count == 0 || k == 0 || (trainOut == nil && testOut == nil) { return }

        let first = firstActive, rank = n - first
        let v = vectorView.columns(first, n)                       // n × r
        let p = try projected(r0, k: k)                            // P = Vᵀ (Y − f₀): r × k
        // C[:, t·k + c] = g_t(λ) · P[:, c]: r × (count·k).
        let c = try Workspace(count: max(try Sizes.product(rank, width, "filter coefficients"), 1),
                              for: "filter coefficients")
        let result = try Workspace(count: max(try Sizes.product(max(n, m), width, "prediction block"), 1),
                                   for: "predictions")

        func fillCoefficients(shrink: Bool) throws {
            try spectrum.filtered(filters, shrink: shrink, directions: first..<n, source: p.matrix(rank, k).readOnly,
                                  into: c.matrix(rank, width))
        }
        /// out[t][i][col] = f0[i][col] + result[i][t·k + col]
        func scatter(rows: Int, f0: MatrixView?, into out: UnsafeMutablePointer<Double>) {
            for t in 0..<count {
                let block = out + t * rows * k
                for i in 0..<rows {
                    for col in 0..<k {
                        block[i * k + col] = (f0?[i, col] ?? 0) + result.pointer[i * width + t * k + col]
                    }
                }
            }
        }

        if let trainOut {
            // Train: f₀ + V diag(λ g) P = f₀ + V (shrinkage ⊙ P).
            try fillCoefficients(shrink: true)
            try MatrixProduct.gemm(v, c.matrix(rank, width).readOnly, into: result.matrix(n, width))
            if rank == 0 { result.matrix(n, width).fill(0) }
            scatter(rows: n, f0: targets.offsets, into: trainOut)
            try InputCheck.finiteResult(trainOut, count: count * n * k, "the train predictions")
        }
        if let testOut, let kt = kTestTrain {
            // Test: f₀* + K_* V diag(g) P, associated the cheaper way: K_* (V c) costs
            // n·r·w + m·n·w flops, (K_* V) c costs m·n·r + m·r·w; the first wins whenever the
            // grid (w = points × outputs) is narrower than the spectrum, as it usually is.
            try fillCoefficients(shrink: false)
            let viaCoefficients = Double(n) * Double(rank) * Double(width) + Double(m) * Double(n) * Double(width)
            let viaProjection = Double(m) * Double(n) * Double(rank) + Double(m) * Double(rank) * Double(width)
            if viaCoefficients <= viaProjection {
                let beta = try Workspace(count: max(try Sizes.product(n, width, "dual coefficients"), 1),
                                         for: "the dual coefficients")
                try MatrixProduct.gemm(v, c.matrix(rank, width).readOnly, into: beta.matrix(n, width))
                if rank == 0 { beta.matrix(n, width).fill(0) }
                try MatrixProduct.gemm(kt, beta.matrix(n, width).readOnly, into: result.matrix(m, width))
            } else {
                let ktv = try Workspace(count: max(try Sizes.product(m, rank, "test projection"), 1),
                                        for: "the test projection")
                try MatrixProduct.gemm(kt, v, into: ktv.matrix(m, rank))
                try MatrixProduct.gemm(ktv.matrix(m, rank).readOnly, c.matrix(rank, width).readOnly,
                                       into: result.matrix(m, width))
            }
            if rank == 0 { result.matrix(m, width).fill(0) }
            scatter(rows: m, f0: test?.offsets, into: testOut)
            try InputCheck.finiteResult(testOut, count: count * m * k, "the test predictions")
        }
    }

    /// The filter of gradient flow at `time` with ridge z and learning rate η for targets with
    /// `outputs` columns: N = n·outputs target entries set the time scale.
    public func filter(time: Double, ridge: Double, learningRate: Double, outputs: Int) throws -> SpectralFilter {
        try SpectralFilter(time: time, ridge: ridge, learningRate: learningRate,
                           nTargets: max(try Sizes.product(n, outputs, "n·k"), 1))
    }

    /// Throws unless every finite-time filter counts the n·k target entries of a k-column Y (the
    /// time scale η t / N depends on N; at t = ∞ it does not matter).
    private func requireTargetCount(_ filters: [SpectralFilter], k: Int) throws {
        let nTargets = try Sizes.product(n, k, "number of target entries")
        for f in filters where f.time.isFinite && nTargets > 0 && f.nTargets != nTargets {
            throw NTKError.dimensionMismatch("a filter counts \(f.nTargets) target entries but Y has \(nTargets)")
        }
    }

    /// `Vᵀ (Y − f₀)` on the kernel's range (r × k, r = rank), the residual in eigen-coordinates.
    private func projected(_ residual: Workspace, k: Int) throws -> Workspace {
        let rank = n - firstActive
        let p = try Workspace(count: max(try Sizes.product(rank, k, "projected residuals"), 1),
                              for: "projected residuals")
        try MatrixProduct.gemm(vectorView.columns(firstActive, n), transposeA: true, residual.matrix(n, k).readOnly,
                               into: p.matrix(rank, k))
        return p
    }

    /// The dual coefficients of one grid point: `α = V diag(g(λ)) Vᵀ (Y − f₀)` (n × k), so that
    /// the prediction at any points is `f₀(x) + K(x, X) α` — what `predict` computes for a test
    /// kernel, kept as a fitted model that needs neither the solver nor the test points in
    /// advance. Null-space directions are left out, as in `predict` (t = ∞, z = 0 gives the
    /// minimum-norm interpolant's `K⁺ (Y − f₀)`).
    ///
    /// - Parameters:
    ///   - targets: Y and f₀ (n × k).
    ///   - filter: the time and ridge; at a finite time `filter.nTargets` must be n·k.
    ///   - out: n × k; it may share memory with Y or f₀ (they are read before it is written).
    /// - Throws: `dimensionMismatch`, `nonFinite`, `numericalFailure` (overflow), `outOfMemory`.
    public func dualCoefficients(targets: Targets, filter: SpectralFilter, into out: MutableMatrixView) throws {
        let k = targets.outputs
        guard out.rows == n, out.cols == k else {
            throw NTKError.dimensionMismatch("the coefficients are \(out.rows) × \(out.cols) but must be \(n) × \(k)")
        }
        let r0 = try residual(targets)
        try requireTargetCount([filter], k: k)
        if k == 0 || n == 0 { return }
        let first = firstActive, rank = n - first
        guard rank > 0 else { out.fill(0); return }
        let p = try projected(r0, k: k)
        let c = try Workspace(count: try Sizes.product(rank, k, "filtered targets"), for: "the filtered targets")
        try spectrum.filtered([filter], shrink: false, directions: first..<n, source: p.matrix(rank, k).readOnly,
                              into: c.matrix(rank, k))
        try MatrixProduct.gemm(vectorView.columns(first, n), c.matrix(rank, k).readOnly, into: out)
        try InputCheck.finiteResult(out, "the dual coefficients")
    }

    /// The dual coefficients of every filter of a grid, contiguous `filters.count × n × k` at
    /// `out` (which may share memory with Y or f₀: they are read first), from one product with
    /// the eigenvectors. The C form of `dualCoefficients(targets:filter:into:)`.
    package func dualCoefficients(targets: Targets, filters: [SpectralFilter],
                                  into out: UnsafeMutablePointer<Double>) throws {
        let k = targets.outputs, count = filters.count
        let r0 = try residual(targets)
        try requireTargetCount(filters, k: k)
        let width = try Sizes.product(count, k, "filters × outputs")
        if width == 0 || n == 0 { return }
        let first = firstActive, rank = n - first
        let result = try Workspace(count: try Sizes.product(n, width, "dual coefficients"),
                                   for: "the dual coefficients")
        if rank == 0 {
            result.matrix(n, width).fill(0)
        } else {
            let p = try projected(r0, k: k)
            let c = try Workspace(count: try Sizes.product(rank, width, "filtered targets"),
                                  for: "the filtered targets")
            try spectrum.filtered(filters, shrink: false, directions: first..<n, source: p.matrix(rank, k).readOnly,
                                  into: c.matrix(rank, width))
            try MatrixProduct.gemm(vectorView.columns(first, n), c.matrix(rank, width).readOnly,
                                   into: result.matrix(n, width))
        }
        for f in 0..<count {
            for i in 0..<n {
                for col in 0..<k { out[(f * n + i) * k + col] = result.pointer[i * width + f * k + col] }
            }
        }
        try InputCheck.finiteResult(out, count: count * n * k, "the dual coefficients")
    }

    /// For each filter: `g(λ_i)` and the shrinkage `λ_i g(λ_i)` for every eigenvalue (count × n,
    /// row t for filter t, each may be nil), and the effective degrees of freedom
    /// `Σ_i λ_i g(λ_i)` (count, may be nil). Null-space directions have g = 0. The public Swift
    /// form is `filterValues(_:)`.
    package func filterValues(_ filters: [SpectralFilter], values: UnsafeMutablePointer<Double>?,
                              shrinkage: UnsafeMutablePointer<Double>?,
                              degreesOfFreedom: UnsafeMutablePointer<Double>?) {
        spectrum.filterValues(filters, values: values, shrinkage: shrinkage, degreesOfFreedom: degreesOfFreedom)
    }
}

extension SpectralSolver {
    /// Train and (with a test kernel) test predictions for every filter as flat arrays.
    private func flatPredictions(y: Matrix, f0Train: Matrix?, filters: [SpectralFilter], kTestTrain: Matrix?,
                                 f0Test: Matrix?) throws -> (train: [Matrix], test: [Matrix]) {
        let k = y.cols, m = kTestTrain?.rows ?? 0
        var train = [Double](repeating: 0, count: try Sizes.product(filters.count, try Sizes.product(n, k, "n·k"),
                                                                    "predictions") + 1)
        var test = [Double](repeating: 0, count: try Sizes.product(filters.count, try Sizes.product(m, k, "m·k"),
                                                                   "predictions") + 1)
        try Targets.with(y, f0Train) { targets in
            func run(_ testKernel: TestKernel?) throws {
                try train.withUnsafeMutableBufferPointer { tr in
                    try test.withUnsafeMutableBufferPointer { te in
                        try predict(targets: targets, filters: filters, test: testKernel,
                                    trainOut: tr.baseAddress, testOut: testKernel == nil ? nil : te.baseAddress)
                    }
                }
            }
            if let kTestTrain { try TestKernel.with(kTestTrain, f0Test) { try run($0) } } else { try run(nil) }
        }
        return (try Matrix.slices(of: train, count: filters.count, rows: n, cols: k),
                kTestTrain == nil ? [] : try Matrix.slices(of: test, count: filters.count, rows: m, cols: k))
    }

    /// The train predictions for every filter (one n × k matrix each).
    public func predict(y: Matrix, f0Train: Matrix? = nil, filters: [SpectralFilter]) throws -> [Matrix] {
        try flatPredictions(y: y, f0Train: f0Train, filters: filters, kTestTrain: nil, f0Test: nil).train
    }

    /// Train and test predictions for every filter (n × k and m × k matrices).
    public func predict(y: Matrix, f0Train: Matrix? = nil, filters: [SpectralFilter], kTestTrain: Matrix,
                        f0Test: Matrix? = nil) throws -> (train: [Matrix], test: [Matrix]) {
        try flatPredictions(y: y, f0Train: f0Train, filters: filters, kTestTrain: kTestTrain, f0Test: f0Test)
    }

    /// Gradient-flow predictions on the training points at `times` (`.infinity` allowed) with
    /// learning rate η and ridge z: one n × k matrix per time.
    public func gradientFlow(y: Matrix, times: [Double], learningRate: Double = 1, ridge: Double = 0,
                             f0Train: Matrix? = nil) throws -> [Matrix] {
        let filters = try times.map { try filter(time: $0, ridge: ridge, learningRate: learningRate, outputs: y.cols) }
        return try predict(y: y, f0Train: f0Train, filters: filters)
    }

    /// Gradient-flow predictions on the training and the test points at `times`.
    public func gradientFlow(y: Matrix, times: [Double], kTestTrain: Matrix, f0Test: Matrix? = nil,
                             learningRate: Double = 1, ridge: Double = 0, f0Train: Matrix? = nil)
        throws -> (train: [Matrix], test: [Matrix]) {
        let filters = try times.map { try filter(time: $0, ridge: ridge, learningRate: learningRate, outputs: y.cols) }
        return try predict(y: y, f0Train: f0Train, filters: filters, kTestTrain: kTestTrain, f0Test: f0Test)
    }

    /// The filters of a grid against the eigenvalues: `values` g(λ) and `shrinkage` λ·g(λ)
    /// (count × n, row t for filter t) and the effective degrees of freedom (count).
    public func filterValues(_ filters: [SpectralFilter]) throws -> (values: Matrix, shrinkage: Matrix,
                                                                     degreesOfFreedom: [Double]) {
        var values = try Matrix(rows: filters.count, cols: n), shrinkage = values
        var dof = [Double](repeating: 0, count: filters.count)
        try values.withMutableView { v in
            try shrinkage.withMutableView { s in
                dof.withUnsafeMutableBufferPointer { d in
                    filterValues(filters, values: v.base, shrinkage: s.base, degreesOfFreedom: d.baseAddress)
                }
            }
        }
        return (values, shrinkage, dof)
    }

    /// `Matrix` version of `dualCoefficients`: `α` (n × k) for gradient flow at `time` (`.infinity`:
    /// kernel ridge) with ridge z; predict with `f₀(x) + K(x, X) α`.
    public func dualCoefficients(y: Matrix, f0Train: Matrix? = nil, time: Double = .infinity, ridge: Double = 0,
                                 learningRate: Double = 1) throws -> Matrix {
        let filter = try filter(time: time, ridge: ridge, learningRate: learningRate, outputs: y.cols)
        var alpha = try Matrix(rows: n, cols: y.cols)
        try Targets.with(y, f0Train) { targets in
            try alpha.withMutableView { try dualCoefficients(targets: targets, filter: filter, into: $0) }
        }
        return alpha
    }

    /// `Matrix` version of `selectRidge`.
    public func selectRidge(y: Matrix, f0Train: Matrix? = nil, ridges: [Double],
                            criterion: SelectionCriterion) throws -> RidgeSelection {
        try Targets.with(y, f0Train) { try selectRidge(targets: $0, ridges: ridges, criterion: criterion) }
    }
}
