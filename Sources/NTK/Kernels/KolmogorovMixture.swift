#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Gaussian quadrature for the Kolmogorov distribution: nodes k_i > 0 and weights w_i (Σ w_i = 1)
/// with `E[g(K)] ≈ Σ_i w_i g(k_i)`, exact for polynomials of degree < 2M.
///
/// Why: the logistic distribution is a scale mixture of normals (Andrews & Mallows 1974): if K
/// has the Kolmogorov distribution, `2K·Z` is logistic, so
///
///     σ(x) = E_K[Φ(x / 2K)],     tanh(x) = 2σ(2x) − 1 = E_K[erf(x / (K√2))].
///
/// Every Gaussian expectation of tanh, sigmoid and softplus (whose derivative is σ) then becomes
/// an expectation over K of the closed forms of erf, and `InfiniteWidthKernel` evaluates those
/// with this rule: the integrands are smooth in K for every pre-activation variance (their
/// singularities sit at K = ±i√q, where the Kolmogorov density, ~exp(−π²/8K²) near 0, has no
/// mass), so a fixed small rule is accurate at any input scale — unlike Gauss–Hermite in the
/// pre-activations, whose error grows with the variance.
///
/// Construction: the density `f(k) = dF/dk` with `F(k) = 1 − 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²k²}`
/// (and, for k < 1, the equivalent fast-converging `F(k) = (√(2π)/k) Σ_{j≥1} e^{−(2j−1)²π²/8k²}`)
/// is discretised by composite Gauss–Legendre on [0, 7] (the mass beyond 7 is below e^{−98});
/// the Stieltjes procedure gives the recurrence of its orthogonal polynomials and Golub–Welsch
/// (LAPACK DSTEV) the nodes and weights. Rules are computed once per size and cached.
struct KolmogorovMixture: Sendable {
    let nodes: [Double]
    let weights: [Double]

    /// The largest rule size.
    static let maxPoints = 64

    private static let cache = Mutex<[Int: KolmogorovMixture]>([:])

    /// The M-point rule, 1 ≤ M ≤ 64 (cached).
    static func rule(_ m: Int) throws -> KolmogorovMixture {
        guard m >= 1, m <= maxPoints else {
            throw NTKError.invalidArgument("mixture points must be in 1...\(maxPoints), got \(m)")
        }
        if let r = cache.withLock({ $0[m] }) { return r }
        let r = try KolmogorovMixture(points: m)
        cache.withLock { $0[m] = r }
        return r
    }

    /// The Kolmogorov density at k ≥ 0.
    static func density(_ k: Double) -> Double {
        if k <= 0 { return 0 }
        if k < 1 {
            // d/dk [(√(2π)/k) e^{−a/k²}] = √(2π) e^{−a/k²} (2a/k⁴ − 1/k²), a = (2j−1)²π²/8.
            var s = 0.0
            for j in 1...8 {
                let a = Double((2 * j - 1) * (2 * j - 1)) * Double.pi * Double.pi / 8
                s += exp(-a / (k * k)) * (2 * a / (k * k * k * k) - 1 / (k * k))
            }
            return (2 * Double.pi).squareRoot() * s
        }
        var s = 0.0
        for j in 1...40 {
            let term = Double(j * j) * exp(-2 * Double(j * j) * k * k)
            s += j % 2 == 1 ? term : -term
        }
        return 8 * k * s
    }

    private init(points m: Int) throws {
        // The discretised measure: 350 panels of 20 Gauss–Legendre points on [0, 7].
        let legendre = try GaussLegendre(points: 20)
        let panels = 350, width = 7.0 / Double(panels)
        var x: [Double] = [], w: [Double] = []
        x.reserveCapacity(panels * 20)
        w.reserveCapacity(panels * 20)
        for p in 0..<panels {
            let a = Double(p) * width
            for (t, v) in zip(legendre.nodes, legendre.weights) {
                let k = a + width * (t + 1) / 2
                x.append(k)
                w.append(width / 2 * v * Self.density(k))
            }
        }
        let mass = w.reduce(0, +)
        for i in w.indices { w[i] /= mass }
        // Stieltjes: monic orthogonal polynomials p_{j+1} = (x − α_j) p_j − β_j p_{j−1}.
        var alpha = [Double](repeating: 0, count: m), beta = [Double](repeating: 0, count: m)
        var previous = [Double](repeating: 0, count: x.count), current = [Double](repeating: 1, count: x.count)
        var previousNorm = 1.0
        for j in 0..<m {
            var norm = 0.0, moment = 0.0
            for i in x.indices {
                let pw = w[i] * current[i] * current[i]
                norm += pw
                moment += pw * x[i]
            }
            alpha[j] = moment / norm
            beta[j] = j == 0 ? 1 : norm / previousNorm
            for i in x.indices {
                let next = (x[i] - alpha[j]) * current[i] - (j == 0 ? 0 : beta[j]) * previous[i]
                previous[i] = current[i]
                current[i] = next
            }
            previousNorm = norm
        }
        (nodes, weights) = try GolubWelsch.rule(diagonal: alpha, offDiagonal: (1..<m).map { beta[$0].squareRoot() },
                                                mass: 1, "the Kolmogorov rule")
    }

    /// The rule size that gives ~1e-12 relative accuracy for a pre-activation variance q (the
    /// integrands' singularities at K = ±i√q approach the Kolmogorov mass for small q).
    static func automaticPoints(_ q: Double) -> Int {
        q < 0.1 ? 24 : (q < 0.5 ? 20 : 16)
    }
}
