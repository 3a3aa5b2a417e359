/// GCV of Nyström kernel ridge and its exact gradient, for tuning beyond the dense ceiling: with
/// centres C (c points), `B = a K(X, C)` (n × c), `S = a K(C, C)`, `Q = BᵀB`, `A = Q + z S`,
/// `β = A⁻¹ Bᵀ R` and residuals `r = R − B β` — `NystromRidge`'s model, kernel ridge with
/// `K̃ = B S⁻¹ Bᵀ` — the hat matrix is `H = B A⁻¹ Bᵀ`, `tr H = ⟨A⁻¹, Q⟩` and
///
///     GCV = ‖r‖² / N / D²,   D = 1 − tr H / n,   N = n k.
///
/// With `u = A⁻¹ Bᵀ r`, `w = r − B u` and `P = A⁻¹ Q A⁻¹`, the derivatives in B and S are
///
///     d‖r‖² = −2 ⟨w βᵀ + r uᵀ, dB⟩ + z ⟨u βᵀ + β uᵀ, dS⟩,   d tr H = 2 ⟨B (A⁻¹ − P), dB⟩ − z ⟨P, dS⟩
///
/// (and in z: `2 ⟨u, S β⟩` and `−⟨P, S⟩`), so the kernel hyperparameters' gradient is one
/// contraction over the n × c cross kernel and one over the c × c centre kernel — O(n c (d + depth))
/// pair work, 2 n c² flops (Q and B (A⁻¹ − P)), O(c³), and two n × c matrices of memory; never
/// an n × n one. The value equals `NystromRidge`'s GCV for the same centres and ridge.
extension KernelObjective {
    /// Nyström GCV at (hyper, ridge z > 0, amplitude a > 0) with the centres `centers` (c × d)
    /// and its gradient with respect to `[W_std, b_std, s_1 … s_d, z, a]`.
    /// - Throws: `invalidArgument` (z, a, hyperparameters, no points or centres),
    ///   `dimensionMismatch`, `nonFinite`, `notPositiveDefinite` (BᵀB + z S), `numericalFailure`
    ///   (an interpolating fit, non-finite results), `outOfMemory`, `tooLarge`, `cancelled`.
    public static func nystromGCV(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind,
                                  _ x: MatrixView, centers: MatrixView, targets: Targets,
                                  hyper: KernelHyperparameters, ridge z: Double, amplitude a: Double = 1,
                                  points: Int = 0, progress: ProgressHandler = .none) throws
        -> (value: Double, gradient: [Double]) {
        try checkRidge(z, amplitude: a)
        let n = x.rows, c = centers.rows, d = x.cols, k = targets.outputs
        try targets.requireRows(n, "the kernel of X")
        guard n > 0, c > 0, k > 0 else {
            throw NTKError.invalidArgument("the Nyström objective needs n ≥ 1 points, c ≥ 1 centres and k ≥ 1 outputs")
        }
        guard centers.cols == d else {
            throw NTKError.dimensionMismatch("the centres have \(centers.cols) columns but X has \(d)")
        }
        let stacked = try Workspace(count: try Sizes.product(try Sizes.sum(n, c, "n + c"), d, "size of X and C"),
                                    for: "the points and centres")
        for i in 0..<n { (stacked.pointer + i * d).update(from: x.row(i), count: d) }
        for i in 0..<c { (stacked.pointer + (n + i) * d).update(from: centers.row(i), count: d) }
        let r = try KernelGradient.Recursion(architecture, kind: kind,
                                             MatrixView(unchecked: stacked.pointer, rows: n + c, cols: d, ld: d),
                                             hyper, points: points)
        let t = try NystromTerms(r, n: n, c: c, targets: targets, ridge: z, amplitude: a,
                                 progress: progress.stage(0, 0.4))
        let value = t.norm / Double(n * k) / (t.denominator * t.denominator)
        let (gB, gS, gz) = try t.weights()
        let sets: [KernelGradient.WeightedPairs] = [
            .block(rows: 0..<n, cols: n..<(n + c), g: gB.matrix(n, c).readOnly),
            .symmetric(points: n..<(n + c), g: gS.matrix(c, c).readOnly),
        ]
        let kernelPart = try KernelGradient.contract(r, sets, progress: progress.stage(0.4, 1)).map { a * $0 }
        let amplitude = try VectorOperations.dot(gB.pointer, t.b.pointer, count: n * c)
            + VectorOperations.dot(gS.pointer, t.s.pointer, count: c * c)
        let gradient = kernelPart + [gz, amplitude / a]
        guard value.isFinite, gradient.allSatisfy(\.isFinite) else {
            throw NTKError.numericalFailure("the Nyström GCV or its gradient is not finite (value \(value))")
        }
        return (value, gradient)
    }

    /// `nystromGCV` for `Matrix` inputs X (n × d), centres (c × d) and targets Y (n × k).
    public static func nystromGCV(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind, x: Matrix,
                                  centers: Matrix, y: Matrix, f0: Matrix? = nil, hyper: KernelHyperparameters,
                                  ridge: Double, amplitude: Double = 1,
                                  points: Int = 0) throws -> (value: Double, gradient: [Double]) {
        try x.withView { xv in
            try centers.withView { cv in
                try Targets.with(y, f0) { targets in
                    try nystromGCV(architecture, kind: kind, xv, centers: cv, targets: targets, hyper: hyper,
                                   ridge: ridge, amplitude: amplitude, points: points)
                }
            }
        }
    }
}

/// The matrices of the Nyström GCV (see `KernelObjective.nystromGCV`).
private struct NystromTerms {
    let n: Int, c: Int, k: Int, z: Double
    let b: Workspace, s: Workspace, q: Workspace, inverse: Workspace
    let beta: Workspace, residual: Workspace, u: Workspace, w: Workspace
    let norm: Double, denominator: Double

    init(_ r: KernelGradient.Recursion, n: Int, c: Int, targets: Targets, ridge z: Double, amplitude a: Double,
         progress: ProgressHandler) throws {
        let k = targets.outputs
        (self.n, self.c, self.k, self.z) = (n, c, k, z)
        b = try Workspace(count: try Sizes.product(n, c, "n × c"), for: "the cross kernel")
        s = try Workspace(count: c * c, for: "the centres' kernel")
        // B = K(X, C), and S = K(C, C) as a kernel of its own (exactly symmetric, exact diagonal).
        try r.kernel(0..<n, n..<(n + c), into: b.matrix(n, c), progress: progress.stage(0, 0.7))
        try r.kernel(n..<(n + c), into: s.matrix(c, c), progress: progress.stage(0.7, 0.8))
        try VectorOperations.scale(a, b.pointer, count: n * c)
        try VectorOperations.scale(a, s.pointer, count: c * c)
        q = try Workspace(count: c * c, for: "BᵀB")
        try MatrixProduct.syrkLower(b.matrix(n, c).readOnly, transposeA: true, into: q.matrix(c, c))
        Symmetry.mirrorLowerToUpper(q.pointer, n: c, ld: c)
        let system = try Workspace(count: c * c, for: "BᵀB + z S")
        system.pointer.update(from: q.pointer, count: c * c)
        try VectorOperations.axpy(z, s.pointer, system.pointer, count: c * c)
        let factor = try CholeskyFactorization(system.matrix(c, c).readOnly, progress: progress.stage(0.8, 0.9))
        inverse = try Workspace(count: c * c, for: "(BᵀB + z S)⁻¹")
        try factor.inverse(into: inverse.pointer)
        residual = try targets.residual()
        (beta, u, w) = (try Workspace(count: c * k, for: "β"), try Workspace(count: c * k, for: "u"),
                        try Workspace(count: n * k, for: "w"))
        let bv = b.matrix(n, c).readOnly, av = inverse.matrix(c, c).readOnly
        let scratch = try Workspace(count: c * k, for: "Bᵀ r")
        try MatrixProduct.gemm(bv, transposeA: true, residual.matrix(n, k).readOnly, into: scratch.matrix(c, k))
        try MatrixProduct.gemm(av, scratch.matrix(c, k).readOnly, into: beta.matrix(c, k))
        // r ← R − B β (in place), u = A⁻¹ Bᵀ r, w = r − B u.
        try MatrixProduct.gemm(bv, beta.matrix(c, k).readOnly, alpha: -1, beta: 1, into: residual.matrix(n, k))
        try MatrixProduct.gemm(bv, transposeA: true, residual.matrix(n, k).readOnly, into: scratch.matrix(c, k))
        try MatrixProduct.gemm(av, scratch.matrix(c, k).readOnly, into: u.matrix(c, k))
        w.pointer.update(from: residual.pointer, count: n * k)
        try MatrixProduct.gemm(bv, u.matrix(c, k).readOnly, alpha: -1, beta: 1, into: w.matrix(n, k))
        let norm = try VectorOperations.dot(residual.pointer, residual.pointer, count: n * k)
        let trace = try VectorOperations.dot(inverse.pointer, q.pointer, count: c * c)
        denominator = 1 - trace / Double(n)
        guard denominator > 1e-12 else {
            throw NTKError.numericalFailure("the Nyström fit interpolates (tr H = \(trace) of n = \(n)): GCV is "
                                            + "undefined; raise the ridge")
        }
        self.norm = norm
    }

    /// G_B (n × c), G_S (c × c) and the derivative in z.
    func weights() throws -> (Workspace, Workspace, Double) {
        let entries = Double(n * k), dd = denominator
        let c1 = 1 / (entries * dd * dd), c2 = 2 * norm / (entries * dd * dd * dd * Double(n))
        let av = inverse.matrix(c, c).readOnly, bv = b.matrix(n, c).readOnly
        let half = try Workspace(count: c * c, for: "A⁻¹ Q"), p = try Workspace(count: c * c, for: "A⁻¹ Q A⁻¹")
        try MatrixProduct.gemm(av, q.matrix(c, c).readOnly, into: half.matrix(c, c))
        try MatrixProduct.gemm(half.matrix(c, c).readOnly, av, into: p.matrix(c, c))
        // G_B = 2 c2 B (A⁻¹ − P) − 2 c1 (w βᵀ + r uᵀ).
        let difference = try Workspace(count: c * c, for: "A⁻¹ − P")
        difference.pointer.update(from: inverse.pointer, count: c * c)
        try VectorOperations.axpy(-1, p.pointer, difference.pointer, count: c * c)
        let gB = try Workspace(count: n * c, for: "the cross kernel's weights")
        try MatrixProduct.gemm(bv, difference.matrix(c, c).readOnly, alpha: 2 * c2, into: gB.matrix(n, c))
        try MatrixProduct.gemm(w.matrix(n, k).readOnly, beta.matrix(c, k).readOnly, transposeB: true, alpha: -2 * c1,
                               beta: 1, into: gB.matrix(n, c))
        try MatrixProduct.gemm(residual.matrix(n, k).readOnly, u.matrix(c, k).readOnly, transposeB: true,
                               alpha: -2 * c1, beta: 1, into: gB.matrix(n, c))
        // G_S = c1 z (u βᵀ + β uᵀ) − c2 z P.
        let gS = try Workspace(count: c * c, for: "the centres' weights")
        gS.pointer.update(from: p.pointer, count: c * c)
        try VectorOperations.scale(-c2 * z, gS.pointer, count: c * c)
        let uv = u.matrix(c, k).readOnly, betaView = beta.matrix(c, k).readOnly
        try MatrixProduct.gemm(uv, betaView, transposeB: true, alpha: c1 * z, beta: 1, into: gS.matrix(c, c))
        try MatrixProduct.gemm(betaView, uv, transposeB: true, alpha: c1 * z, beta: 1, into: gS.matrix(c, c))
        // d/dz: c1 · 2 ⟨u, S β⟩ − c2 ⟨P, S⟩.
        let sBeta = try Workspace(count: c * k, for: "S β")
        try MatrixProduct.gemm(s.matrix(c, c).readOnly, betaView, into: sBeta.matrix(c, k))
        let inner = try VectorOperations.dot(u.pointer, sBeta.pointer, count: c * k)
        let overlap = try VectorOperations.dot(p.pointer, s.pointer, count: c * c)
        return (gB, gS, 2 * c1 * inner - c2 * overlap)
    }
}
