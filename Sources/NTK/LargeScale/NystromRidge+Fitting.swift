/// Fitting a `NystromRidge` on points: centre selection, the centres' kernel and its factor.
extension NystromRidge {
    /// - Throws: as the cross-kernel initialiser; `invalidArgument` unless 1 ≤ c ≤ n.
    public static func fit(kernel: PointKernel, x: MatrixView, targets: Targets, ridge: Double, centers c: Int,
                           selection: NystromCenters.Selection = .uniform, seed: UInt64 = 0,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        guard x.cols == kernel.inputDimension else {
            throw NTKError.dimensionMismatch("X has \(x.cols) columns but the input dimension is "
                                             + "\(kernel.inputDimension)")
        }
        guard targets.rows == x.rows else {
            throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(x.rows)")
        }
        try InputCheck.finite(x, "X")
        try Self.check(ridge: ridge, options: options)
        try NystromCenters.check(n: x.rows, c: c)
        let budget = try MemoryBudget.resolve(options.memoryLimit)
        try MemoryBudget.require(try fixedBytes(c: c, k: targets.outputs, solver: options.solver, blockRows: 64),
                                 within: budget, for: "a Nyström fit with \(c) centres")
        try progress.report(0)
        let indices: [Int]
        switch selection {
        case .uniform:
            indices = try NystromCenters.uniform(n: x.rows, c: c, seed: seed)
        case .pivotedCholesky:
            indices = try NystromCenters.pivotedCholesky(kernel, x: x, c: c, seed: seed, budget: budget,
                                                         progress: progress.stage(0, 0.2))
        }
        let d = x.cols, chosen = indices.count
        let points = try Workspace(count: try Sizes.product(chosen, d, "centre points"), for: "the centres")
        for (r, i) in indices.enumerated() { (points.pointer + r * d).update(from: x.row(i), count: d) }
        let view = MatrixView(unchecked: UnsafePointer(points.pointer), rows: chosen, cols: d, ld: max(d, 1))
        let kmm = try Workspace(count: try Sizes.product(chosen, chosen, "centre kernel"), for: "the centres' kernel")
        try kernel.evaluate(view, nil, into: kmm.matrix(chosen, chosen), progress: .none)
        let cross = try ComputedCrossKernel(kernel, x: x, centers: view)
        return try NystromRidge(cross: cross, kCenters: kmm.matrix(chosen, chosen).readOnly, targets: targets,
                                ridge: ridge,
                                options: options, kernel: kernel, centerIndices: indices, centerPoints: points,
                                progress: progress.stage(selection == .uniform ? 0 : 0.2, 1))
    }

    /// Fits on `K(X, C)` of `kernel` with the caller's centres C (c × d, any points, not
    /// necessarily rows of X) — for instance the same centres on every part of a partition.
    /// - Throws: as the cross-kernel initialiser; `invalidArgument` when C has no rows.
    public static func fit(kernel: PointKernel, x: MatrixView, targets: Targets, ridge: Double,
                           centers given: MatrixView,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        let d = kernel.inputDimension
        guard x.cols == d else {
            throw NTKError.dimensionMismatch("X has \(x.cols) columns but the input dimension is \(d)")
        }
        guard given.cols == d else {
            throw NTKError.dimensionMismatch("C has \(given.cols) columns but the input dimension is \(d)")
        }
        guard targets.rows == x.rows else {
            throw NTKError.dimensionMismatch("Y has \(targets.rows) rows but X has \(x.rows)")
        }
        let c = given.rows
        guard c >= 1 else { throw NTKError.invalidArgument("the number of centres must be >= 1") }
        try InputCheck.finite(x, "X")
        try InputCheck.finite(given, "C")
        try Self.check(ridge: ridge, options: options)
        let points = try Workspace(count: try Sizes.product(c, d, "centre points"), for: "the centres")
        for r in 0..<c { (points.pointer + r * d).update(from: given.row(r), count: d) }
        let own = MatrixView(unchecked: UnsafePointer(points.pointer), rows: c, cols: d, ld: max(d, 1))
        let kmm = try Workspace(count: try Sizes.product(c, c, "centre kernel"), for: "the centres' kernel")
        try kernel.evaluate(own, nil, into: kmm.matrix(c, c), progress: .none)
        let cross = try ComputedCrossKernel(kernel, x: x, centers: own)
        return try NystromRidge(cross: cross, kCenters: kmm.matrix(c, c).readOnly, targets: targets, ridge: ridge,
                                options: options, kernel: kernel, centerIndices: [], centerPoints: points,
                                progress: progress)
    }

    /// L with `K_mm + jitter·I = L Lᵀ`, zeros above the diagonal; jitter 0, else 1e-12, 1e-11, …
    /// up to 1e-6 times the mean diagonal.
    static func centerFactor(_ kmm: MatrixView) throws -> (Workspace, Double) {
        let c = kmm.rows
        try InputCheck.finite(kmm, "K_mm")
        let l = try Workspace(count: c * c, for: "the centres' Cholesky factor")
        var trace = 0.0
        for i in 0..<c { trace += kmm[i, i] }
        let scale = trace > 0 ? trace / Double(c) : 1
        var jitter = 0.0
        while true {
            try Symmetry.symmetrizedCopy(kmm, into: l.pointer, ldOut: c, name: "K_mm")
            for i in 0..<c { l.pointer[i * c + i] += jitter }
            do {
                try CholeskyFactorization.factorInPlace(l.pointer, n: c, progress: .none)
                break
            } catch let e as NTKError where e.kind == .notPositiveDefinite {
                guard jitter < 1e-6 * scale else {
                    throw NTKError.notPositiveDefinite("the centres' kernel K_mm is singular even with jitter "
                                                       + "\(jitter) (1e-6 × its mean diagonal): are centres "
                                                           + "repeated, or is the kernel degenerate?")
                }
                jitter = jitter == 0 ? 1e-12 * scale : jitter * 10
            }
        }
        for i in 0..<c { for j in (i + 1)..<c { l.pointer[i * c + j] = 0 } }
        if jitter > 0 { Log.warning("Nyström: K_mm is numerically singular; added jitter "
                                    + "\(jitter) (\(jitter / scale) × mean diagonal)") }
        return (l, jitter)
    }

}
