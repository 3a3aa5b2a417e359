/// Symmetric-matrix plumbing: symmetrised copies in, mirrored triangles and transposes out.
///
/// Routines that factor a symmetric matrix copy it into a workspace anyway (LAPACK overwrites its
/// input). The copy is where the input is checked, finite and symmetric to a tolerance, and
/// replaced by `(K + Kᵀ)/2`, so the result does not depend on which triangle LAPACK reads.
/// All loops work on square tiles so that the transposed accesses stay in cache.
enum Symmetry {
    static let tile = 64

    /// Relative tolerance for `|K_ij − K_ji| ≤ tol · (|K_ij| + |K_ji| + √|K_ii K_jj|)`.
    /// It accepts kernels assembled in float32 or by unsymmetric GEMMs and rejects matrices
    /// that are not symmetric at all (a transposed or wrong argument).
    static let tolerance = 1e-6

    /// Copies the square matrix `k` into `out` (n × n, leading dimension `ldOut`) as
    /// `(k + kᵀ)/2`, after checking that `k` is finite and symmetric to `tolerance`.
    static func symmetrizedCopy(_ k: MatrixView, into out: UnsafeMutablePointer<Double>, ldOut: Int,
                                name: String) throws {
        try InputCheck.square(k, name)
        try InputCheck.finite(k, name)
        let n = k.rows
        var i0 = 0
        while i0 < n {
            let i1 = min(i0 + tile, n)
            var j0 = 0
            while j0 <= i0 {
                let j1 = min(j0 + tile, n)
                for i in i0..<i1 {
                    let jEnd = min(j1, i + 1)
                    if j0 >= jEnd { continue }
                    for j in j0..<jEnd {
                        let a = k[i, j], b = k[j, i]
                        let scale = abs(a) + abs(b) + (abs(k[i, i]) * abs(k[j, j])).squareRoot()
                        if abs(a - b) > tolerance * scale {
                            throw NTKError.invalidArgument(
                                "\(name) is not symmetric: entry (\(i), \(j)) = \(a) but (\(j), \(i)) = \(b)")
                        }
                        let m = 0.5 * (a + b)
                        out[i * ldOut + j] = m
                        out[j * ldOut + i] = m
                    }
                }
                j0 += tile
            }
            i0 += tile
        }
    }

    /// Copies the lower triangle of the n × n matrix at `m` (leading dimension `ld`) onto its
    /// upper triangle.
    static func mirrorLowerToUpper(_ m: UnsafeMutablePointer<Double>, n: Int, ld: Int) {
        var i0 = 0
        while i0 < n {
            let i1 = min(i0 + tile, n)
            var j0 = 0
            while j0 <= i0 {
                let j1 = min(j0 + tile, n)
                for i in i0..<i1 {
                    for j in j0..<min(j1, i) { m[j * ld + i] = m[i * ld + j] }
                }
                j0 += tile
            }
            i0 += tile
        }
    }

    /// Transposes the n × n matrix at `m` (leading dimension `ld`) in place.
    static func transposeInPlace(_ m: UnsafeMutablePointer<Double>, n: Int, ld: Int) {
        var i0 = 0
        while i0 < n {
            let i1 = min(i0 + tile, n)
            var j0 = 0
            while j0 <= i0 {
                let j1 = min(j0 + tile, n)
                for i in i0..<i1 {
                    for j in j0..<min(j1, i) {
                        let t = m[i * ld + j]
                        m[i * ld + j] = m[j * ld + i]
                        m[j * ld + i] = t
                    }
                }
                j0 += tile
            }
            i0 += tile
        }
    }
}
