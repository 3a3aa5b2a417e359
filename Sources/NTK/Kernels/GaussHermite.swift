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
        (nodes, weights) = try GolubWelsch.rule(diagonal: [Double](repeating: 0, count: m),
                                                offDiagonal: (1..<m).map { Double($0).squareRoot() },
                                                mass: 1, "the Gauss–Hermite rule")
    }
}
