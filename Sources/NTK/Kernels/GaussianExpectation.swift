#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Gaussian expectations of an activation that drive the infinite-width recursion:
/// for `(u, v) ~ N(0, [[q1, c], [c, q2]])`,
///
///     T(q1, q2, c)  = E[φ(u) φ(v)]        (the next layer's NNGP)
///     T'(q1, q2, c) = E[φ'(u) φ'(v)]      (the factor of the NTK)
///
/// Closed forms, with ρ = c/√(q1 q2) clipped to [−1, 1] and θ = arccos ρ:
/// - relu (arc-cosine kernel of degree 1): T = √(q1q2)(sin θ + (π − θ) cos θ)/(2π),
///   T' = (π − θ)/(2π);
/// - leaky_relu(α) = α·x + (1 − α)·relu: T = (α² + α(1 − α)) c + (1 − α)² T_relu,
///   T' = α² + α(1 − α) + (1 − α)² T'_relu; abs is the case α = −1;
/// - erf: T = (2/π) arcsin(2c/√((1 + 2q1)(1 + 2q2))), T' = (4/π)/√((1 + 2q1)(1 + 2q2) − 4c²);
/// - sin: T = e^{−(q1+q2)/2} sinh c, T' = e^{−(q1+q2)/2} cosh c;
/// - identity: T = c, T' = 1.
/// Every other activation (tanh, sigmoid, gelu, softplus) uses tensor-product Gauss–Hermite
/// quadrature with `u = √q1 z1`, `v = √q2 (ρ z1 + √(1 − ρ²) z2)`: m² evaluations per pair.
/// Its accuracy falls as the variances grow (features of φ at scale 1 in u are at scale 1/√q in
/// z): with m = 64, against the closed forms of erf and sin, ~1e-13 relative for q ≤ 1 and
/// |ρ| ≤ 0.9, ~6e-4 at q = 4 and |ρ| = 0.99 (tested).
/// Zero variances (zero-norm inputs without bias) make u or v the constant 0; then
/// `T = φ(0)·E[φ(v)]` and `T' = φ'(0)·E[φ'(v)]` exactly.
public struct GaussianExpectation: Sendable {
    let activation: Activation
    let quadrature: GaussHermite
    /// Whether a closed form exists.
    let closedForm: Bool

    /// - Parameter forceQuadrature: use quadrature even where a closed form exists (for tests).
    public init(_ activation: Activation, quadraturePoints: Int = 64, forceQuadrature: Bool = false) throws {
        self.activation = activation
        self.quadrature = try GaussHermite(points: quadraturePoints)
        switch activation {
        case .identity, .relu, .leakyReLU, .abs, .erf, .sin: closedForm = !forceQuadrature
        case .tanh, .sigmoid, .gelu, .softplus: closedForm = false
        }
    }

    private static let invTwoPi = 1 / (2 * Double.pi)

    /// (T, T') for one pair.
    @inline(__always)
    public func pair(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        if q1 <= 0 || q2 <= 0 { return degenerate(q1, q2) }
        if closedForm {
            switch activation {
            case .identity: return (c, 1)
            case .relu: return Self.relu(q1, q2, c)
            case .leakyReLU(let a): return Self.leaky(a, q1, q2, c)
            case .abs: return Self.leaky(-1, q1, q2, c)
            case .erf:
                let r1 = (1 + 2 * q1).squareRoot(), r2 = (1 + 2 * q2).squareRoot()
                let s = min(max(2 * c / r1 / r2, -1), 1)
                // (1 + 2q1)(1 + 2q2) − 4c² = (r1 r2)² (1 − s²), formed without overflow.
                let rest = max(1 - s * s, Double.leastNormalMagnitude).squareRoot()
                return (2 / Double.pi * asin(s), 4 / Double.pi / (r1 * r2 * rest))
            case .sin:
                let e = exp(-0.5 * (q1 + q2))
                return (e * sinh(c), e * cosh(c))
            default: break
            }
        }
        return quadraturePair(q1, q2, c)
    }

    @inline(__always)
    static func relu(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let root = q1.squareRoot() * q2.squareRoot()  // not √(q1 q2): no overflow for huge variances
        let rho = min(max(c / root, -1), 1)
        let theta = acos(rho)
        let t = root * ((1 - rho * rho).squareRoot() + (Double.pi - theta) * rho) * invTwoPi
        return (t, (Double.pi - theta) * invTwoPi)
    }

    @inline(__always)
    static func leaky(_ a: Double, _ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let (t, dt) = relu(q1, q2, c)
        let b = 1 - a
        return ((a * a + a * b) * c + b * b * t, a * a + a * b + b * b * dt)
    }

    /// Tensor-product Gauss–Hermite for (T, T').
    func quadraturePair(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let s1 = q1.squareRoot(), s2 = q2.squareRoot()
        let rho = min(max(c / (s1 * s2), -1), 1)
        let perp = (1 - rho * rho).squareRoot()
        let x = quadrature.nodes, w = quadrature.weights
        var t = 0.0, dt = 0.0
        for i in 0..<x.count {
            let u = s1 * x[i]
            let fu = activation.value(u), du = activation.derivative(u)
            var inner = 0.0, innerD = 0.0
            for j in 0..<x.count {
                let v = s2 * (rho * x[i] + perp * x[j])
                inner += w[j] * activation.value(v)
                innerD += w[j] * activation.derivative(v)
            }
            t += w[i] * fu * inner
            dt += w[i] * du * innerD
        }
        return (t, dt)
    }

    /// One or both variances zero: u (or v) is the constant 0.
    func degenerate(_ q1: Double, _ q2: Double) -> (Double, Double) {
        let phi0 = activation.value(0), dphi0 = activation.derivative(0)
        if q1 <= 0 && q2 <= 0 { return (phi0 * phi0, dphi0 * dphi0) }
        let (m, dm) = single(max(q1, q2))
        return (phi0 * m, dphi0 * dm)
    }

    /// (E[φ(√q Z)], E[φ'(√q Z)]): exact for the piecewise-linear activations, else quadrature.
    func single(_ q: Double) -> (Double, Double) {
        let r = (q / (2 * Double.pi)).squareRoot()
        switch activation {
        case .identity: return (0, 1)
        case .relu: return (r, 0.5)
        case .leakyReLU(let a): return ((1 - a) * r, (1 + a) / 2)
        case .abs: return (2 * r, 0)
        case .sin, .erf, .tanh: return (0, singleQuadrature(q).1)
        default: return singleQuadrature(q)
        }
    }

    private func singleQuadrature(_ q: Double) -> (Double, Double) {
        let s = q.squareRoot()
        var m = 0.0, dm = 0.0
        for (x, w) in zip(quadrature.nodes, quadrature.weights) {
            m += w * activation.value(s * x)
            dm += w * activation.derivative(s * x)
        }
        return (m, dm)
    }

    /// (E[φ(u)²], E[φ'(u)²]) for u ~ N(0, q): the diagonal, with ρ = 1 exactly.
    public func diagonal(_ q: Double) -> (Double, Double) {
        if q <= 0 { return degenerate(0, 0) }
        if closedForm {
            switch activation {
            case .identity: return (q, 1)
            case .relu: return (q / 2, 0.5)
            case .leakyReLU(let a): return ((1 + a * a) * q / 2, (1 + a * a) / 2)
            case .abs: return (q, 1)
            case .erf: return (2 / Double.pi * asin(2 * q / (1 + 2 * q)), 4 / Double.pi / (1 + 4 * q).squareRoot())
            case .sin: return (exp(-q) * sinh(q), exp(-q) * cosh(q))
            default: break
            }
        }
        let s = q.squareRoot()
        var t = 0.0, dt = 0.0
        for (x, w) in zip(quadrature.nodes, quadrature.weights) {
            let f = activation.value(s * x), d = activation.derivative(s * x)
            t += w * f * f
            dt += w * d * d
        }
        return (t, dt)
    }
}
