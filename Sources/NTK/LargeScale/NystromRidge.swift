#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBLAS

/// Nyström kernel ridge regression and gradient flow (docs/equations.md, "Nyström and
/// Falkon"): kernel regression restricted to the span of m centres C, in O(n·m) memory.
///
/// With `K_nm = K(X, C)` (n × m), `K_mm = K(C, C) = L Lᵀ` (Cholesky; a tiny diagonal jitter is
/// added only if `K_mm` is numerically singular, reported in `jitter`), residual targets
/// `R = Y − f₀` (n × k) and the absolute ridge z, the model is `f(x) = f₀(x) + K(x, C) β` with
///
///     (K_mnK_nm + z K_mm) β = K_mn R,
///
/// the minimiser of `‖R − K_nm β‖² + z βᵀK_mm β`: kernel ridge regression with the Nyström
/// kernel `K̃ = K_nm K_mm⁻¹ K_mn` (with all n points as centres, exactly dense kernel ridge).
/// Two solvers:
/// - `.direct` forms `G = K_mnK_nm` and `K_mn R` in one pass over X (blocks of rows; DSYRK),
///   then the m × m eigendecomposition `M = L⁻¹ G L⁻ᵀ = U Λ Uᵀ` (the generalized eigenproblem
///   `G v = λ K_mm v`). `Φ = K_nm L⁻ᵀ` are the Nyström features (`K̃ = Φ Φᵀ`) and `Λ` the non-zero
///   eigenvalues of K̃, so every spectral filter of `SpectralFilter` applies with no more
///   passes: `β(g) = L⁻ᵀ U g(Λ) Uᵀ L⁻¹ K_mn R`, for ridge paths, GCV and gradient flow at any time
///   t (eq. 22 with K̃ in place of K), `t = ∞` included. Costs n·m kernel entries, n·m² flops
///   and O(m³).
/// - `.conjugateGradient` is Falkon (Rudi, Carratino, Rosasco 2017): CG on the system above,
///   preconditioned by `B = L⁻ᵀ A⁻ᵀ` with `A Aᵀ = (n/m) LᵀL + z I` (from `K_mnK_nm ≈ (n/m) K_mm²`
///   for uniform centres), so `BᵀHB ≈ I`. Each iteration applies `K_nm` and `K_mn` once:
///   4·n·m·k flops when `K_nm` is cached (when it fits the memory budget), else one pass that
///   recomputes its blocks. Stops when the relative residual of the preconditioned system falls
///   below `tolerance` for every output, or after `maxIterations` (then `converged` is false
///   and a warning is logged: the result is the last iterate). One ridge per fit.
///
/// Memory: the `.direct` solver keeps 5 m² doubles (L, G/M, eigenvectors, DSYEVD's workspace)
/// and the CG solver 2 m²; blocks of `K(X, C)` rows fill the rest of the memory budget
/// (`MemoryBudget`). A budget too small for the m² part throws `outOfMemory` before any work.
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
        /// Bytes of working memory (nil: the process-wide `MemoryBudget`).
        public var memoryLimit: Int? = nil
        /// The rows are one part of a data set split over processes (nil: they are all of it).
        /// The centres must then be the same points on every part; the model is the one fitted
        /// on all the rows, on every part (n is the total).
        public var partition: DataPartition? = nil
        public init() {}

        func validate() throws {
            try InputCheck.finite(tolerance, "tolerance")
            guard tolerance > 0 else { throw NTKError.invalidArgument("tolerance must be > 0, got \(tolerance)") }
            guard maxIterations >= 1 else { throw NTKError.invalidArgument("max_iter must be >= 1, got \(maxIterations)") }
        }
    }

    /// n, the number of training points (over all parts of a partition).
    public let n: Int
    /// m, the number of centres.
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

    /// L, lower triangular with zeros above (m × m).
    let factor: Workspace
    /// β of the fitted ridge (m × k).
    let coefficients: Workspace
    /// `.direct` only: eigenvalues of M (ascending, ≥ 0, numerically zero ones set to 0), its
    /// eigenvectors U (m × m), the projected targets `c = Uᵀ L⁻¹ K_mn R` (m × k) and, per output,
    /// the part of ‖R‖² outside the span of the features Φ.
    let spectrum: Spectrum?

    struct Spectrum {
        let eigenvalues: [Double]
        let vectors: Workspace
        let projected: Workspace
        let outsideSpan: [Double]
    }

    // MARK: fitting

    /// Fits on a cross-kernel (`K(X, C)`, n × m, stored or computed) and the centres' kernel
    /// `kCenters` (m × m, symmetric positive semi-definite).
    /// - Throws: `invalidArgument` (ridge, options), `dimensionMismatch`, `nonFinite`,
    ///   `notPositiveDefinite` (`K_mm` singular beyond jitter 1e-6 × mean diagonal),
    ///   `outOfMemory` (before any work), `tooLarge`, `cancelled`.
    public convenience init(cross: CrossKernel, kCenters: MatrixView, targets: Targets, ridge: Double,
                            options: Options = Options(), progress: ProgressHandler = .none) throws {
        try self.init(cross: cross, kCenters: kCenters, targets: targets, ridge: ridge, options: options,
                      kernel: nil, centerIndices: [], centerPoints: nil, progress: progress)
    }

    /// Chooses m centres among the rows of `x` (n × d), then fits on `K(X, C)` of `kernel`,
    /// computed block by block (never n × n). Progress: centre selection, then the fit.
    /// - Throws: as the cross-kernel initialiser; `invalidArgument` unless 1 ≤ m ≤ n.
    public static func fit(kernel: PointKernel, x: MatrixView, targets: Targets, ridge: Double, centers m: Int,
                           selection: NystromCenters.Selection = .uniform, seed: UInt64 = 0,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        guard x.cols == kernel.inputDimension else {
            throw NTKError.dimensionMismatch("X has \(x.cols) columns but the input dimension is \(kernel.inputDimension)")
        }
        guard targets.rows == x.rows else {
            throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(x.rows)")
        }
        try InputCheck.finite(x, "X")
        try Self.check(ridge: ridge, options: options)
        try NystromCenters.check(n: x.rows, m: m)
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        try MemoryBudget.require(try fixedBytes(m: m, k: targets.outputs, solver: options.solver, blockRows: 64),
                                 within: budget, for: "a Nyström fit with \(m) centres")
        try progress.report(0)
        let indices: [Int]
        switch selection {
        case .uniform:
            indices = try NystromCenters.uniform(n: x.rows, m: m, seed: seed)
        case .pivotedCholesky:
            indices = try NystromCenters.pivotedCholesky(kernel, x: x, m: m, seed: seed, budget: budget,
                                                         progress: progress.stage(0, 0.2))
        }
        let d = x.cols, chosen = indices.count
        let points = try Workspace(count: try Sizes.product(chosen, d, "centre points"), for: "the centres")
        for (r, i) in indices.enumerated() { (points.pointer + r * d).update(from: x.row(i), count: d) }
        let c = MatrixView(unchecked: UnsafePointer(points.pointer), rows: chosen, cols: d, ld: max(d, 1))
        let kmm = try Workspace(count: try Sizes.product(chosen, chosen, "centre kernel"), for: "the centres' kernel")
        try kernel.evaluate(c, nil, into: kmm.matrix(chosen, chosen), progress: .none)
        let cross = try ComputedCrossKernel(kernel, x: x, centers: c)
        return try NystromRidge(cross: cross, kCenters: kmm.matrix(chosen, chosen).readOnly, targets: targets, ridge: ridge,
                                options: options, kernel: kernel, centerIndices: indices, centerPoints: points,
                                progress: progress.stage(selection == .uniform ? 0 : 0.2, 1))
    }

    /// Fits on `K(X, C)` of `kernel` with the caller's centres C (m × d, any points, not
    /// necessarily rows of X) — for instance the same centres on every part of a partition.
    /// - Throws: as the cross-kernel initialiser; `invalidArgument` when C has no rows.
    public static func fit(kernel: PointKernel, x: MatrixView, targets: Targets, ridge: Double, centers c: MatrixView,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        let d = kernel.inputDimension
        guard x.cols == d else { throw NTKError.dimensionMismatch("X has \(x.cols) columns but the input dimension is \(d)") }
        guard c.cols == d else { throw NTKError.dimensionMismatch("C has \(c.cols) columns but the input dimension is \(d)") }
        guard targets.rows == x.rows else { throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(x.rows)") }
        let m = c.rows
        guard m >= 1 else { throw NTKError.invalidArgument("the number of centres must be >= 1") }
        try InputCheck.finite(x, "X")
        try InputCheck.finite(c, "C")
        try Self.check(ridge: ridge, options: options)
        let points = try Workspace(count: try Sizes.product(m, d, "centre points"), for: "the centres")
        for r in 0..<m { (points.pointer + r * d).update(from: c.row(r), count: d) }
        let own = MatrixView(unchecked: UnsafePointer(points.pointer), rows: m, cols: d, ld: max(d, 1))
        let kmm = try Workspace(count: try Sizes.product(m, m, "centre kernel"), for: "the centres' kernel")
        try kernel.evaluate(own, nil, into: kmm.matrix(m, m), progress: .none)
        let cross = try ComputedCrossKernel(kernel, x: x, centers: own)
        return try NystromRidge(cross: cross, kCenters: kmm.matrix(m, m).readOnly, targets: targets, ridge: ridge,
                                options: options, kernel: kernel, centerIndices: [], centerPoints: points, progress: progress)
    }

    static func check(ridge: Double, options: Options) throws {
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be >= 0, got \(ridge)") }
        try options.validate()
    }

    /// Bytes a fit needs besides cached kernel rows: the m × m matrices, the m × k vectors and
    /// one block of `blockRows` kernel rows.
    static func fixedBytes(m: Int, k: Int, solver: Solver, blockRows: Int) throws -> Int {
        let squares = solver == .direct ? 5 : 2
        let matrices = try Sizes.product(try Sizes.product(m, m, "m²"), squares, "m² matrices")
        let vectors = try Sizes.product(try Sizes.product(m, max(k, 1), "m·k"), 8, "CG vectors")
        let block = try Sizes.product(blockRows, m + max(k, 1), "kernel block")
        return try Sizes.product(try Sizes.sum(try Sizes.sum(matrices, vectors, "working set"), block, "working set"), 8, "bytes")
    }

    private init(cross: CrossKernel, kCenters: MatrixView, targets: Targets, ridge: Double, options: Options,
                 kernel: PointKernel?, centerIndices: [Int], centerPoints: Workspace?, progress: ProgressHandler) throws {
        let n = cross.rows, m = cross.columns, k = targets.outputs
        guard targets.rows == n else { throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but K_nm has \(n)") }
        guard kCenters.rows == m, kCenters.cols == m else {
            throw NTKError.dimensionMismatch("K_mm is \(kCenters.rows) × \(kCenters.cols) but K_nm has \(m) columns")
        }
        guard m >= 1 else { throw NTKError.invalidArgument("the number of centres must be >= 1") }
        try Self.check(ridge: ridge, options: options)
        _ = try Sizes.blasInt(n, "n")
        _ = try Sizes.blasInt(m, "the number of centres")
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let minimum = try Self.fixedBytes(m: m, k: k, solver: options.solver, blockRows: min(n, 64))
        try MemoryBudget.require(minimum, within: budget, for: "a Nyström fit with \(m) centres")
        // Kernel rows: cached whole for CG when they fit, else blocks filling the budget.
        let rowBytes = try Sizes.product(m + k, 8, "row bytes")
        let crossBytes = try Sizes.product(n, rowBytes, "cross-kernel bytes")
        let cache = options.solver == .conjugateGradient && cross.computesBlocks && minimum + crossBytes <= budget
        let blockRows = max(1, min(n, 4096, max(64, (budget - minimum) / rowBytes)))
        try progress.report(0)

        // L: the Cholesky factor of K_mm (+ jitter).
        let (factor, jitter) = try Self.centerFactor(kCenters)
        Log.info("Nyström: \(n) points, \(m) centres, \(k) output(s), ridge \(ridge), \(options.solver == .direct ? "direct (normal equations + eigendecomposition)" : "\(options.preconditioned ? "Falkon-preconditioned" : "unpreconditioned") CG")"
                 + "; kernel rows \(cache ? "cached (\(Log.bytes(crossBytes)))" : "in blocks of \(blockRows)")\(cross.computesBlocks ? " computed per pass" : "") within a budget of \(Log.bytes(budget))"
                 + (jitter > 0 ? "; jitter \(jitter) added to K_mm" : ""))
        let residual = try targets.residual()
        let r = residual.matrix(n, k).readOnly
        let pass = try Pass(cross: cross, blockRows: blockRows, cache: cache, progress: progress)
        // n over all parts of a partition (the local n without one).
        let total = Int(try options.partition.total(Double(n)))

        self.n = total
        self.centerCount = m
        self.outputs = k
        self.ridge = ridge
        self.jitter = jitter
        self.solver = options.solver
        self.kernel = kernel
        self.centerIndices = centerIndices
        self.centerPoints = centerPoints
        self.factor = factor
        self.cachedCrossKernel = cache
        self.coefficients = try Workspace(count: try Sizes.product(m, max(k, 1), "coefficients"), for: "the coefficients")
        switch options.solver {
        case .direct:
            let spectrum = try Self.spectrum(pass: pass, factor: factor, residual: r, partition: options.partition, progress: progress)
            self.spectrum = spectrum
            self.iterations = 0
            self.residuals = []
            self.converged = true
            let filter = try SpectralFilter(time: .infinity, ridge: ridge, learningRate: 1, nTargets: max(total * k, 1))
            try Self.filteredCoefficients(spectrum: spectrum, factor: factor, m: m, k: k, filters: [filter],
                                          into: coefficients.matrix(m, k))
        case .conjugateGradient:
            self.spectrum = nil
            let result = try Self.falkon(pass: pass, totalRows: total, factor: factor, residual: r, ridge: ridge, options: options,
                                         into: coefficients.matrix(m, k), progress: progress)
            (self.iterations, self.residuals, self.converged) = result
        }
        try InputCheck.finiteResult(coefficients.pointer, count: m * k, "the Nyström coefficients")
        try progress.report(1)
    }

    /// L with `K_mm + jitter·I = L Lᵀ`, zeros above the diagonal; jitter 0, else 1e-12, 1e-11, …
    /// up to 1e-6 times the mean diagonal.
    static func centerFactor(_ kmm: MatrixView) throws -> (Workspace, Double) {
        let m = kmm.rows
        try InputCheck.finite(kmm, "K_mm")
        let l = try Workspace(count: m * m, for: "the centres' Cholesky factor")
        var trace = 0.0
        for i in 0..<m { trace += kmm[i, i] }
        let scale = trace > 0 ? trace / Double(m) : 1
        var jitter = 0.0
        while true {
            try Symmetry.symmetrizedCopy(kmm, into: l.pointer, ldOut: m, name: "K_mm")
            for i in 0..<m { l.pointer[i * m + i] += jitter }
            do {
                try CholeskyFactorization.factorInPlace(l.pointer, n: m, progress: .none)
                break
            } catch let e as NTKError where e.kind == .notPositiveDefinite {
                guard jitter < 1e-6 * scale else {
                    throw NTKError.notPositiveDefinite("the centres' kernel K_mm is singular even with jitter \(jitter) (1e-6 × its mean diagonal): are centres repeated, or is the kernel degenerate?")
                }
                jitter = jitter == 0 ? 1e-12 * scale : jitter * 10
            }
        }
        for i in 0..<m { for j in (i + 1)..<m { l.pointer[i * m + j] = 0 } }
        if jitter > 0 { Log.warning("Nyström: K_mm is numerically singular; added jitter \(jitter) (\(jitter / scale) × mean diagonal)") }
        return (l, jitter)
    }

    // MARK: the passes over K(X, C)

    /// Blocks of rows of `K(X, C)`: from the cache, the caller's matrix, or computed.
    final class Pass {
        let cross: CrossKernel
        let blockRows: Int
        let scratch: Workspace?
        let cache: Workspace?
        let progress: ProgressHandler
        var n: Int { cross.rows }
        var m: Int { cross.columns }

        init(cross: CrossKernel, blockRows: Int, cache: Bool, progress: ProgressHandler) throws {
            self.cross = cross
            self.blockRows = blockRows
            self.progress = progress
            let n = cross.rows, m = cross.columns
            if cache {
                let all = try Workspace(count: try Sizes.product(n, m, "cached cross-kernel"), for: "the cached kernel rows")
                for r0 in stride(from: 0, to: n, by: blockRows) {
                    let r = r0..<min(r0 + blockRows, n)
                    _ = try cross.block(r, scratch: MutableMatrixView(unchecked: all.pointer + r0 * m, rows: r.count, cols: m, ld: m))
                    try progress.report(0.3 * Double(r.upperBound) / Double(n))
                }
                self.cache = all
                self.scratch = nil
            } else {
                self.cache = nil
                self.scratch = cross.computesBlocks ? try Workspace(count: try Sizes.product(blockRows, m, "kernel block"), for: "a block of kernel rows") : nil
            }
        }

        /// Calls `body(rows, K(X[rows], C))` for every block in order; `report(fraction)` maps
        /// the pass's progress into the caller's.
        func forEachBlock(report: (Double) -> Double, _ body: (Range<Int>, MatrixView) throws -> Void) throws {
            let rows = cache != nil ? n : blockRows
            for r0 in stride(from: 0, to: n, by: rows) {
                let r = r0..<min(r0 + rows, n)
                let block: MatrixView
                if let cache {
                    block = MatrixView(unchecked: UnsafePointer(cache.pointer), rows: n, cols: m, ld: m)
                } else {
                    block = try cross.block(r, scratch: scratch?.matrix(r.count, m) ?? MutableMatrixView(unchecked: UnsafeMutablePointer(mutating: emptyBlock), rows: 0, cols: m, ld: m))
                }
                try body(r, block)
                try progress.report(report(Double(r.upperBound) / Double(max(n, 1))))
            }
        }

        /// `out ← K_mn (K_nm v)` for v (m × k); `u` is scratch of n × k... computed per block.
        func normalProduct(_ v: MatrixView, into out: MutableMatrixView, block u: Workspace, report: (Double) -> Double) throws {
            out.fill(0)
            try forEachBlock(report: report) { r, kb in
                let ub = u.matrix(r.count, v.cols)
                try MatrixProduct.gemm(kb, v, into: ub)
                try MatrixProduct.gemm(kb, transposeA: true, ub.readOnly, beta: 1, into: out)
            }
        }
    }

    /// The `.direct` solver: one pass for G = K_mnK_nm and K_mn R (summed over the parts of a
    /// partition, in one reduction with ‖R‖²), then M = L⁻¹GL⁻ᵀ = UΛUᵀ.
    static func spectrum(pass: Pass, factor: Workspace, residual r: MatrixView, partition: DataPartition?,
                         progress: ProgressHandler) throws -> Spectrum {
        let n = pass.n, m = pass.m, k = r.cols
        // One buffer: G (m × m), K_mn R (m × k), then ‖R_c‖² per column.
        let g = try Workspace(count: try Sizes.sum(m * m, try Sizes.product(m + 1, max(k, 1), "K_mn R"), "normal equations"),
                              for: "K_mn K_nm")
        let b = g.pointer + m * m
        g.pointer.update(repeating: 0, count: g.count)
        try pass.forEachBlock(report: { 0.85 * $0 }) { rows, kb in
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(m), Int32(rows.count), 1, kb.base, Int32(kb.ld),
                        1, g.pointer, Int32(m))
            try MatrixProduct.gemm(kb, transposeA: true, r.rowRange(rows.lowerBound, rows.upperBound), beta: 1,
                                   into: MutableMatrixView(unchecked: b, rows: m, cols: k, ld: max(k, 1)))
        }
        let squares = b + m * max(k, 1)
        for c in 0..<k {
            var total = 0.0
            for i in 0..<n { total += r[i, c] * r[i, c] }
            squares[c] = total
        }
        try partition.sum(g.pointer, g.count)
        // M = L⁻¹ G L⁻ᵀ, symmetrised.
        Symmetry.mirrorLowerToUpper(g.pointer, n: m, ld: m)
        let l = UnsafePointer(factor.pointer)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(m), Int32(m), 1, l, Int32(m), g.pointer, Int32(m))
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(m), Int32(m), 1, l, Int32(m), g.pointer, Int32(m))
        for i in 0..<m {
            for j in 0..<i {
                let s = 0.5 * (g.pointer[i * m + j] + g.pointer[j * m + i])
                g.pointer[i * m + j] = s
                g.pointer[j * m + i] = s
            }
        }
        try InputCheck.finiteResult(g.pointer, count: m * m, "the Nyström normal matrix")
        let vectors = try Workspace(count: m * m, for: "the Nyström eigenvectors")
        var values = [Double](repeating: 0, count: m)
        try values.withUnsafeMutableBufferPointer { w in
            try SymmetricEigen.compute(g.matrix(m, m).readOnly, values: w.baseAddress!, vectors: vectors.matrix(m, m),
                                       progress: pass.progress.stage(0.85, 0.99))
        }
        let largest = values.map(abs).max() ?? 0
        let cutoff = Double(m) * Double.ulpOfOne * largest
        let eigenvalues = values.map { $0 <= cutoff ? 0 : $0 }
        // c = Uᵀ L⁻¹ K_mn R, and the part of ‖R‖² outside span(Φ): ‖R‖² − Σ_i c_i²/λ_i.
        if k > 0 {
            cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(m), Int32(k), 1, l, Int32(m), b, Int32(k))
        }
        let projected = try Workspace(count: try Sizes.product(m, max(k, 1), "projected targets"), for: "the projected targets")
        try MatrixProduct.gemm(vectors.matrix(m, m).readOnly, transposeA: true,
                               MatrixView(unchecked: UnsafePointer(b), rows: m, cols: k, ld: max(k, 1)), into: projected.matrix(m, k))
        var outside = [Double](repeating: 0, count: k)
        for c in 0..<k {
            let total = squares[c]
            var inside = 0.0
            for i in 0..<m where eigenvalues[i] > 0 { inside += projected.pointer[i * k + c] * projected.pointer[i * k + c] / eigenvalues[i] }
            outside[c] = max(total - inside, 0)
        }
        Log.info("Nyström: eigendecomposition of the \(m) x \(m) normal matrix, λ in [\(values.first ?? 0), \(values.last ?? 0)], \(eigenvalues.filter { $0 == 0 }.count) direction(s) treated as null")
        return Spectrum(eigenvalues: eigenvalues, vectors: vectors, projected: projected, outsideSpan: outside)
    }

    /// β for each filter: `L⁻ᵀ U g(Λ) c`, written side by side into `out` (m × filters·k).
    static func filteredCoefficients(spectrum s: Spectrum, factor: Workspace, m: Int, k: Int, filters: [SpectralFilter],
                                     into out: MutableMatrixView) throws {
        let width = filters.count * k
        if width == 0 { return }
        let scaled = try Workspace(count: try Sizes.product(m, width, "filtered targets"), for: "the filtered targets")
        for (f, filter) in filters.enumerated() {
            for i in 0..<m {
                let lambda = s.eigenvalues[i]
                // Null directions of K̃ are never learned (λ g(λ) = 0 there).
                let g = lambda > 0 ? filter.value(lambda) : 0
                for c in 0..<k { scaled.pointer[i * width + f * k + c] = g * s.projected.pointer[i * k + c] }
            }
        }
        try MatrixProduct.gemm(s.vectors.matrix(m, m).readOnly, scaled.matrix(m, width).readOnly, into: out)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(m), Int32(width), 1,
                    UnsafePointer(factor.pointer), Int32(m), out.base, Int32(out.ld))
    }

    /// Falkon: CG on `Bᵀ H B γ = Bᵀ K_mn R`, `H = K_mnK_nm + z L Lᵀ`, β = B γ (B = I unpreconditioned).
    static func falkon(pass: Pass, totalRows n: Int, factor: Workspace, residual r: MatrixView, ridge z: Double, options: Options,
                       into beta: MutableMatrixView, progress: ProgressHandler) throws -> (Int, [Double], Bool) {
        let m = pass.m, k = r.cols
        let l = UnsafePointer(factor.pointer), ldl = Int32(m)
        if k == 0 { return (0, [], true) }
        // A Aᵀ = (n/m) LᵀL + z I.
        var a: Workspace? = nil
        if options.preconditioned {
            let w = try Workspace(count: m * m, for: "the Falkon preconditioner")
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(m), Int32(m), Double(n) / Double(m), l, ldl, 0, w.pointer, ldl)
            for i in 0..<m { w.pointer[i * m + i] += z }
            // (n/m) LᵀL + z I is positive definite whenever L is; rounding aside.
            try CholeskyFactorization.factorInPlace(w.pointer, n: m, progress: .none)
            a = w
        }
        let mk = m * k
        func vectors(_ what: String) throws -> Workspace { try Workspace(count: mk, for: what) }
        let x = try vectors("the CG iterate"), res = try vectors("the CG residual"), p = try vectors("the CG direction")
        let q = try vectors("the CG product"), v = try vectors("a CG scratch vector")
        let u = try Workspace(count: try Sizes.product(pass.cache != nil ? pass.n : pass.blockRows, k, "block product"), for: "a block product")
        let ik = Int32(k)
        /// x ← Bx = L⁻ᵀ A⁻ᵀ x (in place).
        func applyB(_ x: UnsafeMutablePointer<Double>) {
            if let a { cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, ldl, ik, 1, a.pointer, ldl, x, ik) }
            if a != nil { cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, ldl, ik, 1, l, ldl, x, ik) }
        }
        /// x ← Bᵀx = A⁻¹ L⁻¹ x (in place).
        func applyBT(_ x: UnsafeMutablePointer<Double>) {
            guard let a else { return }
            cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, ldl, ik, 1, l, ldl, x, ik)
            cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, ldl, ik, 1, a.pointer, ldl, x, ik)
        }
        let start = pass.cache != nil ? 0.3 : 0.0
        let cap = options.maxIterations
        /// out ← Bᵀ H B p.
        func operatorProduct(_ input: UnsafeMutablePointer<Double>, into out: Workspace, iteration: Int) throws {
            v.pointer.update(from: input, count: mk)
            applyB(v.pointer)
            let span = (1 - start) / Double(cap + 1)
            try pass.normalProduct(v.matrix(m, k).readOnly, into: out.matrix(m, k), block: u,
                                   report: { start + span * (Double(iteration) + $0) })
            try options.partition.sum(out.pointer, mk)
            if z > 0 {
                // + z L Lᵀ v
                cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, ldl, ik, 1, l, ldl, v.pointer, ik)
                cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, ldl, ik, 1, l, ldl, v.pointer, ik)
                cblas_daxpy(Int32(mk), z, v.pointer, 1, out.pointer, 1)
            }
            applyBT(out.pointer)
        }
        // Right-hand side Bᵀ K_mn R.
        res.pointer.update(repeating: 0, count: mk)
        let span0 = (1 - start) / Double(cap + 1)
        try pass.forEachBlock(report: { start + span0 * $0 }) { rows, kb in
            try MatrixProduct.gemm(kb, transposeA: true, r.rowRange(rows.lowerBound, rows.upperBound), beta: 1, into: res.matrix(m, k))
        }
        try options.partition.sum(res.pointer, mk)
        applyBT(res.pointer)
        func columnNorms(_ w: Workspace) -> [Double] {
            (0..<k).map { c in
                var s = 0.0
                for i in 0..<m { s += w.pointer[i * k + c] * w.pointer[i * k + c] }
                return s
            }
        }
        let rhsNorm = columnNorms(res).map { $0.squareRoot() }
        x.pointer.update(repeating: 0, count: mk)
        p.pointer.update(from: res.pointer, count: mk)
        var rr = columnNorms(res)
        var history: [Double] = []
        var converged = rhsNorm.allSatisfy { $0 == 0 }
        var iteration = 0
        while !converged && iteration < cap {
            iteration += 1
            try operatorProduct(p.pointer, into: q, iteration: iteration)
            for c in 0..<k {
                var pq = 0.0
                for i in 0..<m { pq += p.pointer[i * k + c] * q.pointer[i * k + c] }
                let alpha = pq > 0 && rr[c] > 0 ? rr[c] / pq : 0
                for i in 0..<m {
                    x.pointer[i * k + c] += alpha * p.pointer[i * k + c]
                    res.pointer[i * k + c] -= alpha * q.pointer[i * k + c]
                }
            }
            let next = columnNorms(res)
            for c in 0..<k {
                let ratio = rr[c] > 0 ? next[c] / rr[c] : 0
                for i in 0..<m { p.pointer[i * k + c] = res.pointer[i * k + c] + ratio * p.pointer[i * k + c] }
            }
            rr = next
            let relative = (0..<k).map { rhsNorm[$0] > 0 ? rr[$0].squareRoot() / rhsNorm[$0] : 0 }.max() ?? 0
            history.append(relative)
            converged = relative <= options.tolerance
        }
        applyB(x.pointer)
        for i in 0..<m { (beta.base + i * beta.ld).update(from: x.pointer + i * k, count: k) }
        if converged {
            Log.info("Nyström CG: converged in \(iteration) iteration(s), relative residual \(history.last ?? 0)")
        } else {
            Log.warning("Nyström CG: no convergence in \(cap) iterations; relative residual \(history.last ?? .nan) > tolerance \(options.tolerance); the result is the last iterate")
        }
        return (iteration, history, converged)
    }

    // MARK: predictions

    /// `f₀ + K(x, C) β` for the fitted ridge into `out` (rows × k); `cross` is the test points'
    /// kernel against the centres (t × m).
    public func predict(cross: CrossKernel, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(cross: cross, offsets: offsets, coefficients: coefficients.matrix(centerCount, outputs).readOnly,
                    count: 1, into: out.base, ld: out.ld, shape: out, progress: progress)
    }

    /// Test predictions on points (models fitted on points only).
    /// - Throws: `invalidArgument` for a model fitted on a stored cross-kernel;
    ///   `dimensionMismatch`; `nonFinite`.
    public func predict(x: MatrixView, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(cross: try crossKernel(x: x), offsets: offsets, into: out, progress: progress)
    }

    /// `K(x, C)` of a model fitted on points, as a cross-kernel computed block by block.
    public func crossKernel(x: MatrixView) throws -> CrossKernel {
        guard let kernel, let centerPoints else {
            throw NTKError.invalidArgument("this Nyström model was fitted on a precomputed kernel: pass K(X_test, C) instead of points")
        }
        try InputCheck.finite(x, "X_test")
        let c = MatrixView(unchecked: UnsafePointer(centerPoints.pointer), rows: centerCount, cols: kernel.inputDimension,
                           ld: max(kernel.inputDimension, 1))
        return try ComputedCrossKernel(kernel, x: x, centers: c)
    }

    /// Predictions of every filter (ridge z, time t; eq. 22 with the Nyström kernel) into
    /// `out`, contiguous `filters × t × k` (`.direct` models only). One pass over the test rows.
    public func predictPath(cross: CrossKernel, offsets: MatrixView?, filters: [SpectralFilter],
                            into out: UnsafeMutablePointer<Double>, progress: ProgressHandler = .none) throws {
        guard let spectrum else {
            throw NTKError.invalidArgument("ridge paths and gradient flow need the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        let m = centerCount, k = outputs, width = try Sizes.product(filters.count, k, "filters × outputs")
        let beta = try Workspace(count: try Sizes.product(m, max(width, 1), "path coefficients"), for: "the path coefficients")
        try Self.filteredCoefficients(spectrum: spectrum, factor: factor, m: m, k: k, filters: filters, into: beta.matrix(m, width))
        let shape = MutableMatrixView(unchecked: out, rows: cross.rows, cols: k, ld: max(k, 1))
        try predict(cross: cross, offsets: offsets, coefficients: beta.matrix(m, width).readOnly, count: filters.count,
                    into: out, ld: max(k, 1), shape: shape, progress: progress)
    }

    /// β of every filter into `out`, contiguous `filters × m × k` (`.direct` models only):
    /// predictions are `f₀(x) + K(x, C) β_f`.
    public func pathCoefficients(filters: [SpectralFilter], into out: UnsafeMutablePointer<Double>) throws {
        guard let spectrum else {
            throw NTKError.invalidArgument("ridge paths and gradient flow need the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        let m = centerCount, k = outputs, width = try Sizes.product(filters.count, k, "filters × outputs")
        let beta = try Workspace(count: try Sizes.product(m, max(width, 1), "path coefficients"), for: "the path coefficients")
        try Self.filteredCoefficients(spectrum: spectrum, factor: factor, m: m, k: k, filters: filters, into: beta.matrix(m, width))
        for f in 0..<filters.count {
            for i in 0..<m {
                for c in 0..<k { out[(f * m + i) * k + c] = beta.pointer[i * width + f * k + c] }
            }
        }
    }

    /// The shared prediction loop: for `count` coefficient sets side by side in `coefficients`
    /// (m × count·k), writes set f's predictions at `out + f·t·ld` (t × k, leading dimension ld).
    private func predict(cross: CrossKernel, offsets: MatrixView?, coefficients: MatrixView, count: Int,
                         into out: UnsafeMutablePointer<Double>, ld: Int, shape: MutableMatrixView,
                         progress: ProgressHandler) throws {
        let t = cross.rows, k = outputs, m = centerCount
        guard cross.columns == m else {
            throw NTKError.dimensionMismatch("the test kernel has \(cross.columns) columns but the model has \(m) centres")
        }
        guard shape.rows == t, shape.cols == k else {
            throw NTKError.dimensionMismatch("the prediction output is \(shape.rows) × \(shape.cols) but must be \(t) × \(k)")
        }
        if let offsets, offsets.rows != t || offsets.cols != k {
            throw NTKError.dimensionMismatch("f0_test is \(offsets.rows) × \(offsets.cols) but must be \(t) × \(k)")
        }
        if let offsets { try InputCheck.finite(offsets, "f0_test") }
        let width = count * k
        try progress.report(0)
        if t == 0 || width == 0 { return try progress.report(1) }
        let budget = MemoryBudget.processDefault
        let rowBytes = (m + width) * 8
        let rows = max(1, min(t, 4096, max(64, budget / max(rowBytes, 1) / 2)))
        let scratch = cross.computesBlocks ? try Workspace(count: try Sizes.product(rows, m, "kernel block"), for: "a block of test kernel rows") : nil
        let products = try Workspace(count: try Sizes.product(rows, width, "block predictions"), for: "block predictions")
        for r0 in stride(from: 0, to: t, by: rows) {
            let r = r0..<min(r0 + rows, t)
            let kb = try cross.block(r, scratch: scratch?.matrix(r.count, m) ?? MutableMatrixView(unchecked: UnsafeMutablePointer(mutating: emptyBlock), rows: 0, cols: m, ld: m))
            let pb = products.matrix(r.count, width)
            try MatrixProduct.gemm(kb, coefficients, into: pb)
            try scatterPredictions(pb, rows: r, groups: count, outputs: k, total: t, offsets: offsets, into: out, ld: ld,
                                   "the Nyström predictions")
            try progress.report(Double(r.upperBound) / Double(t))
        }
    }

    // MARK: spectral quantities

    /// The eigenvalues of the Nyström kernel's non-trivial part (m, ascending; `.direct` only).
    public var eigenvalues: [Double]? { spectrum?.eigenvalues }

    /// GCV scores (as `SpectralSolver.selectRidge`, with the Nyström kernel K̃) for each ridge,
    /// and the index of the best. O(m·k) per ridge, no pass over the data.
    /// - Throws: `invalidArgument` (empty grid, bad ridges, a CG model); `numericalFailure`
    ///   when no ridge has a finite score.
    public func selectRidge(ridges: [Double]) throws -> (scores: [Double], best: Int) {
        guard let s = spectrum else {
            throw NTKError.invalidArgument("ridge selection needs the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        guard !ridges.isEmpty else { throw NTKError.invalidArgument("the ridge grid is empty") }
        for z in ridges {
            try InputCheck.finite(z, "ridge")
            guard z >= 0 else { throw NTKError.invalidArgument("ridges must be >= 0, got \(z)") }
        }
        let k = outputs, m = centerCount
        let entries = Double(n * k)
        let outside = s.outsideSpan.reduce(0, +)
        let scores: [Double] = ridges.map { z in
            var residual = outside, trace = 0.0
            for i in 0..<m where s.eigenvalues[i] > 0 {
                let lambda = s.eigenvalues[i]
                var rowNorm = 0.0
                for c in 0..<k { rowNorm += s.projected.pointer[i * k + c] * s.projected.pointer[i * k + c] }
                let keep = z / (lambda + z)
                residual += keep * keep * rowNorm / lambda
                trace += lambda / (lambda + z)
            }
            let denominator = 1 - trace / Double(n)
            guard denominator > 1e-12 else { return .infinity }
            return residual / entries / (denominator * denominator)
        }
        var best = -1
        for (i, v) in scores.enumerated() where v.isFinite && (best < 0 || v < scores[best]) { best = i }
        guard best >= 0 else { throw NTKError.numericalFailure("no ridge in the grid gives a finite GCV score; include ridges > 0") }
        return (scores, best)
    }

    /// Copies β (m × k) into `out`.
    public func copyCoefficients(into out: MutableMatrixView) throws {
        guard out.rows == centerCount, out.cols == outputs else {
            throw NTKError.dimensionMismatch("the coefficient output is \(out.rows) × \(out.cols) but must be \(centerCount) × \(outputs)")
        }
        for i in 0..<centerCount { (out.base + i * out.ld).update(from: coefficients.pointer + i * outputs, count: outputs) }
    }
}

/// A stand-in base address for empty blocks; never dereferenced.
nonisolated(unsafe) private let emptyBlock = UnsafePointer<Double>(UnsafeMutablePointer<Double>.allocate(capacity: 1))

extension NystromRidge {
    /// Fits on the rows of `x` with `Matrix` values; see `fit(kernel:x:targets:ridge:centers:...)`.
    public static func fit(kernel: PointKernel, x: Matrix, y: Matrix, f0: Matrix? = nil, ridge: Double, centers m: Int,
                           selection: NystromCenters.Selection = .uniform, seed: UInt64 = 0,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        try x.withView { xv in
            try Targets.with(y, f0) { t in
                try fit(kernel: kernel, x: xv, targets: t, ridge: ridge, centers: m, selection: selection, seed: seed,
                        options: options, progress: progress)
            }
        }
    }

    /// Predictions `f₀ + K(x, C) β` (t × k) at the rows of `x`.
    public func predict(x: Matrix, f0: Matrix? = nil) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: outputs)
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try out.withMutableView { try predict(x: xv, offsets: f, into: $0) } }
        }
        return out
    }

    /// Predictions of every filter at the rows of `x`, one t × k matrix per filter.
    public func predictPath(x: Matrix, f0: Matrix? = nil, filters: [SpectralFilter]) throws -> [Matrix] {
        let t = x.rows, k = outputs
        let size = try Sizes.product(try Sizes.product(filters.count, t, "path size"), k, "path size")
        let out = try Workspace(count: size, for: "the path predictions")
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try predictPath(cross: try crossKernel(x: xv), offsets: f, filters: filters, into: out.pointer) }
        }
        return try (0..<filters.count).map { i in
            try Matrix(rows: t, cols: k, elements: Array(UnsafeBufferPointer(start: out.pointer + i * t * k, count: t * k)))
        }
    }

    /// β (m × k).
    public func coefficientMatrix() throws -> Matrix {
        var out = try Matrix(rows: centerCount, cols: outputs)
        try out.withMutableView { try copyCoefficients(into: $0) }
        return out
    }
}
