#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nyström kernel ridge regression and gradient flow (docs/equations.md, "Nyström and
/// Falkon"): kernel regression restricted to the span of c centres C, in O(n·c) memory.
///
/// With `K_nm = K(X, C)` (n × c), `K_mm = K(C, C) = L Lᵀ` (Cholesky; a tiny diagonal jitter is
/// added only if `K_mm` is numerically singular, reported in `jitter`), residual targets
/// `R = Y − f₀` (n × k) and the absolute ridge z, the model is `f(x) = f₀(x) + K(x, C) β` with
///
///     (K_mnK_nm + z K_mm) β = K_mn R,
///
/// the minimiser of `‖R − K_nm β‖² + z βᵀK_mm β`: kernel ridge regression with the Nyström
/// kernel `K̃ = K_nm K_mm⁻¹ K_mn` (with all n points as centres, exactly dense kernel ridge).
/// Two solvers:
/// - `.direct` forms `G = K_mnK_nm` and `K_mn R` in one pass over X (blocks of rows; DSYRK),
///   then the c × c eigendecomposition `M = L⁻¹ G L⁻ᵀ = U Λ Uᵀ` (the generalized eigenproblem
///   `G v = λ K_mm v`). `Φ = K_nm L⁻ᵀ` are the Nyström features (`K̃ = Φ Φᵀ`) and `Λ` the non-zero
///   eigenvalues of K̃, so every spectral filter of `SpectralFilter` applies with no more
///   passes: `β(g) = L⁻ᵀ U g(Λ) Uᵀ L⁻¹ K_mn R`, for ridge paths, GCV and gradient flow at any time
///   t (eq. 22 with K̃ in place of K), `t = ∞` included. Costs n·c kernel entries, n·c² flops
///   and O(m³).
/// - `.conjugateGradient` is Falkon (Rudi, Carratino, Rosasco 2017): CG on the system above,
///   preconditioned by `B = L⁻ᵀ A⁻ᵀ` with `A Aᵀ ≈ L⁻¹ K_mnK_nm L⁻ᵀ + z I`, so `BᵀHB ≈ I`: from s
///   evenly spaced rows of `K(X, C)` (`(n/s) FᵀF`, `F = K_sm L⁻ᵀ`; by default s = min(n, 16 c)),
///   or Falkon's original `(n/c) LᵀL` (`K_mnK_nm ≈ (n/c) K_mm²` for uniform centres), which
///   slowly decaying spectra make poor (`FalkonPreconditioner`). Each iteration applies `K_nm`
///   and `K_mn` once: 4·n·c·k flops when `K_nm` is cached (when it fits the memory budget), else
///   one pass that recomputes its blocks. Stops when the relative residual of the preconditioned system falls
///   below `tolerance` for every output, or after `maxIterations` (then `converged` is false
///   and a warning is logged: the result is the last iterate). One ridge per fit.
///
/// Memory: the `.direct` solver keeps 5 c² doubles (L, G/M, eigenvectors, DSYEVD's workspace)
/// and the CG solver 2 c²; blocks of `K(X, C)` rows fill the rest of the memory budget
/// (`MemoryBudget`). A budget too small for the c² part throws `outOfMemory` before any work.
///
/// Immutable after fitting; predictions may run on several threads at once.
public final class NystromRidge: @unchecked Sendable {
    /// How the Nyström system is solved.
    public enum Solver: Sendable, Equatable {
        case direct
        case conjugateGradient
    }

    /// Fitting options.
    public struct Options: Sendable {
        public var solver: Solver = .direct
        /// CG: relative residual at which to stop (> 0).
        public var tolerance: Double = 1e-8
        /// CG: the iteration cap (≥ 1).
        public var maxIterations: Int = 100
        /// CG: use the Falkon preconditioner (false: plain CG, for comparison).
        public var preconditioned: Bool = true
        /// CG: the rows of `K(X, C)` that build the preconditioner (`FalkonPreconditioner`): s
        /// evenly spaced rows give `(n/s) K_smᵀK_sm + z K_mm` for the normal matrix; nil: min(n,
        /// 16 c); 0: the centres themselves (Falkon's original `(n/c) K_mm²`, no extra kernel rows).
        public var preconditionerRows: Int? = nil
        /// Bytes of working memory (nil: the process-wide `MemoryBudget`).
        public var memoryLimit: Int? = nil
        /// The rows are one part of a data set split over processes (nil: they are all of it).
        /// The centres must then be the same points on every part; the model is the one fitted
        /// on all the rows, on every part (n is the total).
        public var partition: DataPartition? = nil
        public init() {}

        /// The CG stopping rule. - Throws: `invalidArgument` for a bad tolerance, cap or
        /// preconditioner row count.
        func settings() throws -> ConjugateGradient.Settings {
            if let rows = preconditionerRows, rows < 0 {
                throw NTKError.invalidArgument("the preconditioner's rows must be >= 0 (0: the centres), got \(rows)")
            }
            return try ConjugateGradient.Settings(tolerance: tolerance, maxIterations: maxIterations)
        }
    }

    /// n, the number of training points (over all parts of a partition).
    public let n: Int
    /// c, the number of centres.
    public let centerCount: Int
    /// k, the number of outputs.
    public let outputs: Int
    /// The absolute ridge z of the fit.
    public let ridge: Double
    /// Diagonal jitter added to `K_mm` before its Cholesky factorization (0 if none was needed).
    public let jitter: Double
    /// The solver used.
    public let solver: Solver
    /// CG iterations run (0 for `.direct`).
    public let iterations: Int
    /// CG: the largest relative residual over outputs after each iteration (empty for `.direct`).
    public let residuals: [Double]
    /// Whether CG reached the tolerance (true for `.direct`).
    public let converged: Bool
    /// Whether the fit kept `K(X, C)` in memory (CG within the budget).
    public let cachedCrossKernel: Bool
    /// The kernel and the centres' points, for models fitted on points (nil for a stored
    /// cross-kernel: predictions then take the caller's `K(X_test, C)`).
    public let kernel: PointKernel?
    /// The indices of the centres among the training points (empty for a stored cross-kernel).
    public let centerIndices: [Int]
    let centerPoints: Workspace?

    /// L, lower triangular with zeros above (c × c).
    let factor: Workspace
    /// β of the fitted ridge (c × k).
    let coefficients: Workspace
    /// `.direct` only: the spectrum of the Nyström kernel K̃ (eigenvalues of M, ascending, ≥ 0,
    /// numerically zero ones set to 0; the targets in K̃'s eigenbasis; ‖R‖² outside the span of
    /// the features Φ), the eigenvectors U of M (c × c) and the projected targets
    /// `q = Uᵀ L⁻¹ K_mn R` (c × k).
    let direct: DirectSolution?

    struct DirectSolution {
        let spectrum: Spectrum
        let vectors: Workspace
        let projected: Workspace
    }

    // MARK: fitting

    /// Fits on a cross-kernel (`K(X, C)`, n × c, stored or computed) and the centres' kernel
    /// `kCenters` (c × c, symmetric positive semi-definite).
    /// - Throws: `invalidArgument` (ridge, options), `dimensionMismatch`, `nonFinite`,
    ///   `notPositiveDefinite` (`K_mm` singular beyond jitter 1e-6 × mean diagonal),
    ///   `outOfMemory` (before any work), `tooLarge`, `cancelled`.
    public convenience init(cross: CrossKernel, kCenters: MatrixView, targets: Targets, ridge: Double,
                            options: Options = Options(), progress: ProgressHandler = .none) throws {
        try self.init(cross: cross, kCenters: kCenters, targets: targets, ridge: ridge, options: options,
                      kernel: nil, centerIndices: [], centerPoints: nil, progress: progress)
    }

    /// Chooses c centres among the rows of `x` (n × d), then fits on `K(X, C)` of `kernel`,
    /// computed block by block (never n × n). Progress: centre selection, then the fit.

    static func check(ridge: Double, options: Options) throws {
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be >= 0, got \(ridge)") }
        _ = try options.settings()
    }

    /// Bytes a fit needs besides cached kernel rows: the c × c matrices, the c × k vectors and
    /// one block of `blockRows` kernel rows.
    static func fixedBytes(c: Int, k: Int, solver: Solver, blockRows: Int) throws -> Int {
        let squares = solver == .direct ? 5 : 2
        let matrices = try Sizes.product(try Sizes.product(c, c, "c²"), squares, "c² matrices")
        let vectors = try Sizes.product(try Sizes.product(c, max(k, 1), "c·k"), 8, "CG vectors")
        let block = try Sizes.product(blockRows, c + max(k, 1), "kernel block")
        return try Sizes.product(try Sizes.sum(try Sizes.sum(matrices, vectors, "working set"), block, "working set"),
                                 8, "bytes")
    }

    /// How the rows of `K(X, C)` are visited: cached whole for CG when they fit the budget,
    /// else in blocks that fill it, up to `maximumBlockRows`. - Throws: `outOfMemory` when the
    /// fixed part does not fit.
    private static func passLayout(cross: CrossKernel, k: Int, options: Options) throws
        -> (cache: Bool, blockRows: Int, budget: Int, crossBytes: Int) {
        let n = cross.rows, c = cross.columns
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let minimum = try Self.fixedBytes(c: c, k: k, solver: options.solver, blockRows: min(n, 64))
        try MemoryBudget.require(minimum, within: budget, for: "a Nyström fit with \(c) centres")
        let rowBytes = try Sizes.product(c + k, 8, "row bytes")
        let crossBytes = try Sizes.product(n, rowBytes, "cross-kernel bytes")
        let cache = options.solver == .conjugateGradient && cross.computesBlocks && minimum + crossBytes <= budget
        return (cache, max(1, min(n, maximumBlockRows, max(64, (budget - minimum) / rowBytes))), budget, crossBytes)
    }

    /// The largest block of kernel rows a pass computes at once. Each block alternates our own
    /// threads (the kernel's tiles) with OpenBLAS's (the Gram, then `K_bᵀK_b`); after each BLAS
    /// call OpenBLAS's idle thread spins for up to ~0.1 s (its THREAD_TIMEOUT), taking a core
    /// from the tiles. Blocks of 16,384 rows make each kernel phase several times that long:
    /// n = 2·10⁵, c = 2048, 2 cores: 15.2 s with 4096-row blocks, 13.9 s with these (medians of
    /// three alternating runs), for 268 MB of block instead of 67 MB.
    static let maximumBlockRows = 16_384

    init(cross: CrossKernel, kCenters: MatrixView, targets: Targets, ridge: Double, options: Options,
         kernel: PointKernel?, centerIndices: [Int], centerPoints: Workspace?, progress: ProgressHandler) throws {
        let n = cross.rows, c = cross.columns, k = targets.outputs
        guard targets.rows == n else {
            throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but K_nm has \(n)")
        }
        guard kCenters.rows == c, kCenters.cols == c else {
            throw NTKError.dimensionMismatch("K_mm is \(kCenters.rows) × \(kCenters.cols) but K_nm has \(c) columns")
        }
        guard c >= 1 else { throw NTKError.invalidArgument("the number of centres must be >= 1") }
        try Self.check(ridge: ridge, options: options)
        _ = try Sizes.blasInt(n, "n")
        _ = try Sizes.blasInt(c, "the number of centres")
        let layout = try Self.passLayout(cross: cross, k: k, options: options)
        try progress.report(0)
        // L: the Cholesky factor of K_mm (+ jitter).
        let (factor, jitter) = try Self.centerFactor(kCenters)
        let method = options.solver == .direct ? "direct (normal equations + eigendecomposition)"
            : "\(options.preconditioned ? "Falkon-preconditioned" : "unpreconditioned") CG"
        let rows = layout.cache ? "cached (\(Log.bytes(layout.crossBytes)))" : "in blocks of \(layout.blockRows)"
        Log.info("Nyström: \(n) points, \(c) centres, \(k) output(s), ridge \(ridge), \(method); kernel rows "
                 + "\(rows)\(cross.computesBlocks ? " computed per pass" : "") within a budget of "
                     + "\(Log.bytes(layout.budget))"
                 + (jitter > 0 ? "; jitter \(jitter) added to K_mm" : ""))
        let residual = try targets.residual()
        let r = residual.matrix(n, k).readOnly
        let pass = try CrossKernelPass(cross: cross, blockRows: layout.blockRows, cache: layout.cache,
                                       progress: progress)
        // n over all parts of a partition (the local n without one).
        let total = Int(try options.partition.total(Double(n)))
        self.n = total
        self.centerCount = c
        self.outputs = k
        self.ridge = ridge
        self.jitter = jitter
        self.solver = options.solver
        self.kernel = kernel
        self.centerIndices = centerIndices
        self.centerPoints = centerPoints
        self.factor = factor
        self.cachedCrossKernel = layout.cache
        self.coefficients = try Workspace(count: try Sizes.product(c, max(k, 1), "coefficients"),
                                          for: "the coefficients")
        switch options.solver {
        case .direct:
            let direct = try Self.directSolution(pass: pass, totalRows: total, factor: factor, residual: r,
                                                 partition: options.partition, progress: progress)
            self.direct = direct
            (self.iterations, self.residuals, self.converged) = (0, [], true)
            let filter = try SpectralFilter(time: .infinity, ridge: ridge, learningRate: 1, nTargets: max(total * k, 1))
            try Self.filteredCoefficients(direct, factor: factor, filters: [filter], into: coefficients.matrix(c, k))
        case .conjugateGradient:
            self.direct = nil
            let outcome = try Self.falkon(pass: pass, totalRows: total, factor: factor, residual: r, ridge: ridge,
                                          options: options, into: coefficients.matrix(c, k), progress: progress)
            (self.iterations, self.residuals, self.converged) = (outcome.iterations, outcome.residuals,
                                                                 outcome.converged)
        }
        try InputCheck.finiteResult(coefficients.pointer, count: c * k, "the Nyström coefficients")
        try progress.report(1)
    }
}
