import CBLAS

/// Gaussian quadrature from the three-term recurrence of a measure's orthogonal polynomials
/// (Golub–Welsch): the nodes are the eigenvalues of the symmetric tridiagonal Jacobi matrix,
/// the weights the measure's total mass times the squared first components of its unit
/// eigenvectors (LAPACK DSTEV). Serves `GaussHermite`, `GaussLegendre` and `KolmogorovMixture`.
enum GolubWelsch {
    /// Nodes (ascending) and weights of the rule with Jacobi diagonal `diagonal` (m entries) and
    /// off-diagonal `offDiagonal` (m − 1 entries).
    static func rule(diagonal: [Double], offDiagonal: [Double], mass: Double,
                     _ what: String) throws -> ([Double], [Double]) {
        let m = diagonal.count
        var d = diagonal
        var e = offDiagonal + [0]  // DSTEV takes max(1, m − 1) entries
        var vectors = [Double](repeating: 0, count: m * m)
        let info = d.withUnsafeMutableBufferPointer { dp in
            e.withUnsafeMutableBufferPointer { ep in
                vectors.withUnsafeMutableBufferPointer { z in
                    LAPACKE_dstev(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), Int32(m), dp.baseAddress, ep.baseAddress,
                                  z.baseAddress, Int32(m))
                }
            }
        }
        guard info == 0 else { throw NTKError.numericalFailure("the eigenproblem of \(what) failed (info \(info))") }
        // Column j (column-major) is the eigenvector of node j; its first entry is vectors[j·m].
        return (d, (0..<m).map { mass * vectors[$0 * m] * vectors[$0 * m] })
    }
}
