#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gaussian-process regression with a kernel as the prior covariance (docs/equations.md, "The
/// family of interpolators"): the exact Bayesian posterior of the infinitely wide network with
/// the NNGP kernel, or the NTK-GP of He et al. 2020 with the NTK; the ridge z is the variance of
/// Gaussian observation noise.
///
/// With prior mean f₀ (offsets, 0 by default) and `K_z = K_XX + zI = L Lᵀ`:
///
///     mean = f₀(x) + K(x, X) K_z⁻¹ (Y − f₀(X))
///     cov  = K(x, x') − K(x, X) K_z⁻¹ K(X, x')            (the same for every output column)
///     log p(Y) = −½ Σ_c r_cᵀ K_z⁻¹ r_c − (k/2) log det K_z − (n k / 2) log 2π,   r = Y − f₀(X)
///
/// summed over the k independent output columns. The covariance is formed as
/// `K(x, x') − Wᵀ W` with `W = L⁻¹ K(X, x')`, so it is symmetric and positive semi-definite to
/// rounding. K_z must be positive definite (a ridge > 0 for singular kernels).
public enum GaussianProcess {
    /// Writes the posterior mean (m × k, contiguous; may be nil) and covariance (m × m,
    /// contiguous; may be nil) and returns the log marginal likelihood of Y.
    /// - Throws: `invalidArgument` (ridge, not symmetric), `dimensionMismatch`, `nonFinite`,
    ///   `notPositiveDefinite`, `numericalFailure` (overflow), `outOfMemory`, `tooLarge`, `cancelled`.
    package static func posterior(kTrain: MatrixView, targets: Targets, test: TestKernel, kTest: MatrixView,
                                  ridge: Double, meanOut: UnsafeMutablePointer<Double>?,
                                  covOut: UnsafeMutablePointer<Double>?,
                                  progress: ProgressHandler = .none) throws -> Double {
        try InputCheck.square(kTrain, "K_train")
        let n = kTrain.rows, k = targets.outputs, m = test.rows
        try targets.requireRows(n, "K_train")
        try test.require(trainRows: n, outputs: k)
        guard kTest.rows == m, kTest.cols == m else {
            throw NTKError.dimensionMismatch("K_test is \(kTest.rows) × \(kTest.cols) but must be \(m) × \(m)")
        }
        let testCopy = try Workspace(count: max(try Sizes.product(m, m, "size of K_test"), 1), for: "the test kernel")
        try Symmetry.symmetrizedCopy(kTest, into: testCopy.pointer, ldOut: max(m, 1), name: "K_test")
        Symmetry.mirrorLowerToUpper(testCopy.pointer, n: m, ld: max(m, 1))
        let factor = try CholeskyFactorization(kTrain, ridge: ridge, progress: progress)
        Log.info("GP posterior: Cholesky of the \(n) x \(n) kernel with noise variance (ridge) \(ridge), \(m) test "
                 + "points, \(k) output(s)")

        // α = K_z⁻¹ (Y − f₀): the mean and the likelihood's quadratic form.
        let residual = try targets.residual()
        let alpha = try Workspace(count: max(n * k, 1), for: "the dual coefficients")
        try factor.solve(residual.matrix(n, k).readOnly, into: alpha.matrix(n, k))
        var quadratic = 0.0
        for q in 0..<(n * k) { quadratic += residual.pointer[q] * alpha.pointer[q] }
        let logLikelihood = -0.5 * quadratic - 0.5 * Double(k) * factor.logDeterminant
            - 0.5 * Double(n * k) * log(2 * Double.pi)
        if let meanOut {
            try test.predict(alpha.matrix(n, k).readOnly,
                             into: MutableMatrixView(unchecked: meanOut, rows: m, cols: k, ld: max(k, 1)))
        }
        if let covOut, m > 0 {
            // W = L⁻¹ K(X, x'): n × m; cov = K(x, x') − Wᵀ W.
            let w = try Workspace(count: max(try Sizes.product(n, m, "the posterior factor"), 1),
                                  for: "the posterior factor")
            for i in 0..<n { for j in 0..<m { w.pointer[i * m + j] = test.kernel[j, i] } }
            try factor.solveLower(w.matrix(n, m))
            let out = MutableMatrixView(unchecked: covOut, rows: m, cols: m, ld: m)
            out.base.update(from: testCopy.pointer, count: m * m)
            try MatrixProduct.gemm(w.matrix(n, m).readOnly, transposeA: true, w.matrix(n, m).readOnly,
                                   alpha: -1, beta: 1, into: out)
            Symmetry.mirrorLowerToUpper(out.base, n: m, ld: m)
            try InputCheck.finiteResult(covOut, count: m * m, "the posterior covariance")
        }
        try progress.report(1)
        guard logLikelihood.isFinite else {
            throw NTKError.numericalFailure("the log marginal likelihood is \(logLikelihood)")
        }
        return logLikelihood
    }

    /// The posterior of `Matrix` values: mean (m × k), covariance (m × m) and the log marginal
    /// likelihood; `f0Train`/`f0Test` are the prior means (nil: 0).
    public static func posterior(kTrain: Matrix, y: Matrix, kTestTrain: Matrix, kTest: Matrix, ridge: Double = 0,
                                 f0Train: Matrix? = nil, f0Test: Matrix? = nil,
                                 progress: ProgressHandler = .none) throws -> (mean: Matrix, cov: Matrix,
                                                                               logMarginalLikelihood: Double) {
        let m = kTestTrain.rows, k = y.columns
        var mean = try Matrix(rows: m, cols: k)
        var cov = try Matrix(rows: m, cols: m)
        let value = try kTrain.withView { kv in
            try Targets.with(y, f0Train) { targets in
                try kTestTrain.withView { ktv in
                    try Matrix.withOptionalView(f0Test) { f0t in
                        try kTest.withView { kttv in
                            try mean.withMutableView { mv in
                                try cov.withMutableView { cv in
                                    try posterior(kTrain: kv, targets: targets,
                                                  test: try TestKernel(kernel: ktv, offsets: f0t),
                                                  kTest: kttv, ridge: ridge, meanOut: m * k > 0 ? mv.base : nil,
                                                  covOut: m > 0 ? cv.base : nil, progress: progress)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (mean, cov, value)
    }
}
