/// The `.conjugateGradient` Nyström solver: Falkon.
extension NystromRidge {
    /// CG (`ConjugateGradient`) on `Bᵀ H B γ = Bᵀ K_mn R` with `H = K_mnK_nm + z L Lᵀ` and the
    /// `FalkonPreconditioner` B (B = I unpreconditioned); writes β = B γ into `beta` (c × k). Each
    /// iteration is one pass over `K(X, C)` (`K_mn (K_nm v)`), summed over the parts of a partition.
    static func falkon(pass: CrossKernelPass, totalRows n: Int, factor: Workspace, residual r: MatrixView,
                       ridge z: Double,
                       options: Options, into beta: MutableMatrixView, progress: ProgressHandler) throws
        -> ConjugateGradient.Outcome {
        let c = pass.c, k = r.cols
        let settings = try options.settings()
        if k == 0 { return ConjugateGradient.Outcome(iterations: 0, residuals: [], converged: true) }
        let l = factor.matrix(c, c).readOnly
        let b = options.preconditioned ? try preconditioner(pass: pass, totalRows: n, factor: l, ridge: z,
                                                            options: options) : nil
        let mk = c * k
        // v (scratch), the right-hand side and γ; kept alive to the end of the solve.
        let buffers = try (0..<3).map { _ in try Workspace(count: mk, for: "the Falkon vectors") }
        defer { withExtendedLifetime(buffers) {} }
        let v = buffers[0].matrix(c, k), rhs = buffers[1].matrix(c, k), gamma = buffers[2].matrix(c, k)
        let u = try Workspace(count: try Sizes.product(pass.cache != nil ? pass.n : pass.blockRows, k, "block product"),
                              for: "a block product")
        let start = pass.cache != nil ? 0.3 : 0.0
        let span = (1 - start) / Double(settings.maxIterations + 1)
        // Right-hand side Bᵀ K_mn R.
        rhs.fill(0)
        try pass.forEachBlock(report: { start + span * $0 }) { rows, kb in
            try MatrixProduct.gemm(kb, transposeA: true, r.rowRange(rows.lowerBound, rows.upperBound), beta: 1,
                                   into: rhs)
        }
        try options.partition.sum(rhs.base, mk)
        try b?.applyTranspose(rhs)
        let cg = ConjugateGradient(rows: c, columns: k, apply: { p, out, iteration in
            // out ← Bᵀ H B p.
            v.copy(from: p)
            try b?.apply(v)
            try pass.normalProduct(v.readOnly, into: out, block: u, report: { start + span * (Double(iteration) + $0) })
            try options.partition.sum(out.base, mk)
            if z > 0 {
                // + z L Lᵀ v
                try TriangularProduct.multiply(l, transpose: true, v)
                try TriangularProduct.multiply(l, v)
                try VectorOperations.axpy(z, v.base, out.base, count: mk)
            }
            try b?.applyTranspose(out)
        }, preconditioner: nil, reduce: nil, name: "Nyström CG")
        let outcome = try cg.solve(rhs.readOnly, into: gamma, settings: settings)
        try b?.apply(gamma)
        beta.copy(from: gamma.readOnly)
        return outcome
    }

    /// Falkon's preconditioner (`FalkonPreconditioner`): sketched from s evenly spaced rows of
    /// `K(X, C)` (`options.preconditionerRows`, default min(n, 16 c); each part of a partition its
    /// share), or from the centres (0). Logs the cost model: its setup, then the cost per iteration.
    static func preconditioner(pass: CrossKernelPass, totalRows n: Int, factor l: MatrixView, ridge z: Double,
                               options: Options) throws -> FalkonPreconditioner {
        let c = pass.c, local = pass.n, cd = Double(c)
        let s = min(n, options.preconditionerRows ?? 16 * c)
        let each = pass.cache != nil ? "4·n·c·k flops on the cached rows"
            : (pass.cross.computesBlocks ? "n·c kernel entries + 4·n·c·k flops" : "4·n·c·k flops")
        let iteration = "each iteration \(each) (the direct solver: \(Log.count(Double(n) * cd * cd)) flops once)"
        guard s > 0 else {
            Log.info("Falkon preconditioner: the centres ((n/c) K_mm², \(Log.count(2 * cd * cd * cd)) flops); "
                     + iteration)
            return try FalkonPreconditioner(factor: l, points: n, ridge: z)
        }
        // This part's share of the s rows, evenly spaced (the data's order, sorted or not, is covered).
        let mine = n > 0 ? min(local, Int((Double(s) * Double(local) / Double(n)).rounded(.up))) : 0
        let indices = (0..<mine).map { min(local - 1, Int((Double($0) + 0.5) * Double(local) / Double(mine))) }
        let blockRows = max(1, min(pass.blockRows, 1024))
        let buffer = try Workspace(count: max(try Sizes.product(blockRows, c, "preconditioner rows"), 1),
                                   for: "the preconditioner's kernel rows")
        let fresh = pass.cache == nil && pass.cross.computesBlocks
        let setup = 2 * Double(s) * cd * cd + cd * cd * cd / 3
        Log.info("Falkon preconditioner: sketch of K_mnK_nm from \(s) of \(n) rows ("
                 + (fresh ? "\(Log.count(Double(s) * cd)) kernel entries, " : "") + "\(Log.count(setup)) flops); "
                 + iteration)
        return try FalkonPreconditioner(factor: l, points: n, ridge: z, partition: options.partition,
                                        sampledRows: mine) { body in
            try pass.forEachSampledBlock(indices, buffer: buffer, blockRows: blockRows, body)
        }
    }
}
