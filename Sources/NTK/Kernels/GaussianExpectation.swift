#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Gaussian expectations of an activation that drive the infinite-width recursion:
/// for `(u, v) ~ N(0, [[q1, c], [c, q2]])`,
///
///     T(q1, q2, c)  = E[φ(u) φ(v)]        (the next layer's NNGP)
///     T'(q1, q2, c) = E[φ'(u) φ'(v)]      (the factor of the NTK; T' = ∂T/∂c by Price's theorem)
///
/// Every activation has an exact or error-controlled formula, accurate at any variance:
/// - Closed forms, with ρ = c/√(q1 q2) clipped to [−1, 1] and θ = arccos ρ:
///   - relu (arc-cosine kernel of degree 1): T = √(q1q2)(sin θ + (π − θ) cos θ)/(2π),
///     T' = (π − θ)/(2π);
///   - leaky_relu(α) = α·x + (1 − α)·relu: T = (α² + α(1 − α)) c + (1 − α)² T_relu,
///     T' = α² + α(1 − α) + (1 − α)² T'_relu; abs is the case α = −1;
///   - erf: T = (2/π) arcsin(2c/√((1 + 2q1)(1 + 2q2))), T' = (4/π)/√((1 + 2q1)(1 + 2q2) − 4c²);
///   - gelu (exact x·Φ(x)), with P = (1 + q1)(1 + q2), D = P − c², r = c/√P,
///     κ = (1 − q1q2)/P and N = q1q2 + κc²: T = c/4 + c·arcsin(r)/(2π) + N/(2π√D),
///     T' = 1/4 + arcsin(r)/(2π) + c(1 + 2κ)/(2π√D) + N c/(2π D^{3/2}) (from Φ(u)Φ(v) =
///     P(A ≤ u, B ≤ v) with independent standard normals A, B and Gaussian integration by parts);
///   - sin: T = e^{−(q1+q2)/2} sinh c, T' = e^{−(q1+q2)/2} cosh c;
///   - identity: T = c, T' = 1.
/// - tanh, sigmoid and softplus through the normal scale mixture of the logistic
///   (`KolmogorovMixture`): tanh(x) = E_K[erf(x/(K√2))], so with s = 1/√(K² + q1),
///   t = 1/√(K'² + q2) for independent Kolmogorov K, K' and x = c·s·t (always < 1),
///   T_tanh = (2/π) E[arcsin x], T'_tanh = (2/π) E[s t/√(1 − x²)]; sigmoid(x) = (1 + tanh(x/2))/2
///   gives T_σ(q1, q2, c) = 1/4 + T_tanh(q1/4, q2/4, c/4)/4 and T'_σ = T'_tanh(q1/4, q2/4, c/4)/16;
///   softplus' = σ gives T'_sp = T_σ and T_sp = m1 m2 + ∫_0^c T_σ, in closed form per node:
///   T_sp = m1 m2 + c/4 + E[c·arcsin x − a x²/(1 + √(1 − x²))]/(2π) with a = 4/(s t) (s, t
///   from q/4), and m = E[softplus(√q Z)] = ln 2 + √(2/π)/2 · E_K[q/(√(4K² + q) + 2K)].
///   The expectations over K use a Gaussian rule of M points per variable (M from the
///   variance, `KolmogorovMixture.automaticPoints`, ~1e-12 relative; or fixed by `points`),
///   the same accuracy at every input scale. A pair whose largest x is ≤ 0.9 sums the power
///   series of arcsin x, 1/√(1 − x²) and √(1 − x²) over per-point moments (~3n multiply-adds,
///   n ≤ 200 terms to 1e-17); more strongly correlated pairs sum the M1·M2 node pairs directly.
/// Zero variances (zero-norm inputs without bias) make u or v the constant 0; then
/// `T = φ(0)·E[φ(v)]` and `T' = φ'(0)·E[φ'(v)]` exactly.
/// Gauss–Hermite quadrature in the pre-activations remains as an independent reference for
/// tests (`forceQuadrature`); its accuracy falls as the variances grow.
public struct GaussianExpectation: Sendable {
    let activation: Activation
    let quadrature: GaussHermite?
    /// Whether a closed form exists (and is used).
    let closedForm: Bool
    /// The mixture rule size for tanh, sigmoid and softplus (0: from the variance).
    let mixturePoints: Int

    /// - Parameters:
    ///   - points: for tanh, sigmoid and softplus, the Kolmogorov-rule size per variable
    ///     (1...64; 0: chosen from each variance for ~1e-12 relative accuracy). Fewer points
    ///     trade accuracy for speed. With `forceQuadrature`, the Gauss–Hermite points (0: 64).
    ///   - forceQuadrature: use 2-D Gauss–Hermite for every activation (a test reference).
    /// - Throws: `invalidArgument` for `points` out of range.
    public init(_ activation: Activation, points: Int = 0, forceQuadrature: Bool = false) throws {
        self.activation = activation
        guard points >= 0 else { throw NTKError.invalidArgument("points must be ≥ 0, got \(points)") }
        if forceQuadrature {
            quadrature = try GaussHermite(points: points == 0 ? 64 : points)
            closedForm = false
            mixturePoints = 0
            return
        }
        quadrature = nil
        switch activation {
        case .identity, .relu, .leakyReLU, .abs, .erf, .sin, .gelu:
            closedForm = true
            mixturePoints = 0
        case .tanh, .sigmoid, .softplus:
            guard points <= KolmogorovMixture.maxPoints else {
                throw NTKError.invalidArgument("points must be in 0...\(KolmogorovMixture.maxPoints) (0: automatic), "
                                               + "got \(points)")
            }
            closedForm = false
            mixturePoints = points
        }
    }

    /// Whether the expectations go through the Kolmogorov mixture (per-point precomputation).
    var usesMixture: Bool { quadrature == nil && !closedForm }

    /// How the expectations are taken, for the log.
    var method: String {
        if closedForm { return "closed form" }
        if let quadrature { return "\(quadrature.nodes.count)-point Gauss-Hermite quadrature" }
        return mixturePoints > 0
            ? "Kolmogorov scale mixture, \(mixturePoints) nodes per variable (fixed)"
            : "Kolmogorov scale mixture, automatic nodes (16-24 per variable, ~1e-12 relative)"
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
                let product = (1 + 2 * q1).squareRoot() * (1 + 2 * q2).squareRoot()
                let s = min(max(2 * c / product, -1), 1)
                // (1 + 2q1)(1 + 2q2) − 4c² = (r1 r2)² (1 − s²), formed without overflow and with
                // 1 − s² as (1 − s)(1 + s): accurate near |s| = 1 (as `ckernels_erf_row`).
                let rest = max((1 - s) * (1 + s), Double.leastNormalMagnitude).squareRoot()
                return (2 / Double.pi * asin(s), 4 / Double.pi / (product * rest))
            case .sin:
                let e = exp(-0.5 * (q1 + q2))
                return (e * sinh(c), e * cosh(c))
            case .gelu: return Self.gelu(q1, q2, c)
            default: break
            }
        }
        if usesMixture { return mixturePair(mixturePoint(q1), mixturePoint(q2), c) }
        return quadraturePair(q1, q2, c)
    }

    @inline(__always)
    static func gelu(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let p = (1 + q1) * (1 + q2)
        let d = max(p - c * c, Double.leastNormalMagnitude), rootD = d.squareRoot()
        let r = min(max(c / p.squareRoot(), -1), 1)
        let kappa = (1 - q1 * q2) / p
        let numerator = q1 * q2 + kappa * c * c
        let angle = asin(r)
        let t = c / 4 + c * angle * invTwoPi + numerator * invTwoPi / rootD
        let dt = 0.25 + angle * invTwoPi + c * (1 + 2 * kappa) * invTwoPi / rootD
            + numerator * c * invTwoPi / (d * rootD)
        return (t, dt)
    }

    // MARK: the Kolmogorov mixture (tanh, sigmoid, softplus)

    /// What a point contributes to the mixture sums: the rule's weights w and
    /// s_i = 1/√(k_i² + q·scale) (scale 1 for tanh, 1/4 for sigmoid and softplus), and for
    /// softplus m = E[softplus(√q Z)].
    struct MixturePoint {
        let weights: [Double]
        let inverseRoots: [Double]
        let mean: Double
        /// The normalised moments `S̃_n = Σ_i w_i (s_i/ŝ)^{2n+1}` (ŝ = `largestRoot`),
        /// n = 0..<seriesTerms, for the series path: all in [0, 1], no overflow or underflow.
        let moments: [Double]
        /// The largest s_i (of the smallest node).
        let largestRoot: Double
    }

    /// Pairs with |x_ij| ≤ x_max ≤ `seriesBound` for every node pair use the power series of the
    /// three sums in x (all terms of one sign, so no cancellation), truncated where
    /// x_max^{2n} < 1e-17 (at most `seriesTerms` terms: 0.9^(2·200) < 1e-18). Per point the
    /// moments S_n cost O(M·n); per pair the series costs ~3n multiply-adds instead of M1·M2
    /// arcsines, so only strongly correlated pairs take the direct sum.
    static let seriesBound = 0.9
    static let seriesTerms = 200
    /// a_n = C(2n, n)/(4ⁿ(2n + 1)) (arcsin x = Σ a_n x^{2n+1}), b_n = C(2n, n)/4ⁿ
    /// (1/√(1 − x²) = Σ b_n x^{2n}), e_n = C(2n, n)/(4ⁿ(2n − 1)) (1 − √(1 − x²) = Σ_{n≥1} e_n x^{2n}).
    static let seriesCoefficients: (a: [Double], b: [Double], e: [Double]) = {
        var a: [Double] = [], b: [Double] = [], e: [Double] = []
        var central = 1.0  // C(2n, n)/4ⁿ
        for n in 0..<seriesTerms {
            if n > 0 { central *= Double(2 * n - 1) / Double(2 * n) }
            a.append(central / Double(2 * n + 1))
            b.append(central)
            e.append(n == 0 ? 0 : central / Double(2 * n - 1))
        }
        return (a, b, e)
    }()

    /// The mixture data of a point with pre-activation variance q > 0.
    func mixturePoint(_ q: Double) -> MixturePoint {
        let scaled = activation == .tanh ? q : q / 4
        let m = mixturePoints > 0 ? mixturePoints : KolmogorovMixture.automaticPoints(scaled)
        // The rules are built once; a size in 1...64 cannot fail (checked in init).
        guard let rule = try? KolmogorovMixture.rule(m) else {
            return MixturePoint(weights: [], inverseRoots: [], mean: .nan, moments: [], largestRoot: 0)
        }
        let roots = rule.nodes.map { 1 / ($0 * $0 + scaled).squareRoot() }
        let largest = roots.max() ?? 0
        var moments = [Double](repeating: 0, count: Self.seriesTerms)
        for (w, r) in zip(rule.weights, roots) {
            let ratio = largest > 0 ? r / largest : 0
            var power = ratio  // (r/ŝ)^{2n+1}
            for n in 0..<Self.seriesTerms {
                moments[n] += w * power
                power *= ratio * ratio
            }
        }
        var mean = 0.0
        if activation == .softplus {
            var e = 0.0
            for (k, w) in zip(rule.nodes, rule.weights) { e += w * q / ((4 * k * k + q).squareRoot() + 2 * k) }
            mean = log(2.0) + 0.5 * (2 / Double.pi).squareRoot() * e
        }
        return MixturePoint(weights: rule.weights, inverseRoots: roots, mean: mean, moments: moments,
                            largestRoot: largest)
    }

    /// Node pairs whose weight product is below this contribute less than 1e-17 relative and
    /// are skipped (the rules' tail weights fall to 1e-15 and below).
    static let negligibleWeight = 1e-18

    /// Σ_i w_i Σ_j w_j (arcsin x_ij, s_i t_j/√(1 − x_ij²), softplus term), x_ij = c' s_i t_j.
    @inline(__always)
    func mixtureSums(_ a: MixturePoint, _ b: MixturePoint, _ c: Double, direct: Bool = false)
        -> (asin: Double, ratio: Double, softplus: Double) {
        let cScaled = activation == .tanh ? c : c / 4
        let largest = Swift.abs(cScaled) * a.largestRoot * b.largestRoot
        let seriesReady = a.moments.count == Self.seriesTerms && b.moments.count == Self.seriesTerms
        if !direct && largest <= Self.seriesBound && seriesReady {
            // Terms until x_max^{2n} < 1e-17 (log(1e-17) = −39.14).
            let terms = largest < 1e-300 ? 2 : min(Self.seriesTerms, Int(-39.14 / (2 * log(largest))) + 2)
            return seriesSums(a, b, c, cScaled, terms: terms)
        }
        let softplus = activation == .softplus
        var sumAsin = 0.0, sumRatio = 0.0, sumSoftplus = 0.0
        a.weights.withUnsafeBufferPointer { wa in
            a.inverseRoots.withUnsafeBufferPointer { sa in
                b.weights.withUnsafeBufferPointer { wb in
                    b.inverseRoots.withUnsafeBufferPointer { tb in
                        for i in 0..<wa.count {
                            let wi = wa[i], si = sa[i], cs = cScaled * si
                            let cutoff = Self.negligibleWeight / wi
                            var rowAsin = 0.0, rowRatio = 0.0, rowSoftplus = 0.0
                            for j in 0..<wb.count where wb[j] >= cutoff {
                                let tj = tb[j], wj = wb[j]
                                let x = min(max(cs * tj, -1), 1)
                                let ax = Swift.abs(x)
                                let root = ((1 - ax) * (1 + ax)).squareRoot()
                                let angle = asin(x)
                                rowAsin += wj * angle
                                if softplus {
                                    // a·(√(1 − x²) − 1) with a = 4/(s t), without cancellation.
                                    rowSoftplus += wj * (c * angle - 4 / (si * tj) * x * x / (1 + root))
                                } else {
                                    rowRatio += wj * tj / max(root, Double.leastNormalMagnitude)
                                }
                            }
                            sumAsin += wi * rowAsin
                            sumRatio += wi * si * rowRatio
                            sumSoftplus += wi * rowSoftplus
                        }
                    }
                }
            }
        }
        return (sumAsin, sumRatio, sumSoftplus)
    }

    /// The three sums of `mixtureSums` by their power series, `terms` terms. With z = c' ŝ t̂
    /// (|z| ≤ `seriesBound`) and the normalised moments S̃, T̃:
    /// Σ w w' arcsin x = z Σ a_n z^{2n} S̃_n T̃_n, Σ w w' s t/√(1 − x²) = ŝ t̂ Σ b_n z^{2n} S̃_n T̃_n,
    /// Σ w w' (c arcsin x − (4/(s t))(1 − √(1 − x²))) = c·(first) − (4/(ŝ t̂)) Σ_{n≥1} e_n z^{2n} S̃_{n−1} T̃_{n−1}.
    @inline(__always)
    func seriesSums(_ a: MixturePoint, _ b: MixturePoint, _ c: Double, _ cScaled: Double, terms: Int)
        -> (asin: Double, ratio: Double, softplus: Double) {
        let coefficients = Self.seriesCoefficients
        let roots = a.largestRoot * b.largestRoot
        let z = cScaled * roots, y = z * z
        var sumAsin = 0.0, sumRatio = 0.0, sumRoot = 0.0
        var power = 1.0  // z^{2n}, ≤ 1
        for n in 0..<terms {
            let product = a.moments[n] * b.moments[n]
            sumAsin += coefficients.a[n] * power * product
            sumRatio += coefficients.b[n] * power * product
            if n > 0 { sumRoot += coefficients.e[n] * power * a.moments[n - 1] * b.moments[n - 1] }
            power *= y
        }
        sumAsin *= z
        return (sumAsin, sumRatio * roots, c * sumAsin - 4 / roots * sumRoot)
    }

    /// (T, T') of a pair from its points' mixture data and the covariance c.
    @inline(__always)
    func mixturePair(_ a: MixturePoint, _ b: MixturePoint, _ c: Double) -> (Double, Double) {
        let (sumAsin, sumRatio, sumSoftplus) = mixtureSums(a, b, c)
        switch activation {
        case .tanh: return (2 / Double.pi * sumAsin, 2 / Double.pi * sumRatio)
        case .sigmoid: return (0.25 + sumAsin * Self.invTwoPi, sumRatio / (8 * Double.pi))
        default: return (a.mean * b.mean + c / 4 + sumSoftplus * Self.invTwoPi, 0.25 + sumAsin * Self.invTwoPi)
        }
    }

    @inline(__always)
    static func relu(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let root = q1.squareRoot() * q2.squareRoot()  // not √(q1 q2): no overflow for huge variances
        let rho = min(max(c / root, -1), 1)
        let theta = acos(rho)
        // sin θ = √((1 − ρ)(1 + ρ)): no cancellation in 1 − ρ² near |ρ| = 1.
        let t = root * (((1 - rho) * (1 + rho)).squareRoot() + (Double.pi - theta) * rho) * invTwoPi
        return (t, (Double.pi - theta) * invTwoPi)
    }

    @inline(__always)
    static func leaky(_ a: Double, _ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        let (t, dt) = relu(q1, q2, c)
        let b = 1 - a
        return ((a * a + a * b) * c + b * b * t, a * a + a * b + b * b * dt)
    }

    /// Tensor-product Gauss–Hermite for (T, T') (the `forceQuadrature` reference).
    func quadraturePair(_ q1: Double, _ q2: Double, _ c: Double) -> (Double, Double) {
        guard let quadrature else { return (.nan, .nan) }
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
        case .gelu: return (q / (2 * Double.pi * (1 + q)).squareRoot(), 0.5)
        case .erf: return (0, 2 / (Double.pi * (1 + 2 * q)).squareRoot())
        case .sin: return (0, exp(-q / 2))
        case .tanh, .sigmoid, .softplus:
            guard quadrature == nil else { return singleQuadrature(q) }
            // E[tanh'(√q Z)] = √(2/π) E_K[1/√(K² + q)]; sigmoid' = tanh'(x/2)/4; softplus' = σ.
            let point = mixturePoint(q)
            var e = 0.0
            for (w, s) in zip(point.weights, point.inverseRoots) { e += w * s }
            let tanhSlope = (2 / Double.pi).squareRoot() * e
            switch activation {
            case .tanh: return (0, tanhSlope)
            case .sigmoid: return (0.5, tanhSlope / 4)
            default: return (point.mean, 0.5)
            }
        }
    }

    private func singleQuadrature(_ q: Double) -> (Double, Double) {
        guard let quadrature else { return (.nan, .nan) }
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
            default: return pair(q, q, q)
            }
        }
        if usesMixture { return pair(q, q, q) }
        guard let quadrature else { return (.nan, .nan) }
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
