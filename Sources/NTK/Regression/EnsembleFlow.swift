/// The distribution over random initialisations of the outputs of infinitely wide networks
/// trained by gradient flow with MSE: Gaussian, with closed-form mean and covariance at every
/// training time (Lee et al. 2019, "Wide neural networks of any depth evolve as linear models
/// under gradient descent", eq. 16; docs/equations.md, "The family of interpolators").
///
/// With Θ the trained kernel plus the ridge z (the NTK when every layer is trained, `.ntk`; the
/// NNGP kernel 𝒦 when only the readout is, `.nngp`), N = n·k target entries and learning rate η,
///
///     A_t  = Θ(x, X) (Θ + zI)⁻¹ (I − exp(−η t (Θ + zI) / N))
///     mean = A_t Y
///     cov  = 𝒦(x, x') + A_t 𝒦_XX A_tᵀ − A_t 𝒦(X, x') − 𝒦(x, X) A_tᵀ
///
/// where 𝒦_XX is the NNGP kernel of the training points — plus the ridge in the `.nngp` regime,
/// where it is the trained kernel (there the covariance reduces to
/// `𝒦(x, x') − 𝒦(x, X) (𝒦 + zI)⁻¹ (I − exp(−2ηt(𝒦 + zI)/N)) 𝒦(X, x')`). The covariance is the
/// same for every output column. At t = ∞ the exponential vanishes (the NTK-ensemble limit; with
/// `.nngp`, the NNGP posterior).
///
/// One eigendecomposition of the trained kernel serves every time, as in `SpectralSolver`
/// (whose filters and eigenvalue policy are used: negative eigenvalues clamped, null directions
/// dropped, so singular kernels give the minimum-norm limits). Per time the `.ntk` covariance
/// costs O(m n² + m² n) (one DSYMM, one DSYR2K), the `.nngp` one O(m² n) (one DSYRK).
/// Covariances are symmetric by construction (lower triangle computed, mirrored). The variances
/// alone (`Covariance.diagonal`, what a standard deviation needs) skip the m × m products: per
/// time O(m n²) (the DSYMM) in the `.ntk` regime, O(m n) in the `.nngp` one, and O(m) memory
/// per time instead of O(m²), reading only the diagonal 𝒦(x, x) of the test kernel.
public final class EnsembleFlow: @unchecked Sendable {
    /// Which layers are trained.
    public enum Regime: Sendable {
        /// Every layer: the NTK drives the flow, the NNGP kernel is the prior of f₀.
        case ntk
        /// Only the readout layer: the NNGP kernel is both.
        case nngp
    }

    /// What of the covariance is computed.
    public enum Covariance: Sendable {
        /// The m × m covariance at each time.
        case full
        /// Its diagonal alone, the variances (m at each time).
        case diagonal
    }

    /// The regime.
    public let regime: Regime
    /// The ridge z ≥ 0 (absolute) added to the trained kernel.
    public let ridge: Double
    /// Training points n.
    public let n: Int
    /// The eigendecomposition of the trained kernel.
    let solver: SpectralSolver
    /// The training NNGP kernel (n × n, a copy).
    let nngpTrain: Workspace
    /// The training NTK (n × n, a copy) in the `.ntk` regime.
    let ntkTrain: Workspace?
    /// `Vᵀ 𝒦_XX V` (n × n, lower triangle) in the `.ntk` regime.
    let projectedPrior: Workspace?

    /// Decomposes the trained kernel: `ntkTrain` for `.ntk` (required there), `nngpTrain` for
    /// `.nngp` (`ntkTrain` is then not used and may be nil). Kernels are symmetric n × n.
    /// - Throws: `invalidArgument` (missing NTK, ridge < 0, not symmetric), `dimensionMismatch`,
    ///   `nonFinite`, `outOfMemory`, `tooLarge`, `numericalFailure`, `cancelled`.
    public init(nngpTrain: MatrixView, ntkTrain: MatrixView?, regime: Regime, ridge: Double = 0,
                progress: ProgressHandler = .none) throws {
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be ≥ 0, got \(ridge)") }
        try InputCheck.square(nngpTrain, "nngp_train")
        let n = nngpTrain.rows
        if regime == .ntk {
            guard let ntkTrain else { throw NTKError.invalidArgument("the ntk regime needs ntk_train") }
            try InputCheck.square(ntkTrain, "ntk_train")
            guard ntkTrain.rows == n else {
                throw NTKError.dimensionMismatch("ntk_train is \(ntkTrain.rows) × \(ntkTrain.rows) but nngp_train is "
                                                 + "\(n) × \(n)")
            }
            try InputCheck.finite(ntkTrain, "ntk_train")
        }
        try InputCheck.finite(nngpTrain, "nngp_train")
        let size = try Sizes.product(n, n, "size of the kernels")
        let nngp = try Workspace(count: max(size, 1), for: "the training NNGP kernel")
        try Symmetry.symmetrizedCopy(nngpTrain, into: nngp.pointer, ldOut: max(n, 1), name: "nngp_train")
        Symmetry.mirrorLowerToUpper(nngp.pointer, n: n, ld: max(n, 1))
        var ntk: Workspace?
        if regime == .ntk, let ntkTrain {
            let w = try Workspace(count: max(size, 1), for: "the training NTK")
            try Symmetry.symmetrizedCopy(ntkTrain, into: w.pointer, ldOut: max(n, 1), name: "ntk_train")
            Symmetry.mirrorLowerToUpper(w.pointer, n: n, ld: max(n, 1))
            ntk = w
        }
        let trained = (ntk ?? nngp).matrix(n, n).readOnly
        let solver = try SpectralSolver(trained, progress: progress)
        var projected: Workspace?
        if regime == .ntk, n > 0 {
            // Vᵀ 𝒦 V: the prior covariance of f₀(X) in the NTK's eigenbasis.
            let v = solver.vectorView
            let kv = try Workspace(count: size, for: "the projected NNGP kernel")
            let p = try Workspace(count: size, for: "the projected NNGP kernel")
            try MatrixProduct.gemm(nngp.matrix(n, n).readOnly, v, into: kv.matrix(n, n))
            try MatrixProduct.gemm(v, transposeA: true, kv.matrix(n, n).readOnly, into: p.matrix(n, n))
            projected = p
        }
        self.regime = regime
        self.ridge = ridge
        self.n = n
        self.solver = solver
        self.nngpTrain = nngp
        self.ntkTrain = ntk
        self.projectedPrior = projected
        Log.info("ensemble: \(regime) regime, eigendecomposition of the \(n) x \(n) trained kernel, ridge \(ridge)")
    }

    /// The kernels of the test points: `nngpTestTrain` 𝒦(x, X) and (for `.ntk`) `ntkTestTrain`
    /// Θ(x, X), m × n, and `nngpTest` 𝒦(x, x'), m × m symmetric — for `Covariance.diagonal`
    /// its diagonal 𝒦(x, x) alone, an m × 1 view.
    public struct Test {
        public let nngpTestTrain: MatrixView
        public let ntkTestTrain: MatrixView?
        public let nngpTest: MatrixView

        public init(nngpTestTrain: MatrixView, ntkTestTrain: MatrixView?, nngpTest: MatrixView) {
            self.nngpTestTrain = nngpTestTrain
            self.ntkTestTrain = ntkTestTrain
            self.nngpTest = nngpTest
        }

        var rows: Int { nngpTestTrain.rows }
    }

    /// Mean and covariance at every time of `times` (each ≥ 0, `.infinity` allowed, any order),
    /// on the test points of `test`, or with `test` nil on the training points themselves (x = X:
    /// Θ(x, X) = Θ, 𝒦(x, X) = 𝒦(x, x') = 𝒦_XX, without the ridge).
    ///
    /// - Parameters:
    ///   - y: the targets Y, n × k (the ensemble starts from random networks: no offsets).
    ///   - meanOut: `times.count × m × k` contiguous doubles, or nil.
    ///   - covariance: `.full` or `.diagonal` (the variances).
    ///   - covOut: `times.count × m × m` contiguous doubles (`times.count × m` for `.diagonal`), or nil.
    /// - Throws: `invalidArgument` (times, learning rate, missing NTK test kernel, not symmetric),
    ///   `dimensionMismatch`, `nonFinite`, `numericalFailure` (overflow), `outOfMemory`,
    ///   `tooLarge`, `cancelled`.
    package func predict(y: MatrixView, times: [Double], learningRate: Double, test: Test?,
                         meanOut: UnsafeMutablePointer<Double>?, covariance: Covariance = .full,
                         covOut: UnsafeMutablePointer<Double>?, progress: ProgressHandler = .none) throws {
        guard y.rows == n else {
            throw NTKError.dimensionMismatch("Y has \(y.rows) rows but the kernels are \(n) × \(n)")
        }
        try InputCheck.finite(y, "Y")
        let k = y.cols
        let filters = try times.map { try solver.filter(time: $0, ridge: ridge, learningRate: learningRate,
                                                        outputs: max(k, 1)) }
        let m = test?.rows ?? n
        if let test {
            try checkTest(test, covariance)
        }
        let count = times.count
        _ = try Sizes.product(try Sizes.product(count, try Sizes.product(m, max(m, k), "output size"), "output size"),
                              8, "output bytes")
        try progress.report(0)
        if count == 0 || (meanOut == nil && covOut == nil) { return try progress.report(1) }

        let trainedTestTrain = test.map { regime == .ntk ? $0.ntkTestTrain! : $0.nngpTestTrain }
        if let meanOut {
            let targets = try Targets(y: y)
            if let trainedTestTrain {
                try solver.predict(targets: targets, filters: filters, test: try TestKernel(kernel: trainedTestTrain),
                                   trainOut: nil, testOut: meanOut)
            } else {
                try solver.predict(targets: targets, filters: filters, test: nil, trainOut: meanOut, testOut: nil)
            }
        }
        try progress.report(0.05)
        guard let covOut else { return try progress.report(1) }
        if m == 0 { return try progress.report(1) }

        try covariances(filters: filters, test: test, trainedTestTrain: trainedTestTrain,
                        diagonal: covariance == .diagonal, into: covOut, progress: progress)
    }

    /// The covariance at each filter's time into `covOut` (count × m × m), or with `diagonal` its
    /// diagonal (count × m), see `predict`.
    private func covariances(filters: [SpectralFilter], test: Test?, trainedTestTrain: MatrixView?, diagonal: Bool,
                             into covOut: UnsafeMutablePointer<Double>, progress: ProgressHandler) throws {
        let m = test?.rows ?? n, count = filters.count
        let trainedTrain = (ntkTrain ?? nngpTrain).matrix(n, n).readOnly
        let first = solver.firstActive, rank = n - first
        let v = solver.vectorView.columns(first, n)
        let lambda = Array(solver.eigenvalues[first...])
        // B = Θ(x, X) V (the trained kernel), C = 𝒦(x, X) V (.ntk only): m × r.
        let b = try Workspace(count: max(try Sizes.product(m, rank, "test projection"), 1), for: "the test projection")
        try MatrixProduct.gemm(trainedTestTrain ?? trainedTrain, v, into: b.matrix(m, rank))
        var c: Workspace?
        if regime == .ntk {
            let w = try Workspace(count: max(m * rank, 1), for: "the NNGP test projection")
            try MatrixProduct.gemm(test?.nngpTestTrain ?? nngpTrain.matrix(n, n).readOnly, v, into: w.matrix(m, rank))
            c = w
        }
        // 𝒦(x, x'): symmetrised (checked) copy of the test kernel, or the training one.
        var prior = nngpTrain.matrix(n, n).readOnly
        var priorCopy: Workspace?
        if let test, !diagonal {
            let w = try Workspace(count: m * m, for: "the test NNGP kernel")
            try Symmetry.symmetrizedCopy(test.nngpTest, into: w.pointer, ldOut: m, name: "nngp_test")
            Symmetry.mirrorLowerToUpper(w.pointer, n: m, ld: m)
            prior = w.matrix(m, m).readOnly
            priorCopy = w
        }
        // W = B diag(·), m × r: every form but the "nngp" variances, which read B directly.
        let scaled = try Workspace(count: diagonal && regime == .nngp ? 1 : max(m * rank, 1),
                                   for: "the scaled projection")
        let half = regime == .ntk ? try Workspace(count: max(m * rank, 1), for: "the covariance factor") : nil
        let values = try Workspace(count: max(try Sizes.product(count, n, "filter values"), 1), for: "filter values")
        solver.filterValues(filters, values: values.pointer, shrinkage: nil, degreesOfFreedom: nil)
        try progress.report(0.1)

        let priorFactor = diagonal ? try activePriorFactor(first: first) : nil
        for t in 0..<count {
            let g = values.pointer + t * n + first
            if diagonal {
                try variances(g, lambda, b: b, c: c, scaled: scaled, half: half, prior: priorFactor, test: test,
                              into: covOut + t * m)
                try progress.report(0.1 + 0.9 * Double(t + 1) / Double(count))
                continue
            }
            let out = MutableMatrixView(unchecked: covOut + t * m * m, rows: m, cols: m, ld: m)
            for i in 0..<m { (out.base + i * m).update(from: prior.base + i * prior.ld, count: m) }
            if rank > 0 {
                switch regime {
                case .nngp:
                    // cov = 𝒦tt − B diag(h) Bᵀ, h = 2g − (λ + z) g² = g (1 + e) ≥ 0.
                    for j in 0..<rank {
                        let h = max(0, 2 * g[j] - (lambda[j] + ridge) * g[j] * g[j])
                        let root = h.squareRoot()
                        for i in 0..<m { scaled.pointer[i * rank + j] = b.pointer[i * rank + j] * root }
                    }
                    try MatrixProduct.syrkLower(scaled.matrix(m, rank).readOnly, alpha: -1, beta: 1, into: out)
                case .ntk:
                    // W = B diag(g); Z = W M / 2 − C; cov = 𝒦tt + Z Wᵀ + W Zᵀ.
                    guard let c, let half, let projectedPrior else {
                        throw NTKError(.internalError, "ntk regime without its prior")
                    }
                    for i in 0..<m {
                        for j in 0..<rank { scaled.pointer[i * rank + j] = b.pointer[i * rank + j] * g[j] }
                    }
                    let mActive = MatrixView(unchecked: UnsafePointer(projectedPrior.pointer + first * n + first),
                                             rows: rank, cols: rank, ld: n)
                    try MatrixProduct.symmRight(scaled.matrix(m, rank).readOnly, symmetric: mActive,
                                                into: half.matrix(m, rank))
                    for q in 0..<(m * rank) { half.pointer[q] = 0.5 * half.pointer[q] - c.pointer[q] }
                    try MatrixProduct.syr2kLower(half.matrix(m, rank).readOnly, scaled.matrix(m, rank).readOnly,
                                                 alpha: 1, beta: 1, into: out)
                }
            }
            Symmetry.mirrorLowerToUpper(out.base, n: m, ld: m)
            try progress.report(0.1 + 0.9 * Double(t + 1) / Double(count))
        }
        withExtendedLifetime(priorCopy) {}
        try InputCheck.finiteResult(covOut, count: count * (diagonal ? m : m * m), "the ensemble covariance")
    }

    /// The pivoted Cholesky factor of the active block of M = Vᵀ𝒦V ("ntk" regime; nil otherwise):
    /// the variances' quadratic forms w M wᵀ by a triangular product, half the flops of the
    /// symmetric one the full covariance needs.
    private func activePriorFactor(first: Int) throws -> PivotedCholesky? {
        guard regime == .ntk, first < n, let projectedPrior else { return nil }
        let rank = n - first
        return try PivotedCholesky(MatrixView(unchecked: UnsafePointer(projectedPrior.pointer + first * n + first),
                                              rows: rank, cols: rank, ld: n))
    }

    /// The variances at one time (filter values `g` of the active eigenvalues `lambda`) into
    /// `out` (m): the diagonal of the covariance of `covariances`, row by row, without its m × m
    /// products — `.nngp`: 𝒦(x, x) − Σ_j h_j B_j², `.ntk`: 𝒦(x, x) + rowdot(W M, W) − 2 rowdot(C, W)
    /// with W = B diag(g) (as there, Z Wᵀ + W Zᵀ on the diagonal), rowdot(W M, W) = ‖W P L‖² from
    /// `prior`, the pivoted Cholesky factor of M's active block (a triangular product per time).
    private func variances(_ g: UnsafePointer<Double>, _ lambda: [Double], b: Workspace, c: Workspace?,
                           scaled: Workspace, half: Workspace?, prior: PivotedCholesky?, test: Test?,
                           into out: UnsafeMutablePointer<Double>) throws {
        let m = test?.rows ?? n, rank = lambda.count
        for i in 0..<m { out[i] = test.map { $0.nngpTest[i, 0] } ?? nngpTrain.pointer[i * n + i] }
        guard rank > 0 else { return }
        switch regime {
        case .nngp:
            let h = (0..<rank).map { max(0, 2 * g[$0] - (lambda[$0] + ridge) * g[$0] * g[$0]) }
            for i in 0..<m {
                let bi = b.pointer + i * rank
                var s = 0.0
                for j in 0..<rank { s += h[j] * bi[j] * bi[j] }
                out[i] -= s
            }
        case .ntk:
            guard let c, let half, let prior else { throw NTKError(.internalError, "ntk regime without its prior") }
            for i in 0..<m { for j in 0..<rank { scaled.pointer[i * rank + j] = b.pointer[i * rank + j] * g[j] } }
            for i in 0..<m {
                let w = scaled.pointer + i * rank, ci = c.pointer + i * rank
                var s = 0.0
                for j in 0..<rank { s += w[j] * ci[j] }
                out[i] -= 2 * s
            }
            // + w M wᵀ = ‖(w P) L‖² with M = P L Lᵀ Pᵀ (W's memory then holds a product).
            try prior.addQuadraticForms(scaled.matrix(m, rank).readOnly, permuted: half.matrix(m, rank),
                                        product: scaled.matrix(m, rank), into: out)
        }
    }

    /// Mean (one m × k matrix per time) and covariance (one m × m matrix per time; with
    /// `.diagonal`, the variances as one m × 1 matrix per time) at `times`; `test` nil: on the
    /// training points. See `predict(y:times:learningRate:test:meanOut:covariance:covOut:progress:)`.
    public func predict(y: Matrix, times: [Double], learningRate: Double = 1, test: Test? = nil,
                        covariance: Covariance = .full,
                        progress: ProgressHandler = .none) throws -> (mean: [Matrix], cov: [Matrix]) {
        let m = test?.rows ?? n, k = y.columns, count = times.count, columns = covariance == .full ? m : 1
        var mean = [Double](repeating: 0, count: max(count * m * k, 1))
        var cov = [Double](repeating: 0, count: max(count * m * columns, 1))
        try y.withView { yv in
            try mean.withUnsafeMutableBufferPointer { mp in
                try cov.withUnsafeMutableBufferPointer { cp in
                    try predict(y: yv, times: times, learningRate: learningRate, test: test, meanOut: mp.baseAddress,
                                covariance: covariance, covOut: cp.baseAddress, progress: progress)
                }
            }
        }
        return (try Matrix.slices(of: mean, count: count, rows: m, cols: k),
                try Matrix.slices(of: cov, count: count, rows: m, cols: columns))
    }

    private func checkTest(_ test: Test, _ covariance: Covariance) throws {
        let m = test.rows
        func require(_ v: MatrixView, rows: Int, cols: Int, _ name: String) throws {
            guard v.rows == rows, v.cols == cols else {
                throw NTKError.dimensionMismatch("\(name) is \(v.rows) × \(v.cols) but must be \(rows) × \(cols)")
            }
            try InputCheck.finite(v, name)
        }
        try require(test.nngpTestTrain, rows: m, cols: n, "nngp_test_train")
        if regime == .ntk {
            guard let ntk = test.ntkTestTrain else {
                throw NTKError.invalidArgument("the ntk regime needs ntk_test_train")
            }
            try require(ntk, rows: m, cols: n, "ntk_test_train")
        }
        if covariance == .diagonal {
            try require(test.nngpTest, rows: m, cols: 1, "nngp_test (its diagonal, for the variances)")
        } else {
            try require(test.nngpTest, rows: m, cols: m, "nngp_test")
        }
    }
}
