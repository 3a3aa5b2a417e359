/// The `.direct` Nyström solver: the normal equations in one pass over `K(X, C)`, then the
/// spectrum of the Nyström kernel, from which every filter's coefficients follow.
extension NystromRidge {
    /// One pass for `G = K_mnK_nm`, `K_mn R` and ‖R‖² (summed over the parts of a partition in one
    /// reduction), then `M = L⁻¹GL⁻ᵀ = UΛUᵀ`. Λ are the non-zero eigenvalues of K̃ = ΦΦᵀ
    /// (Φ = K_nm L⁻ᵀ); with `q = Uᵀ L⁻¹ K_mn R`, the targets in K̃'s orthonormal eigenbasis are
    /// `c_i / √λ_i` and the mass outside the span of Φ is `‖R‖² − Σ_i c_i²/λ_i`.
    static func directSolution(pass: CrossKernelPass, totalRows: Int, factor: Workspace, residual r: MatrixView,
                               partition: DataPartition?, progress: ProgressHandler) throws -> DirectSolution {
        let c = pass.c, k = r.cols
        let l = factor.matrix(c, c).readOnly
        let (g, b, squares) = try normalEquations(pass: pass, residual: r, partition: partition)
        defer { withExtendedLifetime(g) {} }  // b and M are views into it
        // M = L⁻¹ G L⁻ᵀ, symmetrised.
        let mm = g.matrix(c, c)
        Symmetry.mirrorLowerToUpper(g.pointer, n: c, ld: c)
        try TriangularProduct.solve(l, mm)
        try TriangularProduct.solve(l, transpose: true, side: .right, mm)
        for i in 0..<c {
            for j in 0..<i {
                let s = 0.5 * (mm[i, j] + mm[j, i])
                mm[i, j] = s
                mm[j, i] = s
            }
        }
        try InputCheck.finiteResult(g.pointer, count: c * c, "the Nyström normal matrix")
        let vectors = try Workspace(count: c * c, for: "the Nyström eigenvectors")
        var raw = [Double](repeating: 0, count: c)
        try raw.withUnsafeMutableBufferPointer { w in
            try SymmetricEigen.compute(mm.readOnly, values: w.baseAddress!, vectors: vectors.matrix(c, c),
                                       progress: pass.progress.stage(0.85, 0.99))
        }
        let eigenvalues = try Spectrum.regularize(raw).values
        // q = Uᵀ L⁻¹ K_mn R.
        try TriangularProduct.solve(l, b)
        let projected = try Workspace(count: try Sizes.product(c, max(k, 1), "projected targets"),
                                      for: "the projected targets")
        try MatrixProduct.gemm(vectors.matrix(c, c).readOnly, transposeA: true, b.readOnly,
                               into: projected.matrix(c, k))
        var p = [Double](repeating: 0, count: c * k)
        var outside = 0.0
        for j in 0..<k {
            var inside = 0.0
            for i in 0..<c where eigenvalues[i] > 0 {
                let ci = projected.pointer[i * k + j]
                p[i * k + j] = ci / eigenvalues[i].squareRoot()
                inside += ci * ci / eigenvalues[i]
            }
            outside += max(squares[j] - inside, 0)
        }
        Log.info("Nyström: eigendecomposition of the \(c) x \(c) normal matrix, λ in [\(raw.first ?? 0), "
                 + "\(raw.last ?? 0)], \(eigenvalues.filter { $0 == 0 }.count) direction(s) treated as null")
        let spectrum = try Spectrum(eigenvalues: eigenvalues, points: totalRows, projected: p, outputs: k,
                                    outsideSpan: outside)
        return DirectSolution(spectrum: spectrum, vectors: vectors, projected: projected)
    }

    /// `G = K_mnK_nm` (lower triangle), `K_mn R` (c × k) and `‖R_j‖²` per output, in one pass and
    /// one reduction over the parts of a partition.
    private static func normalEquations(pass: CrossKernelPass, residual r: MatrixView, partition: DataPartition?) throws
        -> (g: Workspace, b: MutableMatrixView, squares: [Double]) {
        let n = pass.n, c = pass.c, k = r.cols
        // One buffer: G (c × c), K_mn R (c × k), then ‖R_j‖² per column.
        let g = try Workspace(count: try Sizes.sum(c * c, try Sizes.product(c + 1, max(k, 1), "K_mn R"),
                                                   "normal equations"),
                              for: "K_mn K_nm")
        let b = MutableMatrixView(unchecked: g.pointer + c * c, rows: c, cols: k, ld: max(k, 1))
        g.pointer.update(repeating: 0, count: g.count)
        try pass.forEachBlock(report: { 0.85 * $0 }) { rows, kb in
            try MatrixProduct.syrkLower(kb, transposeA: true, beta: 1, into: g.matrix(c, c))
            try MatrixProduct.gemm(kb, transposeA: true, r.rowRange(rows.lowerBound, rows.upperBound), beta: 1, into: b)
        }
        let squares = g.pointer + c * c + c * max(k, 1)
        for j in 0..<k {
            var total = 0.0
            for i in 0..<n { total += r[i, j] * r[i, j] }
            squares[j] = total
        }
        try partition.sum(g.pointer, g.count)
        return (g, b, Array(UnsafeBufferPointer(start: squares, count: k)))
    }

    /// β for each filter: `L⁻ᵀ U g(Λ) q`, written side by side into `out` (c × filters·k).
    static func filteredCoefficients(_ direct: DirectSolution, factor: Workspace, filters: [SpectralFilter],
                                     into out: MutableMatrixView) throws {
        let c = direct.spectrum.count, k = direct.spectrum.outputs, width = filters.count * k
        if width == 0 { return }
        let scaled = try Workspace(count: try Sizes.product(c, width, "filtered targets"), for: "the filtered targets")
        try direct.spectrum.filtered(filters, shrink: false, directions: 0..<c,
                                     source: direct.projected.matrix(c, k).readOnly,
                                     into: scaled.matrix(c, width))
        try MatrixProduct.gemm(direct.vectors.matrix(c, c).readOnly, scaled.matrix(c, width).readOnly, into: out)
        try TriangularProduct.solve(factor.matrix(c, c).readOnly, transpose: true, out)
    }
}
