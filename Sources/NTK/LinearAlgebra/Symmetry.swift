/// Symmetric-matrix plumbing: symmetrised copies in, mirrored triangles and transposes out.
///
/// Routines that factor a symmetric matrix copy it into a workspace anyway (LAPACK overwrites its
/// input). The copy is where the input is checked, finite and symmetric to a tolerance, and
/// replaced by `(K + Kᵀ)/2`, so the result does not depend on which triangle the caller filled.
/// All loops work on square tiles so that the transposed accesses stay in cache.
enum Symmetry {
    static let tile = 64

    /// Relative tolerance for `|K_ij − K_ji| ≤ tol · (|K_ij| + |K_ji| + √|K_ii K_jj|)`.
    /// It accepts kernels assembled in float32 or by unsymmetric GEMMs and rejects matrices
    /// that are not symmetric at all (a transposed or wrong argument).
    static let tolerance = 1e-6

    /// Writes the lower triangle (diagonal included) of `(k + kᵀ)/2` into `out` (n × n, leading
    /// dimension `ldOut`), after checking that `k` is finite and symmetric to `tolerance`.
    /// The strict upper triangle of `out` is left untouched: LAPACK's symmetric routines, called
    /// on the column-major "upper" triangle, read only this row-major lower one.
    static func symmetrizedCopy(_ k: MatrixView, into out: UnsafeMutablePointer<Double>, ldOut: Int,
                                name: String) throws {
        try InputCheck.square(k, name)
        try InputCheck.finite(k, name)
        let n = k.rows
        // √|K_ii|, so that the tolerance's √|K_ii K_jj| costs a multiplication.
        let rootDiagonal = try Workspace(count: n, for: "the symmetry check")
        let root = rootDiagonal.pointer
        for i in 0..<n { root[i] = abs(k[i, i]).squareRoot() }
        var worst = (excess: 0.0, i: 0, j: 0)
        forEachLower(n, diagonal: true) { i, j in
            let a = k[i, j], b = k[j, i]
            let excess = abs(a - b) - tolerance * (abs(a) + abs(b) + root[i] * root[j])
            if excess > worst.excess { worst = (excess, i, j) }
            out[i * ldOut + j] = 0.5 * (a + b)
        }
        if worst.excess > 0 {
            let (i, j) = (worst.i, worst.j)
            throw NTKError.invalidArgument(
                "\(name) is not symmetric: entry (\(i), \(j)) = \(k[i, j]) but (\(j), \(i)) = \(k[j, i])")
        }
    }

    /// Calls `body(i, j)` for every `j < i` (and `j = i` with `diagonal`) of an n × n matrix,
    /// tile by tile so that accesses to (j, i) stay in cache.
    @inline(__always)
    static func forEachLower(_ n: Int, diagonal: Bool, _ body: (Int, Int) throws -> Void) rethrows {
        for i0 in stride(from: 0, to: n, by: tile) {
            let i1 = min(i0 + tile, n)
            for j0 in stride(from: 0, through: i0, by: tile) {
                let j1 = min(j0 + tile, n)
                for i in i0..<i1 {
                    for j in j0..<min(j1, diagonal ? i + 1 : i) { try body(i, j) }
                }
            }
        }
    }

    /// Copies the lower triangle of the n × n matrix at `m` (leading dimension `ld`) onto its
    /// upper triangle.
    static func mirrorLowerToUpper<S>(_ m: UnsafeMutablePointer<S>, n: Int, ld: Int) {
        forEachLower(n, diagonal: false) { i, j in m[j * ld + i] = m[i * ld + j] }
    }

    /// Transposes the n × n matrix at `m` (leading dimension `ld`) in place.
    static func transposeInPlace(_ m: UnsafeMutablePointer<Double>, n: Int, ld: Int) {
        forEachLower(n, diagonal: false) { i, j in
            let t = m[i * ld + j]
            m[i * ld + j] = m[j * ld + i]
            m[j * ld + i] = t
        }
    }
}
