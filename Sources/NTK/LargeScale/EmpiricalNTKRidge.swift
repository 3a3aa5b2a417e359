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
/// (one parameter-space vector per network output and target column), and one pass over the test
/// points.
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
        /// The preconditioner's centres given as points (m × d, inputs of the network; m then
        /// replaces `preconditionerRank`); nil: `preconditionerRank` rows of X drawn with `seed`.
        /// With a partition they are how every part uses the same centres (drawn from all the
        /// rows by the caller, libntk_mpi for one). Networks only (a model's rows are indices).
        public var preconditionerCenters: Matrix? = nil
        /// Seed of the centres.
        public var seed: UInt64 = 0
        /// An MLP's NTK–vector products in single precision (its activations and signals kept
        /// as floats: half the memory, about half the time of a product). CG makes reliable
        /// updates from double products and stops on the double residual, so α is the double
        /// fit's to the tolerance (see `refine`); ill-conditioned systems take more iterations.
        public var singlePrecisionProducts = false
        /// Bytes of working memory (nil: the process-wide `MemoryBudget`).
        public var memoryLimit: Int? = nil
        /// The rows are one part of a data set split over processes (nil: they are all of it):
        /// `JᵀV` and the CG dot products are summed over the parts, so every part runs the
        /// iterations of the fit on all the rows and keeps its own rows' α. A preconditioner then
        /// needs `preconditionerCenters` (the same on every part): its m × m matrices and
        /// products are summed over the parts too.
        public var partition: DataPartition? = nil
        public init() {}

        /// The CG stopping rule. - Throws: `invalidArgument` for a bad tolerance, cap or rank, or
        /// a partition with a preconditioner.
        func settings() throws -> ConjugateGradient.Settings {
            guard preconditionerRank >= 0 else {
                throw NTKError.invalidArgument("the preconditioner rank must be >= 0, got \(preconditionerRank)")
            }
            guard partition == nil || preconditionerRank == 0 || preconditionerCenters != nil else {
                throw NTKError.invalidArgument(
                    "a data partition with a preconditioner needs its centres given (preconditionerCenters: the "
                        + "same points on every part), or preconditioner rank 0")
            }
            return try ConjugateGradient.Settings(tolerance: tolerance, maxIterations: maxIterations)
        }

        /// The MLP and inputs of single-precision products (nil: double products).
        /// - Throws: `invalidArgument` for single-precision products of anything but an MLP.
        func singleSource(_ source: TangentSource) throws -> (MLP, MatrixView)? {
            guard singlePrecisionProducts else { return nil }
            guard case .network(let mlp, let x) = source else {
                throw NTKError.invalidArgument("single-precision NTK-vector products are available for an MLP, not for "
                                               + "a layered network or a model; use double precision")
            }
            return (mlp, x)
        }
    }

    /// n, the number of training points (this part's, with a partition).
    public let n: Int
    /// k, the number of target columns.
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
    /// d, the network's input dimension (of test points); nil for a model fitted with a
    /// `TangentModel` (its test points are row indices).
    public var inputDimension: Int? { predictor.inputDimension }
    /// What applies J(x) at test points: the network's parameters read at the fit, or the model.
    let predictor: TangentPredictor
    /// α (n × k).
    let alpha: Workspace
    /// J(X)ᵀ α: one parameter-space vector per network output and target column.
    let transposed: Workspace

    /// The fit with the empirical NTK of `mlp` on the rows of `x`.
    /// - Throws: `invalidArgument` (ridge < 0, options), `dimensionMismatch`, `nonFinite`,
    ///   `outOfMemory` (before any work), `notPositiveDefinite` (the centres' kernel singular
    ///   beyond jitter), `cancelled`.
    public convenience init(mlp: MLP, x: MatrixView, targets: Targets, ridge z: Double, options: Options = Options(),
                            progress: ProgressHandler = .none) throws {
        try self.init(.network(mlp, x), targets: targets, ridge: z, options: options, progress: progress)
    }

    /// The fit with the empirical NTK of a layered `network` on the rows of `x` (its parameters
    /// as they are now, kept for predictions at inputs).
    /// - Throws: as `init(mlp:…)`.
    public convenience init(network: Network, x: MatrixView, targets: Targets, ridge z: Double,
                            options: Options = Options(), progress: ProgressHandler = .none) throws {
        try self.init(.layered(network.frozen(), x), targets: targets, ridge: z, options: options,
                      progress: progress)
    }

    /// The fit with the tangent kernel of `model` on the caller's data rows `rows` (indices the
    /// model understands); predictions then take row indices (`predict(rows:…)`). The model is
    /// kept for predictions.
    /// - Throws: as `init(mlp:…)`, and whatever the model's products throw.
    public convenience init(model: TangentModel, rows: [Int], targets: Targets, ridge z: Double,
                            options: Options = Options(), progress: ProgressHandler = .none) throws {
        try self.init(.model(model, rows), targets: targets, ridge: z, options: options, progress: progress)
    }

    init(_ source: TangentSource, targets: Targets, ridge z: Double, options: Options,
         progress: ProgressHandler) throws {
        try source.check()
        let n = source.n, k = targets.outputs
        guard targets.rows == n else { throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(n)") }
        try InputCheck.finite(z, "ridge")
        guard z >= 0 else { throw NTKError.invalidArgument("ridge must be >= 0, got \(z)") }
        let settings = try options.settings()
        let single = try options.singleSource(source)
        let partition = options.partition
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        let m = options.preconditionerCenters?.rows ?? min(options.preconditionerRank, n)
        // The preconditioner (`NystromPreconditioner.bytes`) and the CG vectors (6 n × k; 8 when
        // refined) first.
        let vectors = single == nil ? 6 * n : 8 * n
        let fixed = try Sizes.sum(try NystromPreconditioner.bytes(n: n, m: m),
                                  try Sizes.product(try Sizes.product(vectors, max(k, 1), "CG vectors"), 8, "bytes"),
                                  "working set")
        try MemoryBudget.require(fixed, within: budget,
                                 for: "matrix-free empirical NTK ridge (n = \(n), preconditioner rank \(m))")
        try progress.report(0)
        // The preconditioner first, its kernel in blocks of rows within a bounded working set, so
        // that its peak does not add to the operator's kept activations.
        let columnBudget = Self.preconditionerBudget(source, budget - fixed)
        let preconditioner = m > 0 ? try Self.preconditioner(source, rank: m, ridge: z, options: options,
                                                             budget: columnBudget, progress: progress.stage(0, 0.1))
                                   : nil
        let (op, exact, left) = try Self.operators(source, single: single, budget: budget - fixed)
        let g = try op.parameterVectors(columns: k, for: "parameter-space vectors")
        Log.info("empirical NTK ridge: \(n) points, \(k) target column(s), ridge \(z), CG "
                 + "\(m > 0 ? "with a rank-\(m) Nyström preconditioner" : "without preconditioner"), tolerance "
                     + "\(options.tolerance)\(single == nil ? "" : ", single-precision products refined in double")")
        // (K + zI) α = R by CG; K v = J(Jᵀv) summed over the parts of a partition.
        func system(_ op: TangentOperator, _ name: String) -> ConjugateGradient {
            ConjugateGradient(rows: n, columns: k, apply: { p, q, _ in
                try op.apply(p, into: q, g: g, partition: partition)
                if z > 0 { try VectorOperations.axpy(z, p.base, q.base, count: n * k) }
            }, preconditioner: preconditioner,
               reduce: partition.map { p in { values in values = try p.total(values) } }, name: name)
        }
        let alpha = try Workspace(count: max(n * k, 1), for: "the dual coefficients")
        let residual = try targets.residual()
        let report: (Int) throws -> Void = { iteration in
            try progress.report(0.1 + 0.85 * Double(min(iteration, settings.maxIterations))
                                / Double(settings.maxIterations))
        }
        let outcome: ConjugateGradient.Outcome
        if single == nil {
            outcome = try system(op, "empirical NTK ridge").solve(residual.matrix(n, k).readOnly,
                                                                  into: alpha.matrix(n, k), settings: settings,
                                                                  progress: report)
        } else {
            var mixed = system(op, "empirical NTK ridge (single-precision products)")
            let exactProduct = system(exact, "").apply
            mixed.exactApply = { try exactProduct($0, $1, 0) }
            // The fallback's double operator keeps its passes if they fit beside the float ones.
            outcome = try Self.refine(mixed, fallback: {
                system(left >= 256 << 20 ? try source.makeOperator(budget: left) : exact, "empirical NTK ridge (f64)")
            }, b: residual.matrix(n, k).readOnly, into: alpha.matrix(n, k), settings: settings, progress: report)
        }
        try InputCheck.finiteResult(alpha.pointer, count: n * k, "the dual coefficients")
        // J(X)ᵀ α for predictions, by double products.
        let transposed = try exact.parameterVectors(columns: k, for: "J(X)ᵀ α")
        try exact.transpose(alpha.matrix(n, k).readOnly, into: transposed.pointer)
        try partition.sum(transposed.pointer, k * exact.transposedLength)
        self.predictor = exact.predictor
        self.n = n
        self.outputs = k
        self.ridge = z
        self.iterations = outcome.iterations
        self.residuals = outcome.residuals
        self.converged = outcome.converged
        self.preconditionerRank = m
        self.alpha = alpha
        self.transposed = transposed
        try progress.report(1)
    }

    /// The rank-m Nyström preconditioner of the fit: centres given as points (the same on every
    /// part of a partition), or m rows drawn uniformly with the options' seed.
    static func preconditioner(_ source: TangentSource, rank m: Int, ridge z: Double, options: Options, budget: Int,
                               progress: ProgressHandler) throws -> NystromPreconditioner {
        let n = source.n
        func build(_ centers: PreconditionerCenters) throws -> NystromPreconditioner {
            try NystromPreconditioner(n: n, m: m, ridge: z, partition: options.partition, centerKernel: {
                try source.kernelColumns(centers, rows: nil, into: $0, budget: budget, progress: .none)
            }, rows: { rows, out in
                try source.kernelColumns(centers, rows: rows, into: out, budget: budget,
                                         progress: progress.stage(Double(rows.lowerBound) / Double(n),
                                                                  Double(rows.upperBound) / Double(n)))
            })
        }
        if let points = options.preconditionerCenters {
            return try points.withView(name: "the preconditioner's centres") { try build(.points($0)) }
        }
        return try build(.rows(try NystromCenters.uniform(n: n, c: m, seed: options.seed)))
    }

    /// The fit's operator and the one of exact (double) products: the same for double products;
    /// with single-precision products (`single`: the MLP and its inputs) the float operator
    /// keeping what fits, and a double one recomputing its passes per product in a quarter of
    /// `budget` (at most 256 MiB).
    /// `left`: what the two leave of `budget` (for a fallback's double operator).
    static func operators(_ source: TangentSource, single: (MLP, MatrixView)?,
                          budget: Int) throws -> (TangentOperator, exact: TangentOperator, left: Int) {
        guard let (mlp, x) = single else {
            let op = try source.makeOperator(budget: budget)
            return (op, op, 0)
        }
        let recompute = min(256 << 20, budget / 4)
        let exact = try EmpiricalNTKOperator(mlp, x: x, budget: recompute, keep: false)
        let op = try EmpiricalNTKOperator(mlp, x: x, budget: budget - recompute, single: true)
        return (op, exact, budget - recompute - op.keptBytes)
    }

    /// Solves `A α = B` (`A = K + zI`) by `mixed` — CG on single-precision products with
    /// reliable updates from double ones (`ConjugateGradient.exactApply`), which stops on the
    /// true residual — and, when the float products stall (too inexact for this system's
    /// conditioning), finishes with the CG `fallback` makes (on double products) on the correction:
    /// `A d = B − Aα`, α += d, to the reduction still needed. The outcome counts both solves'
    /// iterations, within the cap; the fallback's residuals are relative to B.
    static func refine(_ mixed: ConjugateGradient, fallback: () throws -> ConjugateGradient, b: MatrixView,
                       into alpha: MutableMatrixView, settings: ConjugateGradient.Settings,
                       progress: @escaping (Int) throws -> Void) throws -> ConjugateGradient.Outcome {
        guard let exact = mixed.exactApply else { throw NTKError(.internalError, "refinement without exact products") }
        let first = try mixed.solve(b, into: alpha, settings: settings, progress: progress)
        guard first.stalled, first.iterations < settings.maxIterations else { return first }
        let n = b.rows, k = b.cols, size = max(n * k, 1)
        let buffers = try (0..<2).map { _ in try Workspace(count: size, for: "the refinement vectors") }
        defer { withExtendedLifetime(buffers) {} }
        let r = buffers[0].matrix(n, k), d = buffers[1].matrix(n, k)
        // A stall is found at a reliable update, so the last residual is the true one.
        let relative = first.residuals.last ?? 1
        try exact(alpha.readOnly, r)
        for i in 0..<n { for c in 0..<k { r[i, c] = b[i, c] - r[i, c] } }
        Log.warning("empirical NTK ridge: single-precision products stalled at relative residual \(relative); the "
                    + "rest is solved with double products")
        let needed = min(1, settings.tolerance / max(relative, .leastNormalMagnitude))
        let rest = try ConjugateGradient.Settings(tolerance: needed,
                                                  maxIterations: settings.maxIterations - first.iterations)
        let second = try fallback().solve(r.readOnly, into: d, settings: rest) { try progress(first.iterations + $0) }
        for i in 0..<n { for c in 0..<k { alpha[i, c] += d[i, c] } }
        return ConjugateGradient.Outcome(iterations: first.iterations + second.iterations,
                                         residuals: first.residuals + second.residuals.map { $0 * relative },
                                         converged: second.converged, updates: first.updates)
    }

    /// The preconditioner's working memory for its kernel columns: a network's blocks of
    /// activations need little (256 MiB at most); a model's Jacobian blocks are what they are
    /// (half of what is left).
    static func preconditionerBudget(_ source: TangentSource, _ left: Int) -> Int {
        if case .network = source { return min(left, 256 << 20) }
        return left / 2
    }

    /// `f₀ + K(x, X) α` (rows × k) at the rows of `x` (a model fitted with a network).
    /// - Throws: `dimensionMismatch`, `nonFinite`, `outOfMemory`, `cancelled`.
    public func predict(x: MatrixView, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(at: .inputs(x), offsets: offsets, into: out, progress: progress)
    }

    /// `f₀ + K(x, X) α` (rows × k) at the caller's data rows `rows` (a model fitted with a
    /// `TangentModel`).
    /// - Throws: `invalidArgument`, `dimensionMismatch`, `nonFinite`, `outOfMemory`, `cancelled`,
    ///   and whatever the model's products throw.
    public func predict(rows: [Int], offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(at: .rows(rows), offsets: offsets, into: out, progress: progress)
    }

    func predict(at test: TangentTestPoints, offsets: MatrixView?, into out: MutableMatrixView,
                 progress: ProgressHandler) throws {
        try Self.predict(predictor, transposed: transposed.pointer, columns: outputs, at: test, offsets: offsets,
                         into: out, progress: progress)
    }

    /// `out = f₀ + (1/k′) Σ_c J_c(test) g_c` (m × columns) for parameter-space vectors `g` of
    /// `columns` columns, with offsets checked (m × columns).
    static func predict(_ predictor: TangentPredictor, transposed g: UnsafePointer<Double>, columns k: Int,
                        at test: TangentTestPoints, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler) throws {
        let rows = test.count
        guard out.rows == rows, out.cols == k else {
            throw NTKError.dimensionMismatch("the prediction output is \(out.rows) × \(out.cols) but must be "
                                             + "\(rows) × \(k)")
        }
        if let offsets {
            guard offsets.rows == rows, offsets.cols == k else {
                throw NTKError.dimensionMismatch("f0_test is \(offsets.rows) × \(offsets.cols) but must be \(rows) × "
                                                 + "\(k)")
            }
            try InputCheck.finite(offsets, "f0_test")
        }
        try predictor.predict(g, width: k, at: test, into: out, progress: progress)
        if let offsets {
            for i in 0..<rows { for c in 0..<k { out[i, c] += offsets[i, c] } }
        }
        try InputCheck.finiteResult(out, "the predictions")
    }

    /// Copies α (n × k) into `out`.
    public func copyDualCoefficients(into out: MutableMatrixView) throws {
        guard out.rows == n, out.cols == outputs else {
            throw NTKError.dimensionMismatch("the coefficient output is \(out.rows) × \(out.cols) but must be \(n) × "
                                             + "\(outputs)")
        }
        for i in 0..<n { (out.base + i * out.ld).update(from: alpha.pointer + i * outputs, count: outputs) }
    }
}
