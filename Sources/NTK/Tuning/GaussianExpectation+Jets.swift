#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The first derivatives of the Gaussian expectations, for kernel gradients: with
/// `T(q1, q2, c) = E[φ(u)φ(v)]` and `T'(q1, q2, c) = E[φ'(u)φ'(v)]` as in `GaussianExpectation`,
/// a pair jet holds T and T' as `Dual` numbers whose partials are (∂/∂q1, ∂/∂q2, ∂/∂c)
/// (so `t.partials[2] = T'` by Price's theorem), and a diagonal jet holds
/// `D(q) = T(q, q, q)`, `D'(q) = T'(q, q, q)` and their total derivatives in q.
///
/// - relu, leaky_relu and abs (positively homogeneous): T is homogeneous of degree 1 and T' of
///   degree 0 under u ↦ √λ u, so `q1 ∂T/∂q1 = (T − c T')/2` and `q1 ∂T'/∂q1 = −c ∂T'/∂c / 2`, with
///   `∂T'/∂c = 1/(2π √(q1 q2 − c²))` for relu (leaky: times (1 − α)²). At ρ = ±1 exactly that
///   derivative is infinite while every tangent that keeps the pair at ρ = ±1 (duplicate or
///   parallel inputs, for which the hyperparameters cannot change ρ) sees the finite limit 0:
///   the jet uses 0 there.
/// - erf, gelu, sin and identity: their closed forms evaluated on `Dual` numbers.
/// - tanh, sigmoid and softplus: the Kolmogorov mixture's node sums on `Dual` numbers (the direct
///   M1·M2 sum, not the power series: exact, about M1·M2 arcsines per pair).
/// - A zero variance (a zero-norm input without bias): the values of `degenerate` with zero
///   partials (the variance of such an input stays 0 under every hyperparameter but b_std).
extension GaussianExpectation {
    /// (T, T') with their partials in (q1, q2, c).
    func pairJet(_ q1: Double, _ q2: Double, _ c: Double) -> (t: Dual, dt: Dual) {
        if q1 <= 0 || q2 <= 0 {
            let (t, dt) = degenerate(q1, q2)
            return (Dual(t), Dual(dt))
        }
        let (u, v, w) = (Dual.variable(q1, 0), Dual.variable(q2, 1), Dual.variable(c, 2))
        switch activation {
        case .identity: return (w, Dual(1))
        case .relu: return Self.leakyJet(0, q1, q2, c)
        case .leakyReLU(let a): return Self.leakyJet(a, q1, q2, c)
        case .abs: return Self.leakyJet(-1, q1, q2, c)
        case .erf:
            let p = (1 + 2 * u) * (1 + 2 * v)
            let s = 2 * w / p.squareRoot()
            return (2 / Double.pi * Dual.asin(Self.clipped(s)), 4 / Double.pi / (p - 4 * w * w).squareRoot())
        case .sin:
            let e = Dual.exp(-0.5 * (u + v))
            return (e * Dual.sinh(w), e * Dual.cosh(w))
        case .gelu: return Self.geluJet(u, v, w)
        case .tanh, .sigmoid, .softplus: return mixtureJet(u, v, w)
        }
    }

    /// (D, D', dD/dq, dD'/dq) on the diagonal (ρ = 1 exactly).
    func diagonalJet(_ q: Double) -> (t: Double, dt: Double, tq: Double, dtq: Double) {
        if q <= 0 {
            let (t, dt) = degenerate(0, 0)
            return (t, dt, 0, 0)
        }
        switch activation {
        case .identity, .abs: return (q, 1, 1, 0)
        case .relu: return (q / 2, 0.5, 0.5, 0)
        case .leakyReLU(let a): return ((1 + a * a) * q / 2, (1 + a * a) / 2, (1 + a * a) / 2, 0)
        case .erf:
            let x = Dual.variable(q, 0)
            let t = 2 / Double.pi * Dual.asin(2 * x / (1 + 2 * x)), dt = 4 / Double.pi / (1 + 4 * x).squareRoot()
            return (t.value, dt.value, t.partials[0], dt.partials[0])
        case .sin:
            let x = Dual.variable(q, 0), e = Dual.exp(-x)
            let t = e * Dual.sinh(x), dt = e * Dual.cosh(x)
            return (t.value, dt.value, t.partials[0], dt.partials[0])
        case .gelu, .tanh, .sigmoid, .softplus:
            // D(q) = T(q, q, q): the total derivative sums the three partials.
            let (t, dt) = pairJet(q, q, q)
            let one = SIMD3<Double>(repeating: 1)
            return (t.value, dt.value, (t.partials * one).sum(), (dt.partials * one).sum())
        }
    }

    /// A correlation-like dual clipped to [−1, 1] in value (partials kept: the clip only guards
    /// rounding).
    private static func clipped(_ s: Dual) -> Dual { Dual(min(max(s.value, -1), 1), s.partials) }

    /// leaky_relu(α) = α x + (1 − α) relu(x) (α = 0: relu, α = −1: abs); see the type's notes.
    private static func leakyJet(_ a: Double, _ q1: Double, _ q2: Double, _ c: Double) -> (t: Dual, dt: Dual) {
        let (t, dt) = relu(q1, q2, c)
        let root = q1.squareRoot() * q2.squareRoot()
        let rho = c / root
        let sine = ((1 - rho) * (1 + rho)).squareRoot()
        let dtc = Swift.abs(rho) < 1 && sine > 0 ? 1 / (2 * Double.pi * root * sine) : 0
        let tRelu = Dual(t, SIMD3((t - c * dt) / (2 * q1), (t - c * dt) / (2 * q2), dt))
        let dtRelu = Dual(dt, SIMD3(-c * dtc / (2 * q1), -c * dtc / (2 * q2), dtc))
        let b = 1 - a, linear = a * a + a * b
        return (Dual(linear * c, SIMD3(0, 0, linear)) + b * b * tRelu, linear + b * b * dtRelu)
    }

    /// The gelu closed form of `GaussianExpectation.gelu` on duals.
    private static func geluJet(_ q1: Dual, _ q2: Dual, _ c: Dual) -> (t: Dual, dt: Dual) {
        let invTwoPi = 1 / (2 * Double.pi)
        let p = (1 + q1) * (1 + q2)
        let d = p - c * c, rootD = d.squareRoot()
        let angle = Dual.asin(clipped(c / p.squareRoot()))
        let kappa = (1 - q1 * q2) / p
        let numerator = q1 * q2 + kappa * c * c
        let t = c / 4 + invTwoPi * c * angle + invTwoPi * numerator / rootD
        let dt = 0.25 + invTwoPi * angle + invTwoPi * c * (1 + 2 * kappa) / rootD
            + invTwoPi * numerator * c / (d * rootD)
        return (t, dt)
    }

    /// tanh, sigmoid and softplus: the mixture sums of `mixtureSums` (direct form) on duals.
    private func mixtureJet(_ q1: Dual, _ q2: Dual, _ c: Dual) -> (t: Dual, dt: Dual) {
        let scale = activation == .tanh ? 1.0 : 0.25
        func point(_ q: Dual) -> (weights: [Double], roots: [Dual], mean: Dual) {
            let m = mixturePoints > 0 ? mixturePoints : KolmogorovMixture.automaticPoints(q.value * scale)
            guard let rule = try? KolmogorovMixture.rule(m) else { return ([], [], Dual(.nan)) }
            let roots = rule.nodes.map { 1 / ($0 * $0 + scale * q).squareRoot() }
            var mean = Dual(0)
            if activation == .softplus {
                var e = Dual(0)
                for (k, w) in zip(rule.nodes, rule.weights) { e = e + w * q / ((4 * k * k + q).squareRoot() + 2 * k) }
                mean = log(2.0) + 0.5 * (2 / Double.pi).squareRoot() * e
            }
            return (rule.weights, roots, mean)
        }
        let a = point(q1), b = point(q2)
        let cScaled = scale * c
        var sumAsin = Dual(0), sumRatio = Dual(0), sumSoftplus = Dual(0)
        for (wi, si) in zip(a.weights, a.roots) {
            let cutoff = Self.negligibleWeight / wi
            for (wj, tj) in zip(b.weights, b.roots) where wj >= cutoff {
                let x = Self.clipped(cScaled * si * tj)
                let root = ((1 - x) * (1 + x)).squareRoot()
                let angle = Dual.asin(x)
                let weight = wi * wj
                sumAsin = sumAsin + weight * angle
                if activation == .softplus {
                    sumSoftplus = sumSoftplus + weight * (c * angle - 4 / (si * tj) * x * x / (1 + root))
                } else {
                    sumRatio = sumRatio + weight * si * tj / root
                }
            }
        }
        let invTwoPi = 1 / (2 * Double.pi)
        switch activation {
        case .tanh: return (2 / Double.pi * sumAsin, 2 / Double.pi * sumRatio)
        case .sigmoid: return (0.25 + invTwoPi * sumAsin, sumRatio / (8 * Double.pi))
        default: return (a.mean * b.mean + c / 4 + invTwoPi * sumSoftplus, 0.25 + invTwoPi * sumAsin)
        }
    }
}
