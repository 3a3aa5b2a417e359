/// Gauss–Legendre quadrature on [−1, 1]: `∫ f ≈ Σ_i w_i f(x_i)`, exact for polynomials of
/// degree < 2m (Golub–Welsch on the Legendre recurrence, off-diagonal j/√(4j² − 1)).
struct GaussLegendre {
    let nodes: [Double]
    let weights: [Double]

    init(points m: Int) throws {
        guard m >= 1 else { throw NTKError.invalidArgument("quadrature points must be ≥ 1, got \(m)") }
        (nodes, weights) = try GolubWelsch.rule(
            diagonal: [Double](repeating: 0, count: m),
            offDiagonal: (1..<m).map { j in Double(j) / (4 * Double(j * j) - 1).squareRoot() },
            mass: 2, "the Gauss–Legendre rule")
    }
}
