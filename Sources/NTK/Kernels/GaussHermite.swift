import CBLAS

/// Gauss–Hermite quadrature for the standard normal: nodes x_i and weights w_i (Σ w_i = 1)
/// with `E[f(Z)] ≈ Σ_i w_i f(x_i)`, exact for polynomials of degree < 2m.
///
/// Golub–Welsch: the nodes are the eigenvalues of the Jacobi matrix of the probabilists'
/// Hermite polynomials (zero diagonal, off-diagonal √1, …, √(m−1)), the weights the squared
/// first components of its unit eigenvectors (LAPACK DSTEV).
struct GaussHermite: Sendable {
    let nodes: [Double]
    let weights: [Double]

    init(points m: Int) throws {
        guard m >= 1, m <= 512 else { throw NTKError.invalidArgument("quadrature points must be in 1...512, got \(m)") }
        var diagonal = [Double](repeating: 0, count: m)
        var offDiagonal = (1..<max(m, 2)).map { Double($0).squareRoot() }
        var vectors = [Double](repeating: 0, count: m * m)
        let info = diagonal.withUnsafeMutableBufferPointer { d in
            offDiagonal.withUnsafeMutableBufferPointer { e in
                vectors.withUnsafeMutableBufferPointer { z in
                    LAPACKE_dstev(LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), Int32(m), d.baseAddress, e.baseAddress,
                                  z.baseAddress, Int32(m))
                }
            }
        }
        guard info == 0 else { throw NTKError.numericalFailure("the Gauss–Hermite eigenproblem failed (info \(info))") }
        nodes = diagonal
        // Column j (column-major) is the eigenvector of node j; its first entry is vectors[j·m].
        weights = (0..<m).map { vectors[$0 * m] * vectors[$0 * m] }
    }
}
