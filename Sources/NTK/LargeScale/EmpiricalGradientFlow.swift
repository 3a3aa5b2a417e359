#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gradient flow with MSE under the empirical NTK at large n by Lanczos (eq. 18–20 without
/// the n × n kernel): with R = Y − f₀, N = n·k target entries and s = η·time/N,
///
///     f_train(time) = f₀ + R − e^{−sK} R,      f_test(time) = f₀(x) + K(x, X) φ_s(K) R,
///     φ_s(λ) = (1 − e^{−sλ})/λ   (= s at λ = 0).
///
/// For each column of R, j steps of Lanczos with full reorthogonalisation give an orthonormal
/// basis Q_j of the Krylov space and the tridiagonal T_j = Q_jᵀ K Q_j; then
/// `g(K) r ≈ ‖r‖ Q_j g(T_j) e₁` for both functions and every time at once (one eigendecomposition
/// of the small T_j). Every `checkEvery` steps the approximations are compared with the previous
/// ones; the iteration stops when the largest relative change over times, functions and columns
/// is below `tolerance` (the reported `errorEstimate`), when the Krylov space is invariant
/// (β_j ≈ 0: the result is exact), or after `maxIterations` steps (a warning is logged). Each step
/// is one NTK–vector product (`EmpiricalNTKOperator`); memory (j + 1)·n doubles per column.
/// Finite times only: t = ∞ is kernel regression, `EmpiricalNTKRidge`.
///
/// With a data partition (`Options.partition`) the training rows are one part of the data: the
/// Lanczos vectors are split by rows like the data (each part keeps its rows of the basis), each
/// product sums J(X)ᵀq over the parts, each inner product is summed (four reductions per step,
/// see `Lanczos`), N counts every part's rows, and the test side sums J(X)ᵀΦ once — every part
/// ends with its own rows' train predictions and the full model's predictions at its test points
/// (every part asks for test predictions or none does: that sum is a reduction).
public enum EmpiricalGradientFlow {
    public struct Options: Sendable {
        public var learningRate: Double = 1
        public var tolerance: Double = 1e-10
        public var maxIterations: Int = 300
        public var memoryLimit: Int? = nil
        /// The training rows are one part of the data (nil: all of it); see the type's notes.
        public var partition: DataPartition? = nil
        public init() {}
    }

    /// What the flow reports besides its predictions.
    public struct Diagnostics: Sendable {
        /// Lanczos steps per target column.
        public let iterations: [Int]
        /// The largest relative change of the last check (0 when the space became invariant).
        public let errorEstimate: Double
        /// Whether every column met the tolerance.
        public let converged: Bool
    }

    static let checkEvery = 5

    /// Predictions at every time into `trainOut` (times × n × k, contiguous) and, with `test`,
    /// `testOut` (times × m × k); either may be nil.
    /// - Throws: `invalidArgument` (times not finite and ≥ 0, options), `dimensionMismatch`,
    ///   `nonFinite`, `outOfMemory`, `numericalFailure`, `cancelled`.
    public static func predict(mlp: MLP, x: MatrixView, targets: Targets, times: [Double], options: Options = Options(),
                               test: MatrixView? = nil, testOffsets: MatrixView? = nil,
                               trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                               progress: ProgressHandler = .none) throws -> Diagnostics {
        if let test, test.cols != mlp.architecture.inputDimension {
            throw NTKError.dimensionMismatch("X_test has \(test.cols) columns but the input dimension is "
                                             + "\(mlp.architecture.inputDimension)")
        }
        return try predict(.network(mlp, x), targets: targets, times: times, options: options,
                           test: test.map { .inputs($0) }, testOffsets: testOffsets, trainOut: trainOut,
                           testOut: testOut, progress: progress)
    }

    /// The flow under the empirical NTK of a layered `network` on the rows of `x` (test
    /// predictions at the inputs `test`), as `predict(mlp:…)`.
    public static func predict(network: Network, x: MatrixView, targets: Targets, times: [Double],
                               options: Options = Options(), test: MatrixView? = nil, testOffsets: MatrixView? = nil,
                               trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                               progress: ProgressHandler = .none) throws -> Diagnostics {
        if let test { try network.checkInput(test, "X_test") }
        return try predict(.layered(network.frozen(), x), targets: targets, times: times, options: options,
                           test: test.map { .inputs($0) }, testOffsets: testOffsets, trainOut: trainOut,
                           testOut: testOut, progress: progress)
    }

    /// The flow under the tangent kernel of `model` on the caller's data rows `rows`, test
    /// predictions at the rows `testRows` (indices the model understands).
    public static func predict(model: TangentModel, rows: [Int], targets: Targets, times: [Double],
                               options: Options = Options(), testRows: [Int]? = nil, testOffsets: MatrixView? = nil,
                               trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                               progress: ProgressHandler = .none) throws -> Diagnostics {
        try predict(.model(model, rows), targets: targets, times: times, options: options,
                    test: testRows.map { .rows($0) }, testOffsets: testOffsets, trainOut: trainOut, testOut: testOut,
                    progress: progress)
    }

    static func predict(_ source: TangentSource, targets: Targets, times: [Double], options: Options,
                        test: TangentTestPoints?, testOffsets: MatrixView?,
                        trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                        progress: ProgressHandler) throws -> Diagnostics {
        try validate(source, targets: targets, times: times, options: options, test: test, testOffsets: testOffsets)
        let n = source.n, k = targets.outputs, count = times.count, partition = options.partition
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let total = Int(try partition.total(Double(n)))
        let steps = min(options.maxIterations, max(total, 1))
        let basisBytes = try Sizes.product(try Sizes.product(steps + 1, max(n, 1), "Lanczos basis"), 8, "bytes")
        try MemoryBudget.require(basisBytes, within: budget, for: "a Lanczos basis of \(steps + 1) vectors of \(n)")
        try progress.report(0)
        let op = try source.makeOperator(budget: budget - basisBytes)
        let g = try op.parameterVectors(columns: 1, for: "parameter-space vectors")
        let lanczos = try Lanczos(order: n, partition: partition) { q, w in
            try op.apply(MatrixView(unchecked: q, rows: n, cols: 1, ld: 1),
                         into: MutableMatrixView(unchecked: w, rows: n, cols: 1, ld: 1), g: g, partition: partition)
        }
        let residual = try targets.residual()
        let scaled = times.map { options.learningRate * $0 / Double(max(total * k, 1)) }
        // Per column: the φ-coefficient vectors Q φ(T) e₁ ‖r‖ (n × count) for the test side.
        let phi = try Workspace(count: try Sizes.product(try Sizes.product(n, max(count, 1), "n·times"), max(k, 1),
                                                         "size"),
                                for: "the flow coefficients")
        let basis = try Workspace(count: (steps + 1) * max(n, 1), for: "the Lanczos basis")
        let column = try Workspace(count: max(n, 1), for: "a target column")
        defer { withExtendedLifetime((phi, basis, column, g)) {} }
        var iterations: [Int] = [], worst = 0.0, allConverged = true
        let here = partition == nil ? "" : " (\(n) in this part)"
        Log.info("empirical gradient flow: \(total) points\(here), \(k) column(s), \(count) time(s), up to \(steps) "
                 + "Lanczos steps per column, tolerance \(options.tolerance)")
        for c in 0..<k {
            for i in 0..<n { column.pointer[i] = residual.pointer[i * k + c] }
            let flow = try flowColumn(lanczos, start: column.pointer, basis: basis.pointer, scaled: scaled,
                                      steps: steps,
                                      tolerance: options.tolerance) { j in
                try progress.report(0.9 * (Double(c) + Double(j) / Double(steps)) / Double(max(k, 1)))
            }
            allConverged = allConverged && flow.converged
            worst = max(worst, flow.change)
            iterations.append(flow.steps)
            // Train: f₀ + r − Q e^{−sT} e₁ β₀ = Y − Q e^{−sT} e₁ β₀; test coefficients Q φ(T) e₁ β₀.
            for f in 0..<count {
                for i in 0..<n {
                    var e = 0.0, p = 0.0
                    for j in 0..<flow.steps {
                        let q = basis.pointer[j * n + i]
                        e += q * (flow.e.isEmpty ? 0 : flow.e[f][j])
                        p += q * (flow.phi.isEmpty ? 0 : flow.phi[f][j])
                    }
                    phi.pointer[i * count * k + f * k + c] = p
                    trainOut?[(f * n + i) * k + c] = targets.y[i, c] - e
                }
            }
        }
        if !allConverged {
            Log.warning("empirical gradient flow: the Lanczos approximation did not settle within \(steps) steps "
                        + "(relative change \(worst) > tolerance \(options.tolerance))")
        }
        if let trainOut { try InputCheck.finiteResult(trainOut, count: count * n * k, "the train predictions") }
        if let test, let testOut {
            try testPredictions(op, coefficients: phi.matrix(n, count * k).readOnly, times: count, at: test,
                                offsets: testOffsets, partition: partition, into: testOut,
                                progress: progress.stage(0.9, 1))
        }
        try progress.report(1)
        return Diagnostics(iterations: iterations, errorEstimate: worst, converged: allConverged)
    }

    /// Throws unless the inputs and options are valid (see `predict`).
    private static func validate(_ source: TangentSource, targets: Targets, times: [Double], options: Options,
                                 test: TangentTestPoints?, testOffsets: MatrixView?) throws {
        try source.check()
        guard targets.rows == source.n else {
            throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(source.n)")
        }
        for time in times where !(time.isFinite && time >= 0) {
            throw NTKError.invalidArgument(
                "times must be finite and >= 0 (t = inf is kernel ridge: use the empirical NTK ridge solver), got "
                    + "\(time)")
        }
        try InputCheck.finite(options.learningRate, "learning rate")
        guard options.learningRate > 0 else {
            throw NTKError.invalidArgument("the learning rate must be > 0, got \(options.learningRate)")
        }
        _ = try ConjugateGradient.Settings(tolerance: options.tolerance, maxIterations: options.maxIterations)
        if let test, case .rows(let rows) = test { try TangentModelCheck.rows(rows, "test rows") }
        if let test, let testOffsets, testOffsets.rows != test.count || testOffsets.cols != targets.outputs {
            throw NTKError.dimensionMismatch(
                "f0_test is \(testOffsets.rows) × \(testOffsets.cols) but must be \(test.count) × \(targets.outputs)")
        }
    }

    /// One target column's flow: Lanczos from r, checked every `checkEvery` steps by the largest
    /// relative change of the small-matrix functions over times and both functions.
    private static func flowColumn(_ lanczos: Lanczos, start: UnsafePointer<Double>,
                                   basis: UnsafeMutablePointer<Double>,
                                   scaled: [Double], steps: Int, tolerance: Double,
                                   afterStep: (Int) throws -> Void) throws
        -> (e: [[Double]], phi: [[Double]], steps: Int, change: Double, converged: Bool) {
        let norm = try lanczos.norm(start)
        var previous: [[Double]] = []
        var change = Double.infinity
        var coefficients: (e: [[Double]], phi: [[Double]]) = ([], [])
        let recurrence = try lanczos.run(start: start, basis: basis, maxSteps: steps, checkEvery: checkEvery,
                                         check: { r in
            coefficients = try smallFunctions(r.alphas, Array(r.betas.prefix(r.steps - 1)), scaled: scaled, norm: norm)
            let current = coefficients.e + coefficients.phi
            if !previous.isEmpty {
                change = 0
                for (new, old) in zip(current, previous) {
                    var difference = 0.0, size = 0.0
                    for (i, v) in new.enumerated() {
                        let o = i < old.count ? old[i] : 0
                        difference += (v - o) * (v - o)
                        size += v * v
                    }
                    change = max(change, size > 0 ? (difference / size).squareRoot() : difference.squareRoot())
                }
            }
            previous = current
            return change <= tolerance
        }, afterStep: afterStep)
        let j = recurrence.steps
        if norm > 0 && coefficients.e.isEmpty {
            coefficients = try smallFunctions(recurrence.alphas, Array(recurrence.betas.prefix(max(j - 1, 0))),
                                              scaled: scaled,
                                              norm: norm)
        }
        let converged = recurrence.invariant || change <= tolerance
        return (coefficients.e, coefficients.phi, j, recurrence.invariant ? 0 : change, converged)
    }

    /// Test predictions `f₀(x) + K(x, X) φ(K) R` for every time: `(1/k′) Σ_c J_c(x) J_c(X)ᵀ Φ`
    /// (k′ network outputs) with Φ the flow coefficients (n × times·k), reordered into times × m × k;
    /// J(X)ᵀΦ summed over the parts of a partition.
    private static func testPredictions(_ op: TangentOperator, coefficients: MatrixView, times count: Int,
                                        at test: TangentTestPoints, offsets: MatrixView?, partition: DataPartition?,
                                        into out: UnsafeMutablePointer<Double>, progress: ProgressHandler) throws {
        let width = coefficients.cols, k = width / max(count, 1), m = test.count
        let transposed = try op.parameterVectors(columns: width, for: "J(X)ᵀ of the flow coefficients")
        try op.transpose(coefficients, into: transposed.pointer)
        try partition.sum(transposed.pointer, width * op.transposedLength)
        let flat = try Workspace(count: max(try Sizes.product(m, width, "test predictions"), 1),
                                 for: "test predictions")
        try EmpiricalNTKRidge.predict(op.predictor, transposed: transposed.pointer, columns: width, at: test,
                                      offsets: nil, into: flat.matrix(m, width), progress: progress)
        for f in 0..<count {
            for i in 0..<m {
                for c in 0..<k {
                    out[(f * m + i) * k + c] = flat.pointer[i * width + f * k + c] + (offsets?[i, c] ?? 0)
                }
            }
        }
    }

    /// ‖r‖ · S g(Θ) Sᵀ e₁ for g = e^{−s·} and φ_s, each time s, from the tridiagonal matrix with
    /// diagonal `alphas` and off-diagonal `betas` (eigenvalues clamped at 0: K is PSD).
    static func smallFunctions(_ alphas: [Double], _ betas: [Double], scaled: [Double], norm: Double) throws
        -> (e: [[Double]], phi: [[Double]]) {
        let j = alphas.count
        var tri = try Matrix(rows: j, cols: j)
        for i in 0..<j {
            tri[i, i] = alphas[i]
            if i + 1 < j, i < betas.count {
                tri[i, i + 1] = betas[i]
                tri[i + 1, i] = betas[i]
            }
        }
        let (values, vectors) = try tri.withView { view -> ([Double], Matrix) in
            var w = [Double](repeating: 0, count: j)
            var v = try Matrix(rows: j, cols: j)
            try w.withUnsafeMutableBufferPointer { buffer in
                try v.withMutableView { try SymmetricEigen.compute(view, values: buffer.baseAddress!, vectors: $0) }
            }
            return (w, v)
        }
        var e: [[Double]] = [], phi: [[Double]] = []
        for s in scaled {
            var ce = [Double](repeating: 0, count: j), cp = [Double](repeating: 0, count: j)
            for k in 0..<j {
                let lambda = max(values[k], 0)
                let weight = vectors[0, k] * norm
                let fe = exp(-s * lambda), fp = lambda > 0 ? -expm1(-s * lambda) / lambda : s
                for i in 0..<j {
                    ce[i] += vectors[i, k] * fe * weight
                    cp[i] += vectors[i, k] * fp * weight
                }
            }
            e.append(ce)
            phi.append(cp)
        }
        return (e, phi)
    }
}
