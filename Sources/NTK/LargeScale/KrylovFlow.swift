#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBLAS

/// Gradient flow with MSE under the empirical NTK at large n by Lanczos (eq. 18–20 without
/// the n × n kernel): with R = Y − f₀, N = n·t target entries and s = η·time/N,
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
public enum KrylovFlow {
    public struct Options: Sendable {
        public var learningRate: Double = 1
        public var tolerance: Double = 1e-10
        public var maxIterations: Int = 300
        public var memoryLimit: Int? = nil
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

    /// Predictions at every time into `trainOut` (times × n × t, contiguous) and, with `test`,
    /// `testOut` (times × m × t); either may be nil.
    /// - Throws: `invalidArgument` (times not finite and ≥ 0, options), `dimensionMismatch`,
    ///   `nonFinite`, `outOfMemory`, `numericalFailure`, `cancelled`.
    public static func predict(mlp: MLP, x: MatrixView, targets: Targets, times: [Double], options: Options = Options(),
                               test: MatrixView? = nil, testOffsets: MatrixView? = nil,
                               trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                               progress: ProgressHandler = .none) throws -> Diagnostics {
        let a = mlp.architecture
        try mlp.checkInput(x, "X")
        let n = x.rows, t = targets.outputs
        guard targets.rows == n else { throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(n)") }
        for time in times where !(time.isFinite && time >= 0) {
            throw NTKError.invalidArgument("times must be finite and >= 0 (t = inf is kernel ridge: use the empirical NTK ridge solver), got \(time)")
        }
        try InputCheck.finite(options.learningRate, "learning_rate")
        guard options.learningRate > 0 else { throw NTKError.invalidArgument("learning_rate must be > 0, got \(options.learningRate)") }
        try InputCheck.finite(options.tolerance, "tolerance")
        guard options.tolerance > 0 else { throw NTKError.invalidArgument("tolerance must be > 0, got \(options.tolerance)") }
        guard options.maxIterations >= 1 else { throw NTKError.invalidArgument("max_iter must be >= 1, got \(options.maxIterations)") }
        if let test { guard test.cols == a.inputDimension else {
            throw NTKError.dimensionMismatch("X_test has \(test.cols) columns but the input dimension is \(a.inputDimension)")
        } }
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let steps = min(options.maxIterations, max(n, 1))
        let basisBytes = try Sizes.product(try Sizes.product(steps + 1, max(n, 1), "Lanczos basis"), 8, "bytes")
        try MemoryBudget.require(basisBytes, within: budget, for: "a Lanczos basis of \(steps + 1) vectors of \(n)")
        try progress.report(0)
        let op = try EmpiricalNTKOperator(mlp, x: x, budget: budget - basisBytes)
        let length = EmpiricalNTKOperator.vectorLength(a)
        let g = try Workspace(count: try Sizes.product(a.outputDimension, length, "parameter vector"), for: "parameter-space vectors")
        let scratch = try Workspace(count: op.scratchCount, for: "kernel product scratch")
        let residual = try targets.residual()
        let count = times.count
        let scaled = times.map { options.learningRate * $0 / Double(max(n * t, 1)) }
        // Per column: the φ-coefficient vectors Q φ(T) e₁ ‖r‖ (n × count) for the test side.
        let phi = try Workspace(count: try Sizes.product(try Sizes.product(n, max(count, 1), "n·times"), max(t, 1), "size"),
                                for: "the flow coefficients")
        let basis = try Workspace(count: (steps + 1) * max(n, 1), for: "the Lanczos basis")
        let w = try Workspace(count: max(n, 1), for: "a Lanczos vector")
        var iterations: [Int] = []
        var worst = 0.0
        var allConverged = true
        Log.info("Krylov flow: \(n) points, \(t) column(s), \(count) time(s), up to \(steps) Lanczos steps per column, tolerance \(options.tolerance)")
        for c in 0..<t {
            // r = column c of R.
            var beta0 = 0.0
            for i in 0..<n { beta0 += residual.pointer[i * t + c] * residual.pointer[i * t + c] }
            beta0 = beta0.squareRoot()
            var alphas: [Double] = [], betas: [Double] = []
            var previous: [[Double]] = []
            var change = Double.infinity
            var j = 0
            var invariant = beta0 == 0
            if !invariant { for i in 0..<n { basis.pointer[i] = residual.pointer[i * t + c] / beta0 } }
            var coefficients: (e: [[Double]], phi: [[Double]]) = ([], [])
            while !invariant && j < steps {
                let qj = basis.pointer + j * n
                try op.apply(MatrixView(unchecked: UnsafePointer(qj), rows: n, cols: 1, ld: 1),
                             into: MutableMatrixView(unchecked: w.pointer, rows: n, cols: 1, ld: 1), g: g, scratch: scratch)
                let alpha = cblas_ddot(Int32(n), qj, 1, w.pointer, 1)
                // Full reorthogonalisation (twice is enough): w ← w − Q (Qᵀ w).
                for _ in 0..<2 {
                    let span = j + 1
                    var h = [Double](repeating: 0, count: span)
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(span), Int32(n), 1, basis.pointer, Int32(n), w.pointer, 1, 0, &h, 1)
                    cblas_dgemv(CblasRowMajor, CblasTrans, Int32(span), Int32(n), -1, basis.pointer, Int32(n), h, 1, 1, w.pointer, 1)
                }
                let beta = cblas_dnrm2(Int32(n), w.pointer, 1)
                alphas.append(alpha)
                j += 1
                invariant = beta <= 1e-13 * max(abs(alpha), alphas.map(abs).max() ?? 0) || j == n
                if !invariant {
                    betas.append(beta)
                    let next = basis.pointer + j * n
                    for i in 0..<n { next[i] = w.pointer[i] / beta }
                }
                if invariant || j % checkEvery == 0 || j == steps {
                    coefficients = try smallFunctions(alphas, Array(betas.prefix(j - 1)), scaled: scaled, norm: beta0)
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
                    if change <= options.tolerance { break }
                }
                try progress.report(0.9 * (Double(c) + Double(j) / Double(steps)) / Double(max(t, 1)))
            }
            if beta0 > 0 && coefficients.e.isEmpty {
                coefficients = try smallFunctions(alphas, Array(betas.prefix(max(j - 1, 0))), scaled: scaled, norm: beta0)
            }
            let converged = invariant || change <= options.tolerance
            allConverged = allConverged && converged
            worst = max(worst, invariant ? 0 : change)
            iterations.append(j)
            // Train: f₀ + r − Q e^{−sT} e₁ β₀; test coefficients Q φ(T) e₁ β₀.
            for (f, _) in times.enumerated() {
                for i in 0..<n {
                    var e = 0.0, p = 0.0
                    for k in 0..<j {
                        let q = basis.pointer[k * n + i]
                        e += q * (coefficients.e.isEmpty ? 0 : coefficients.e[f][k])
                        p += q * (coefficients.phi.isEmpty ? 0 : coefficients.phi[f][k])
                    }
                    phi.pointer[i * count * t + f * t + c] = p
                    if let trainOut {
                        trainOut[(f * n + i) * t + c] = targets.y[i, c] - e
                    }
                }
            }
        }
        if !allConverged {
            Log.warning("Krylov flow: the Lanczos approximation did not settle within \(steps) steps (relative change \(worst) > tolerance \(options.tolerance))")
        }
        if let trainOut { try InputCheck.finiteResult(trainOut, count: count * n * t, "the train predictions") }
        if let test, let testOut {
            // K(x, X) φ(K) R = (1/k) Σ_c J_c(x) J_c(X)ᵀ (Q φ(T) e₁ β₀), every time and column at once.
            let width = count * t
            let transposed = try Workspace(count: try Sizes.product(try Sizes.product(a.outputDimension, max(width, 1), "k·t"), length, "parameter vectors"),
                                           for: "J(X)ᵀ of the flow coefficients")
            try op.transpose(MatrixView(unchecked: UnsafePointer(phi.pointer), rows: n, cols: width, ld: max(width, 1)),
                             into: transposed, scratch: scratch)
            // Predictions come out as m × (times·t); reorder into times × m × t with the offsets.
            let m = test.rows
            let flat = try Workspace(count: max(try Sizes.product(m, width, "test predictions"), 1), for: "test predictions")
            try EmpiricalNTKRidge.predict(a, op.theta, transposed: transposed, columns: width, x: test, offsets: nil, count: 1,
                                          into: flat.pointer, ld: max(width, 1), shape: flat.matrix(m, width),
                                          progress: progress.stage(0.9, 1))
            if let testOffsets, testOffsets.rows != m || testOffsets.cols != t {
                throw NTKError.dimensionMismatch("f0_test is \(testOffsets.rows) × \(testOffsets.cols) but must be \(m) × \(t)")
            }
            for f in 0..<count {
                for i in 0..<m {
                    for c in 0..<t { testOut[(f * m + i) * t + c] = flat.pointer[i * width + f * t + c] + (testOffsets?[i, c] ?? 0) }
                }
            }
        }
        try progress.report(1)
        return Diagnostics(iterations: iterations, errorEstimate: worst, converged: allConverged)
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
