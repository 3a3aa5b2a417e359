import CBLAS

/// Exact kernel ridge regression with the empirical NTK of an MLP at any n, matrix-free
/// (docs/equations.md, "Nyström and Falkon"):
///
///     (K + zI) α = Y − f₀,    f(x) = f₀(x) + K(x, X) α
///
/// with K the empirical NTK (mean over outputs) applied through NTK–vector products
/// (`EmpiricalNTKOperator`: K v = J(Jᵀv), nothing of size n² is formed), solved by conjugate
/// gradients preconditioned with a rank-m Nyström approximation of K: with uniform centres C,
/// `K_nm = K(X, C)` (computed once, n × m) and `K_mm = L Lᵀ`, U = K_nm L⁻ᵀ and
/// `P = U Uᵀ + z′I` (z′ = z, or 10⁻⁶ × the mean diagonal when z = 0), applied by the Woodbury
/// identity `P⁻¹ r = (r − U (z′I + UᵀU)⁻¹ Uᵀ r) / z′`. `preconditionerRank = 0` runs plain CG.
/// Stops when every column's relative residual `‖R − (K + zI)α‖ / ‖R‖` (recursively updated) is
/// at most `tolerance`, or after `maxIterations` (then `converged` is false, a warning is
/// logged, and the model holds the last iterate). Predictions need `J(X)ᵀ α`, kept after the fit
/// (k·t parameter-space vectors), and one pass over the test points.
///
/// The network's parameters are read once, at the fit; later changes to the network do not
/// affect the model. Immutable after fitting; predictions may run on several threads at once.
public final class EmpiricalNTKRidge: @unchecked Sendable {
    public struct Options: Sendable {
        /// Relative residual at which to stop (> 0).
        public var tolerance: Double = 1e-8
        /// The iteration cap (≥ 1).
        public var maxIterations: Int = 500
        /// Centres of the Nyström preconditioner (0: none).
        public var preconditionerRank: Int = 256
        /// Seed of the centres.
        public var seed: UInt64 = 0
        /// Bytes of working memory (nil: the process-wide `MemoryBudget`).
        public var memoryLimit: Int? = nil
        /// The rows are one part of a data set split over processes (nil: they are all of it):
        /// `JᵀV` and the CG dot products are summed over the parts, so every part runs the
        /// iterations of the fit on all the rows and keeps its own rows' α. Needs
        /// `preconditionerRank = 0`.
        public var partition: DataPartition? = nil
        public init() {}
    }

    /// n, the number of training points (this part's, with a partition).
    public let n: Int
    /// t, the number of target columns.
    public let outputs: Int
    /// The absolute ridge z.
    public let ridge: Double
    /// CG iterations run.
    public let iterations: Int
    /// The largest relative residual over columns after each iteration.
    public let residuals: [Double]
    /// Whether the tolerance was reached.
    public let converged: Bool
    /// The rank of the preconditioner used (0: none).
    public let preconditionerRank: Int
    /// d, the network's input dimension (of test points).
    public var inputDimension: Int { architecture.inputDimension }
    let architecture: MLPArchitecture
    let theta: MLP.ParameterVector
    /// α (n × t).
    let alpha: Workspace
    /// J(X)ᵀ α, k·t parameter-space vectors.
    let transposed: Workspace

    /// - Throws: `invalidArgument` (ridge < 0, options), `dimensionMismatch`, `nonFinite`,
    ///   `outOfMemory` (before any work), `notPositiveDefinite` (the centres' kernel singular
    ///   beyond jitter), `cancelled`.
    public init(mlp: MLP, x: MatrixView, targets: Targets, ridge z: Double, options: Options = Options(),
                progress: ProgressHandler = .none) throws {
        let a = mlp.architecture
        try mlp.checkInput(x, "X")
        let n = x.rows, t = targets.outputs
        guard targets.rows == n else { throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(n)") }
        try InputCheck.finite(z, "ridge")
        guard z >= 0 else { throw NTKError.invalidArgument("ridge must be >= 0, got \(z)") }
        try InputCheck.finite(options.tolerance, "tolerance")
        guard options.tolerance > 0 else { throw NTKError.invalidArgument("tolerance must be > 0, got \(options.tolerance)") }
        guard options.maxIterations >= 1 else { throw NTKError.invalidArgument("max_iter must be >= 1, got \(options.maxIterations)") }
        guard options.preconditionerRank >= 0 else {
            throw NTKError.invalidArgument("the preconditioner rank must be >= 0, got \(options.preconditionerRank)")
        }
        guard options.partition == nil || options.preconditionerRank == 0 else {
            throw NTKError.invalidArgument("a data partition needs preconditioner_rank = 0 (plain CG), got \(options.preconditionerRank)")
        }
        let partition = options.partition
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let m = min(options.preconditionerRank, n)
        // The preconditioner (U: n × m, and three m × m) and the CG vectors (6 n × t) first.
        let fixed = try Sizes.product(try Sizes.sum(try Sizes.product(n + 3 * m, m, "preconditioner"),
                                                    try Sizes.product(6 * n, max(t, 1), "CG vectors"), "working set"), 8, "bytes")
        try MemoryBudget.require(fixed, within: budget, for: "matrix-free empirical NTK ridge (n = \(n), preconditioner rank \(m))")
        try progress.report(0)
        // The preconditioner first, its kernel rows in blocks of a small working set, so that its
        // peak does not add to the operator's kept activations.
        let preconditioner = m > 0 ? try NystromPreconditioner(mlp, x: x, rank: m, ridge: z, seed: options.seed,
                                                               budget: min(budget - fixed, 256 << 20),
                                                               progress: progress.stage(0, 0.1)) : nil
        let op = try EmpiricalNTKOperator(mlp, x: x, budget: budget - fixed)
        let length = EmpiricalNTKOperator.vectorLength(a)
        let g = try Workspace(count: try Sizes.product(try Sizes.product(a.outputDimension, max(t, 1), "k·t"), length, "parameter vectors"),
                              for: "parameter-space vectors")
        let scratch = try Workspace(count: op.scratchCount, for: "kernel product scratch")
        let nt = n * t
        func vectors(_ what: String) throws -> Workspace { try Workspace(count: max(nt, 1), for: what) }
        let alpha = try vectors("the dual coefficients"), r = try vectors("the CG residual"), p = try vectors("the CG direction")
        let q = try vectors("the CG product"), s = try vectors("the preconditioned residual")
        let residual = try targets.residual()
        func view(_ w: Workspace) -> MutableMatrixView { w.matrix(n, t) }
        /// Σ_i u_ic v_ic per column, over every part of a partition.
        func columnDots(_ u: Workspace, _ v: Workspace) throws -> [Double] {
            try partition.total((0..<t).map { c in
                var sum = 0.0
                for i in 0..<n { sum += u.pointer[i * t + c] * v.pointer[i * t + c] }
                return sum
            })
        }
        alpha.pointer.update(repeating: 0, count: max(nt, 1))
        r.pointer.update(from: residual.pointer, count: nt)
        let norms = try columnDots(r, r).map { $0.squareRoot() }
        func applyPreconditioner() throws {
            if let preconditioner { try preconditioner.apply(view(r).readOnly, into: view(s)) } else { s.pointer.update(from: r.pointer, count: nt) }
        }
        try applyPreconditioner()
        p.pointer.update(from: s.pointer, count: nt)
        var rs = try columnDots(r, s)
        var history: [Double] = []
        var converged = norms.allSatisfy { $0 == 0 }
        var iteration = 0
        let cap = options.maxIterations
        Log.info("empirical NTK ridge: \(n) points, \(t) target column(s), ridge \(z), CG \(m > 0 ? "with a rank-\(m) Nyström preconditioner" : "without preconditioner"), tolerance \(options.tolerance)")
        while !converged && iteration < cap {
            iteration += 1
            try op.apply(view(p).readOnly, into: view(q), g: g, scratch: scratch, partition: partition)
            if z > 0 { cblas_daxpy(Int32(nt), z, p.pointer, 1, q.pointer, 1) }
            let pq = try columnDots(p, q)
            for c in 0..<t {
                let step = pq[c] > 0 && rs[c] != 0 ? rs[c] / pq[c] : 0
                for i in 0..<n {
                    alpha.pointer[i * t + c] += step * p.pointer[i * t + c]
                    r.pointer[i * t + c] -= step * q.pointer[i * t + c]
                }
            }
            try applyPreconditioner()
            let next = try columnDots(r, s)
            for c in 0..<t {
                let ratio = rs[c] != 0 ? next[c] / rs[c] : 0
                for i in 0..<n { p.pointer[i * t + c] = s.pointer[i * t + c] + ratio * p.pointer[i * t + c] }
            }
            rs = next
            let rr = try columnDots(r, r)
            let relative = (0..<t).map { norms[$0] > 0 ? rr[$0].squareRoot() / norms[$0] : 0 }.max() ?? 0
            history.append(relative)
            converged = relative <= options.tolerance
            try progress.report(0.1 + 0.85 * Double(iteration) / Double(cap))
        }
        try InputCheck.finiteResult(alpha.pointer, count: nt, "the dual coefficients")
        if converged {
            Log.info("empirical NTK ridge: converged in \(iteration) iteration(s), relative residual \(history.last ?? 0)")
        } else {
            Log.warning("empirical NTK ridge: no convergence in \(cap) iterations; relative residual \(history.last ?? .nan) > tolerance \(options.tolerance); the model holds the last iterate")
        }
        // J(X)ᵀ α for predictions.
        let transposed = try Workspace(count: g.count, for: "J(X)ᵀ α")
        try op.transpose(view(alpha).readOnly, into: transposed, scratch: scratch)
        try partition.sum(transposed.pointer, transposed.count)
        self.n = n
        self.outputs = t
        self.ridge = z
        self.iterations = iteration
        self.residuals = history
        self.converged = converged
        self.preconditionerRank = m
        self.architecture = a
        self.theta = op.theta
        self.alpha = alpha
        self.transposed = transposed
        try progress.report(1)
    }

    /// `f₀ + K(x, X) α` (rows × t) at the rows of `x`.
    /// - Throws: `dimensionMismatch`, `nonFinite`, `outOfMemory`, `cancelled`.
    public func predict(x: MatrixView, offsets: MatrixView?, into out: MutableMatrixView, progress: ProgressHandler = .none) throws {
        try Self.predict(architecture, theta, transposed: transposed, columns: outputs, x: x, offsets: offsets,
                         count: 1, into: out.base, ld: out.ld, shape: out, progress: progress)
    }

    /// `f₀ + weight · Σ_c J_c(x) g[c, ·]` for `count` groups of t columns side by side in `g`
    /// (group f's prediction at `out + f·rows·ld`), one pass over the rows of `x`.
    static func predict(_ a: MLPArchitecture, _ theta: MLP.ParameterVector, transposed g: Workspace, columns t: Int,
                        x: MatrixView, offsets: MatrixView?, count: Int, into out: UnsafeMutablePointer<Double>, ld: Int,
                        shape: MutableMatrixView, progress: ProgressHandler) throws {
        guard x.cols == a.inputDimension else {
            throw NTKError.dimensionMismatch("X_test has \(x.cols) columns but the input dimension is \(a.inputDimension)")
        }
        try InputCheck.finite(x, "X_test")
        let rows = x.rows
        guard shape.rows == rows, shape.cols == t else {
            throw NTKError.dimensionMismatch("the prediction output is \(shape.rows) × \(shape.cols) but must be \(rows) × \(t)")
        }
        if let offsets {
            guard offsets.rows == rows, offsets.cols == t else {
                throw NTKError.dimensionMismatch("f0_test is \(offsets.rows) × \(offsets.cols) but must be \(rows) × \(t)")
            }
            try InputCheck.finite(offsets, "f0_test")
        }
        try progress.report(0)
        let width = count * t
        if rows == 0 || width == 0 { return try progress.report(1) }
        let block = min(rows, 2048)
        let pass = try NetworkPass(a, capacity: block, deltas: true)
        let widest = (0..<a.layerCount).map { max(a.fanIn($0), a.fanOut($0)) }.max() ?? 1
        let scratch = try Workspace(count: try Sizes.product(block, widest, "scratch"), for: "kernel product scratch")
        let products = try Workspace(count: try Sizes.product(block, width, "block predictions"), for: "block predictions")
        let weight = 1 / Double(a.outputDimension)
        for r0 in stride(from: 0, to: rows, by: block) {
            let r = r0..<min(r0 + block, rows)
            try pass.run(x.rowRange(r.lowerBound, r.upperBound), theta)
            let pb = products.matrix(r.count, width)
            try EmpiricalNTKOperator.forward(pass, UnsafePointer(g.pointer), columns: width, weight: weight, into: pb,
                                             scratch: scratch.pointer)
            try scatterPredictions(pb, rows: r, groups: count, outputs: t, total: rows, offsets: offsets, into: out, ld: ld,
                                   "the predictions")
            try progress.report(Double(r.upperBound) / Double(rows))
        }
    }

    /// Copies α (n × t) into `out`.
    public func copyDualCoefficients(into out: MutableMatrixView) throws {
        guard out.rows == n, out.cols == outputs else {
            throw NTKError.dimensionMismatch("the coefficient output is \(out.rows) × \(out.cols) but must be \(n) × \(outputs)")
        }
        for i in 0..<n { (out.base + i * out.ld).update(from: alpha.pointer + i * outputs, count: outputs) }
    }
}

/// `P⁻¹` for `P = U Uᵀ + z′I`, U = K(X, C) L⁻ᵀ the Nyström factor of the empirical NTK on m
/// uniform centres (see `EmpiricalNTKRidge`).
final class NystromPreconditioner {
    let u: Workspace        // n × m
    let inner: Workspace    // chol(z′I + UᵀU), m × m lower
    let shift: Double
    let n: Int, m: Int

    init(_ mlp: MLP, x: MatrixView, rank m: Int, ridge z: Double, seed: UInt64, budget: Int, progress: ProgressHandler) throws {
        let n = x.rows, d = x.cols
        let centers = try NystromCenters.uniform(n: n, m: m, seed: seed)
        let c = try Workspace(count: try Sizes.product(m, d, "centres"), for: "the centres")
        for (r, i) in centers.enumerated() { (c.pointer + r * d).update(from: x.row(i), count: d) }
        let u = try Workspace(count: try Sizes.product(n, m, "K(X, C)"), for: "the preconditioner's K(X, C)")
        try EmpiricalKernel.compute(mlp, x, MatrixView(unchecked: UnsafePointer(c.pointer), rows: m, cols: d, ld: max(d, 1)),
                                    into: u.matrix(n, m), memoryLimit: budget, progress: progress)
        // K_mm: the centres' rows of K(X, C).
        let kmm = try Workspace(count: m * m, for: "the centres' kernel")
        for (r, i) in centers.enumerated() { (kmm.pointer + r * m).update(from: u.pointer + i * m, count: m) }
        var trace = 0.0
        for i in 0..<m { trace += kmm.pointer[i * m + i] }
        let (l, _) = try NystromRidge.centerFactor(kmm.matrix(m, m).readOnly)
        // U = K_nm L⁻ᵀ.
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(n), Int32(m), 1,
                    UnsafePointer(l.pointer), Int32(m), u.pointer, Int32(m))
        let shift = z > 0 ? z : 1e-6 * max(trace / Double(m), Double.leastNormalMagnitude)
        let inner = try Workspace(count: m * m, for: "the preconditioner's inner matrix")
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(m), Int32(n), 1, u.pointer, Int32(m), 0, inner.pointer, Int32(m))
        for i in 0..<m { inner.pointer[i * m + i] += shift }
        try CholeskyFactorization.factorInPlace(inner.pointer, n: m, progress: .none)
        self.u = u
        self.inner = inner
        self.shift = shift
        self.n = n
        self.m = m
    }

    /// out = P⁻¹ r (n × t each).
    func apply(_ r: MatrixView, into out: MutableMatrixView) throws {
        let t = r.cols
        if t == 0 || n == 0 { return }
        let w = try Workspace(count: max(m * t, 1), for: "a preconditioner product")
        try MatrixProduct.gemm(u.matrix(n, m).readOnly, transposeA: true, r, into: w.matrix(m, t))
        let l = UnsafePointer(inner.pointer)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, Int32(m), Int32(t), 1, l, Int32(m), w.pointer, Int32(t))
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, Int32(m), Int32(t), 1, l, Int32(m), w.pointer, Int32(t))
        for i in 0..<n { for c in 0..<t { out[i, c] = r[i, c] } }
        try MatrixProduct.gemm(u.matrix(n, m).readOnly, w.matrix(m, t).readOnly, alpha: -1, beta: 1, into: out)
        let scale = 1 / shift
        for i in 0..<n { for c in 0..<t { out[i, c] *= scale } }
    }
}
