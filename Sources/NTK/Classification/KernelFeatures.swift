/// A kernel written as features, `K ≈ Φ Φᵀ` with Φ (n × r), together with the map back to the
/// kernel's columns: `Φ = K(X, Z) B` for the points Z that carry the model (the n training
/// points, or c Nyström centres) and a c × r matrix B. A model linear in the features,
/// `f = Φ w`, is then `f(x) = K(x, Z) β` with `β = B w`, and a new point's features are
/// `φ(x) = Bᵀ K(Z, x)`.
///
/// - `dense`: the eigendecomposition `K = V Λ Vᵀ`, `Φ = V_r Λ_r^{1/2}`, `B = V_r Λ_r^{-1/2}`,
///   keeping the r eigenvalues above `n · ε · λ_max` (a rank-deficient kernel loses the
///   directions it cannot represent; negative round-off eigenvalues are dropped). `Φ Φᵀ = K` on
///   its numerical range, so a penalty `‖w‖²` is the RKHS norm `fᵀ K⁺ f`.
/// - `nystrom`: `K_mm = L Lᵀ` (Cholesky, with jitter only if singular), `Φ = K_nm L⁻ᵀ`,
///   `B = L⁻ᵀ`: the Nyström kernel `K̃ = K_nm K_mm⁻¹ K_mn = Φ Φᵀ`, formed block by block from
///   the cross-kernel without ever holding n × n.
///
/// Immutable after creation.
final class KernelFeatures {
    /// n, the number of training points (rows of Φ).
    let n: Int
    /// r, the number of features.
    let rank: Int
    /// c, the number of kernel columns Z the model is expressed on (n for `dense`).
    let columns: Int
    /// Φ, n × r, contiguous.
    let phi: Workspace
    /// B, c × r, contiguous.
    let basis: Workspace
    /// Diagonal jitter added to K_mm (Nyström; 0 otherwise).
    let jitter: Double

    var features: MatrixView {
        MatrixView(unchecked: UnsafePointer(phi.pointer), rows: n, cols: rank, ld: max(rank, 1))
    }
    var basisView: MatrixView {
        MatrixView(unchecked: UnsafePointer(basis.pointer), rows: columns, cols: rank, ld: max(rank, 1))
    }

    private init(n: Int, rank: Int, columns: Int, phi: Workspace, basis: Workspace, jitter: Double) {
        self.n = n
        self.rank = rank
        self.columns = columns
        self.phi = phi
        self.basis = basis
        self.jitter = jitter
    }

    /// The features of a symmetric positive semi-definite kernel K (n × n) by its
    /// eigendecomposition. - Throws: as `SymmetricEigen`; `notPositiveDefinite` when K has no
    /// positive eigenvalue.
    static func dense(_ k: MatrixView, progress: ProgressHandler) throws -> KernelFeatures {
        try InputCheck.square(k, "K_train")
        try InputCheck.finite(k, "K_train")
        let n = k.rows
        let vectors = try Workspace(count: try Sizes.product(n, n, "size of K"), for: "the eigenvectors")
        let values = try Workspace(count: max(n, 1), for: "the eigenvalues")
        try SymmetricEigen.compute(k, values: values.pointer, vectors: vectors.matrix(n, n), progress: progress)
        let top = n > 0 ? values.pointer[n - 1] : 0
        let cutoff = Double(n) * Double.ulpOfOne * max(top, 0)
        let first = (0..<n).first { values.pointer[$0] > cutoff } ?? n
        let r = n - first
        guard r > 0 else { throw NTKError.notPositiveDefinite("the kernel has no positive eigenvalue") }
        if first > 0 {
            Log.info("kernel features: \(first) of \(n) eigenvalues of K are below \(cutoff) (n·ε·λ_max) and are "
                     + "dropped: the model lives on the kernel's numerical range")
        }
        let phi = try Workspace(count: try Sizes.product(n, r, "features"), for: "the kernel features")
        let basis = try Workspace(count: try Sizes.product(n, r, "features"), for: "the feature basis")
        for i in 0..<n {
            for j in 0..<r {
                let v = vectors.pointer[i * n + first + j], root = values.pointer[first + j].squareRoot()
                phi.pointer[i * r + j] = v * root
                basis.pointer[i * r + j] = v / root
            }
        }
        return KernelFeatures(n: n, rank: r, columns: n, phi: phi, basis: basis, jitter: 0)
    }

    /// The Nyström features of a cross-kernel `K(X, C)` (n × c, by blocks) and the centres'
    /// kernel `K(C, C)` (c × c). - Throws: `notPositiveDefinite` (K_mm singular beyond jitter
    /// 1e-6 × its mean diagonal), `dimensionMismatch`, `outOfMemory`, `cancelled`.
    static func nystrom(cross: CrossKernel, kCenters: MatrixView, progress: ProgressHandler) throws -> KernelFeatures {
        try InputCheck.square(kCenters, "K_mm")
        let n = cross.rows, c = cross.columns
        guard kCenters.rows == c else {
            throw NTKError.dimensionMismatch("K_mm is \(kCenters.rows) × \(kCenters.rows) but K_nm has \(c) columns")
        }
        let (l, jitter) = try NystromRidge.centerFactor(kCenters)
        let lView = MatrixView(unchecked: UnsafePointer(l.pointer), rows: c, cols: c, ld: max(c, 1))
        let phi = try Workspace(count: try Sizes.product(n, c, "features"), for: "the Nyström features")
        let blockRows = max(1, min(n, (1 << 22) / max(c, 1)))
        for r0 in stride(from: 0, to: n, by: blockRows) {
            let rows = min(blockRows, n - r0)
            let out = MutableMatrixView(unchecked: phi.pointer + r0 * c, rows: rows, cols: c, ld: max(c, 1))
            let block = try cross.block(r0..<(r0 + rows), scratch: out)
            if block.base != UnsafePointer(out.base) { out.copy(from: block) }
            try TriangularProduct.solve(lView, transpose: true, side: .right, out)  // K_nm L⁻ᵀ
            try progress.report(Double(r0 + rows) / Double(max(n, 1)))
        }
        let basis = try Workspace(count: try Sizes.product(c, c, "features"), for: "the feature basis")
        let b = basis.matrix(c, c)
        b.fill(0)
        for i in 0..<c { b[i, i] = 1 }
        try TriangularProduct.solve(lView, transpose: true, b)  // L⁻ᵀ
        return KernelFeatures(n: n, rank: c, columns: c, phi: phi, basis: basis, jitter: jitter)
    }

    /// `φ(x) = Bᵀ K(Z, x)` for test points given by their kernel against Z (m × c): m × r.
    func testFeatures(_ kernel: MatrixView) throws -> Workspace {
        guard kernel.cols == columns else {
            throw NTKError.dimensionMismatch("the test kernel has \(kernel.cols) columns but the model is expressed "
                                             + "on \(columns) points")
        }
        let out = try Workspace(count: try Sizes.product(kernel.rows, rank, "test features"), for: "test features")
        try MatrixProduct.gemm(kernel, basisView, into: out.matrix(kernel.rows, rank))
        return out
    }
}
