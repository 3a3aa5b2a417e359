/// Kernel ridge regression with offsets, fitted once by Cholesky (eq. 5, 21, 24 in docs/equations.md):
///
///     f(x) = f₀(x) + K(x, X) (K(X, X) + zI)⁻¹ (Y − f₀(X))
///
/// `f₀` are the network's outputs at initialisation (or after training, for boosting, eq. 24);
/// omit them for plain kernel ridge. The fitted object keeps the factor and the dual
/// coefficients `α = (K + zI)⁻¹ (Y − f₀)`, so any number of test kernels can be predicted.
///
/// - Ridge: `z ≥ 0` absolute, or with `ridgeRelative` a multiple of the mean diagonal of K
///   (scale-free: `z = ridge · tr(K)/n`).
/// - A kernel that is not positive definite (`K + zI`) throws `notPositiveDefinite`, unless
///   jitter is allowed: with `maxJitter > 0`, the fit retries with an extra diagonal jitter
///   `10⁻¹⁰, 10⁻⁹, … × mean diagonal` up to `maxJitter × mean diagonal`, and `jitter` reports
///   what was added (0 if none was needed). Each retry costs one factorization.
/// - Train predictions are `Y − (z + jitter) α`, which equals `f₀ + K α` exactly in exact
///   arithmetic and costs O(nk).
///
/// Immutable after creation; `predict` may run on several threads at once.
public final class KernelRidge: @unchecked Sendable {
    /// Number of training points.
    public let n: Int
    /// Number of outputs (columns of Y).
    public let outputs: Int
    /// The absolute ridge z (after relative scaling, before jitter).
    public let ridge: Double
    /// Extra diagonal jitter that made `K + (z + jitter) I` positive definite (0 if none).
    public let jitter: Double
    let factor: CholeskyFactorization
    /// α, n × outputs.
    let alpha: Workspace
    /// Train predictions, n × outputs.
    let trainPredictions: Workspace

    /// Fits the model to `kTrain` (n × n, symmetric) and `targets` (Y and f₀, n × k) with
    /// ridge z ≥ 0 (relative to the mean diagonal with `ridgeRelative`).
    /// - Throws: `invalidArgument`, `dimensionMismatch`, `nonFinite`, `notPositiveDefinite` (see
    ///   `maxJitter`), `outOfMemory`, `tooLarge`, `cancelled`.
    public convenience init(kTrain: MatrixView, targets: Targets, ridge: Double = 0,
                            ridgeRelative: Bool = false, maxJitter: Double = 0,
                            progress: ProgressHandler = .none) throws {
        try InputCheck.square(kTrain, "K_train")
        let n = kTrain.rows, k = targets.outputs
        try targets.requireRows(n, "K_train")
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be ≥ 0, got \(ridge)") }
        try InputCheck.finite(maxJitter, "max_jitter")
        guard maxJitter >= 0 else { throw NTKError.invalidArgument("max_jitter must be ≥ 0, got \(maxJitter)") }
        try InputCheck.finite(kTrain, "K_train")

        var trace = 0.0
        for i in 0..<n { trace += kTrain[i, i] }
        let meanDiagonal = n > 0 ? trace / Double(n) : 0
        let z = ridgeRelative ? ridge * max(meanDiagonal, 0) : ridge
        let scale = abs(meanDiagonal) > 0 ? abs(meanDiagonal) : 1

        // Factor K + zI, with jitter retries when allowed.
        var jitter = 0.0
        var factor: CholeskyFactorization
        while true {
            do {
                factor = try CholeskyFactorization(kTrain, ridge: z + jitter, progress: progress)
                break
            } catch let e as NTKError where e.kind == .notPositiveDefinite && maxJitter > 0 {
                let limit = maxJitter * scale
                if jitter >= limit {
                    throw NTKError.notPositiveDefinite(
                        "\(e.message); still not positive definite with the largest allowed jitter "
                            + "\(limit) (max_jitter × mean diagonal)")
                }
                jitter = jitter == 0 ? min(1e-10 * scale, limit) : min(jitter * 10, limit)
            }
        }

        if jitter > 0 {
            Log.warning("kernel ridge: K_train + ridge·I was not positive definite; added jitter "
                        + "\(jitter) (\(jitter / scale) × mean diagonal) to the diagonal")
        }
        Log.info("kernel ridge: Cholesky of the \(n) x \(n) kernel with ridge \(z + jitter), \(k) output(s); the "
                 + "factor takes \(Log.bytes(n * n * 8))")
        let alpha = try targets.residual()
        let train = try Workspace(count: max(try Sizes.product(n, k, "size of Y"), 1), for: "train predictions")
        try factor.solve(alpha.matrix(n, k).readOnly, into: alpha.matrix(n, k))
        try InputCheck.finiteResult(alpha.pointer, count: n * k, "the dual coefficients")
        let zTotal = z + jitter
        for i in 0..<n {
            for c in 0..<k { train.pointer[i * k + c] = targets.y[i, c] - zTotal * alpha.pointer[i * k + c] }
        }
        self.init(n: n, outputs: k, ridge: z, jitter: jitter, factor: factor, alpha: alpha, trainPredictions: train)
    }

    private init(n: Int, outputs: Int, ridge: Double, jitter: Double, factor: CholeskyFactorization,
         alpha: Workspace, trainPredictions: Workspace) {
        self.n = n
        self.outputs = outputs
        self.ridge = ridge
        self.jitter = jitter
        self.factor = factor
        self.alpha = alpha
        self.trainPredictions = trainPredictions
    }

    /// Test predictions `f₀_test + K_test_train α` (m × outputs) into `out`.
    /// - Throws: `dimensionMismatch`, `invalidArgument` (output overlapping an input),
    ///   `numericalFailure` (overflow).
    public func predict(test: TestKernel, into out: MutableMatrixView) throws {
        try test.require(trainRows: n, outputs: outputs)
        try test.predict(alpha.matrix(n, outputs).readOnly, into: out)
    }

    /// Copies the train predictions (n × outputs) into `out`.
    public func copyTrainPredictions(into out: MutableMatrixView) throws {
        try copy(trainPredictions, into: out, "train predictions")
    }

    /// Copies the dual coefficients α (n × outputs) into `out`.
    public func copyDualCoefficients(into out: MutableMatrixView) throws {
        try copy(alpha, into: out, "dual coefficients")
    }

    private func copy(_ source: Workspace, into out: MutableMatrixView, _ what: String) throws {
        guard out.rows == n, out.cols == outputs else {
            throw NTKError.dimensionMismatch("the \(what) output is \(out.rows) × \(out.cols) but must be \(n) × "
                                             + "\(outputs)")
        }
        for i in 0..<n { (out.base + i * out.ld).update(from: source.pointer + i * outputs, count: outputs) }
    }
}

extension KernelRidge {
    /// Fits a model from `Matrix` values; see `init(kTrain:targets:ridge:ridgeRelative:maxJitter:progress:)`.
    public static func fit(kTrain: Matrix, y: Matrix, f0Train: Matrix? = nil, ridge: Double = 0,
                           ridgeRelative: Bool = false, maxJitter: Double = 0,
                           progress: ProgressHandler = .none) throws -> KernelRidge {
        try kTrain.withView { k in
            try Targets.with(y, f0Train) { targets in
                try KernelRidge(kTrain: k, targets: targets, ridge: ridge, ridgeRelative: ridgeRelative,
                                maxJitter: maxJitter, progress: progress)
            }
        }
    }

    /// Test predictions `f₀_test + K_test_train α` as a new matrix.
    public func predict(kTestTrain: Matrix, f0Test: Matrix? = nil) throws -> Matrix {
        var out = try Matrix(rows: kTestTrain.rows, cols: outputs)
        try TestKernel.with(kTestTrain,
                            f0Test) { test in try out.withMutableView { try predict(test: test, into: $0) } }
        return out
    }

    /// Train predictions `f₀ + K α` (n × outputs).
    public func trainPredictionMatrix() throws -> Matrix {
        var out = try Matrix(rows: n, cols: outputs)
        try out.withMutableView { try copyTrainPredictions(into: $0) }
        return out
    }

    /// Dual coefficients α (n × outputs).
    public func dualCoefficientMatrix() throws -> Matrix {
        var out = try Matrix(rows: n, cols: outputs)
        try out.withMutableView { try copyDualCoefficients(into: $0) }
        return out
    }
}
