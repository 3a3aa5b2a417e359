@testable import NTK
import CKernels
import XCTest

/// Closed-form Gaussian expectations against the library's own quadrature path.
final class InfiniteWidthTests: XCTestCase {
    func grid(_ variances: [Double], _ correlations: [Double]) -> [(Double, Double, Double)] {
        var result: [(Double, Double, Double)] = []
        for q1 in variances { for q2 in variances { for rho in correlations { result.append((q1, q2, rho * (q1 * q2).squareRoot())) } } }
        return result
    }

    func worstRelativeError(_ activation: Activation, _ points: [(Double, Double, Double)]) throws -> Double {
        let closed = try GaussianExpectation(activation)
        let quad = try GaussianExpectation(activation, forceQuadrature: true)  // default 64 points
        var worst = 0.0
        for (q1, q2, c) in points {
            let (a, da) = closed.pair(q1, q2, c), (b, db) = quad.pair(q1, q2, c)
            worst = max(worst, abs(a - b) / max(abs(a), 1e-3), abs(da - db) / max(abs(da), 1e-3))
        }
        return worst
    }

    /// The vectorised relu-family row update (AVX2, polynomial acos) against the scalar closed
    /// forms with libm's acos, at correlations covering every branch of the acos reduction
    /// (|ρ| ≤ ½, > ½, ±1 exactly, clipped beyond) and odd row lengths (the scalar tail).
    func testVectorisedReluRowMatchesTheScalarClosedForm() {
        var rng = TestRandom(seed: 77)
        for slope in [nil, 0.1, -1.0] as [Double?] {
            for n in [1, 3, 4, 37] {
                let q1 = 0.5 + abs(rng.next())
                let q2 = (0..<n).map { _ in 0.1 + 3 * abs(rng.next()) }
                let special: [Double] = [1, -1, 0.5, -0.5, 0.5000001, 0, 1.0000001, -1.2, 0.999999999]
                let c = (0..<n).map { j in (j < special.count ? special[j] : rng.next()) * (q1 * q2[j]).squareRoot() }
                let tangent = (0..<n).map { _ in 1 + rng.next() }
                var sigma = c, theta = tangent
                q2.withUnsafeBufferPointer { q in
                    InfiniteWidthKernel.reluRow(q1: [q1], columnVariance: q.baseAddress!, sigma: &sigma, theta: &theta, count: n, slope: slope)
                }
                for j in 0..<n {
                    let (t, dt) = slope.map { GaussianExpectation.leaky($0, q1, q2[j], c[j]) } ?? GaussianExpectation.relu(q1, q2[j], c[j])
                    let scale = (q1 * q2[j]).squareRoot()
                    XCTAssertEqual(sigma[j], t, accuracy: 4e-15 * scale, "slope \(String(describing: slope)), n \(n), j \(j)")
                    XCTAssertEqual(theta[j], tangent[j] * dt, accuracy: 4e-15, "slope \(String(describing: slope)), n \(n), j \(j)")
                }
            }
        }
    }

    /// The vectorised erf and gelu row updates (AVX2, polynomial arcsine) against the scalar
    /// closed forms with libm's asin: arguments on every branch of the reduction (|s| ≤ ½, > ½,
    /// ±1 exactly, clipped beyond), small and large variances, odd lengths (the scalar tail).
    func testVectorisedErfAndGeluRowsMatchTheScalarClosedForms() throws {
        var rng = TestRandom(seed: 78)
        let erf = try GaussianExpectation(.erf)
        let special: [Double] = [1, -1, 0.5, -0.5, 0.5000001, 0, 1.0000001, -1.2, 0.999999999, -0.49999]
        for scale in [1e-3, 1.0, 40.0] {
            for n in [1, 3, 4, 37] {
                let q1 = scale * (0.5 + abs(rng.next()))
                let q2 = (0..<n).map { _ in scale * (0.1 + 3 * abs(rng.next())) }
                let fraction = (0..<n).map { j in j < special.count ? special[j] : rng.next() }
                let tangent = (0..<n).map { _ in 1 + rng.next() }
                // erf: s = 2c / sqrt((1 + 2q1)(1 + 2q2)) takes the special values.
                let erfC = (0..<n).map { j in fraction[j] * ((1 + 2 * q1) * (1 + 2 * q2[j])).squareRoot() / 2 }
                var sigma = erfC, theta = tangent
                q2.withUnsafeBufferPointer { ckernels_erf_row([q1], 0, $0.baseAddress!, &sigma, &theta, n) }
                for j in 0..<n {
                    let (t, dt) = erf.pair(q1, q2[j], erfC[j])
                    // T within a few ulp of 1; T' ∝ 1/√(1 − s²), so its relative error grows as the
                    // polynomial's ulp over 1 − s² (s itself is the same number in both).
                    let s = min(max(2 * erfC[j] / ((1 + 2 * q1).squareRoot() * (1 + 2 * q2[j]).squareRoot()), -1), 1)
                    XCTAssertEqual(sigma[j], t, accuracy: 2e-15, "erf, scale \(scale), n \(n), j \(j)")
                    XCTAssertEqual(theta[j] / (tangent[j] * dt), 1, accuracy: 1e-14 + 1e-15 / max(1 - s * s, 1e-300),
                                   "erf, scale \(scale), n \(n), j \(j)")
                }
                // gelu: c = ρ √(q1 q2), ρ the special values (|c| ≤ √(q1 q2), as the recursion has it).
                let geluC = (0..<n).map { j in fraction[j] * (q1 * q2[j]).squareRoot() }
                sigma = geluC
                theta = tangent
                q2.withUnsafeBufferPointer { ckernels_gelu_row([q1], 0, $0.baseAddress!, &sigma, &theta, n) }
                for j in 0..<n {
                    let (t, dt) = GaussianExpectation.gelu(q1, q2[j], geluC[j])
                    let size = max((q1 * q2[j]).squareRoot(), 1e-300)
                    XCTAssertEqual(sigma[j], t, accuracy: 1e-14 * size, "gelu, scale \(scale), n \(n), j \(j)")
                    XCTAssertEqual(theta[j], tangent[j] * dt, accuracy: 1e-14 * abs(tangent[j]),
                                   "gelu, scale \(scale), n \(n), j \(j)")
                }
            }
        }
    }

    /// Rows with a variance per entry (step 1, the diagonal positions of a CNTK without pooling)
    /// give, entry by entry, what a one-entry row of that variance gives (the same formula in the
    /// vector and scalar paths; only FMA contraction in the vector path moves the last bits), in
    /// both precisions, for every closed form and lengths with and without scalar tails.
    func testPerEntryRowVariancesMatchOneEntryRows() {
        var rng = TestRandom(seed: 80)
        func check<S: InfiniteWidthScalar>(_: S.Type) {
            for kind in ["relu", "abs", "erf", "gelu"] {
                let expect = try! GaussianExpectation(kind == "relu" ? .relu : kind == "abs" ? .abs
                                                      : kind == "erf" ? .erf : .gelu)
                let row: InfiniteWidthKernel.RowUpdate<S> = InfiniteWidthKernel.closedFormRow(expect)!
                for n in [1, 7, 8, 37] {
                    let q1 = (0..<n).map { _ in S(0.2 + 2 * abs(rng.next())) }
                    let q2 = (0..<n).map { _ in S(0.2 + 2 * abs(rng.next())) }
                    let c = (0..<n).map { j in S(min(max(rng.next(), -1), 1)) * (q1[j] * q2[j]).squareRoot() }
                    let tangent = (0..<n).map { _ in S(1 + abs(rng.next())) }
                    var sigma = c, theta = tangent
                    row(q1, 1, q2, &sigma, &theta, n)
                    for j in 0..<n {
                        var s1 = [c[j]], t1 = [tangent[j]]
                        row([q1[j]], 0, [q2[j]], &s1, &t1, 1)
                        let ulps = 8 * S.ulpOfOne
                        XCTAssertEqual(sigma[j], s1[0], accuracy: ulps * max(abs(s1[0]), 1), "\(kind) \(S.self) \(n) \(j)")
                        XCTAssertEqual(theta[j], t1[0], accuracy: ulps * max(abs(t1[0]), 1), "\(kind) \(S.self) \(n) \(j)")
                    }
                }
            }
        }
        check(Double.self)
        check(Float.self)
    }

    /// The single-precision rows (eight floats at a time, degree-4 polynomial arcsine) against
    /// the double closed forms of the same float inputs, with c = ρ √(q1 q2) on every branch of
    /// the reductions (ρ = ±1 exactly and beyond: clipped) and scalar tails (lengths 1, 3, 8, 37).
    /// Float accuracy, 2e-6, where the function is well conditioned; where a slope grows as
    /// 1/√(1 − r²) near r = ±1 (the relu family's T′ in ρ, erf's T in s, erf's T′ as 1/(1 − s²)),
    /// the float rounding of r (1.2e-7) times that slope. And not equal to the double result.
    func testSinglePrecisionRowsMatchTheDoubleClosedForms() throws {
        var rng = TestRandom(seed: 79)
        let special: [Double] = [1, -1, 0.5, -0.5, 0.5000001, 0, 1.0000001, -1.2, 0.99999, -0.49999]
        let erf = try GaussianExpectation(.erf)
        let roundingOfR = 1.2e-7
        var worst = 0.0
        for kind in ["relu", "leaky", "erf", "gelu"] {
            for n in [1, 3, 8, 37] {
                let q1 = Float(0.5 + abs(rng.next()))
                let q2 = (0..<n).map { _ in Float(0.1 + 3 * abs(rng.next())) }
                let rho = (0..<n).map { j in j < special.count ? special[j] : rng.next() }
                let c = (0..<n).map { j in Float(rho[j] * (Double(q1) * Double(q2[j])).squareRoot()) }
                let tangent = (0..<n).map { _ in Float(1 + rng.next()) }
                var sigma = c, theta = tangent
                q2.withUnsafeBufferPointer { q in
                    switch kind {
                    case "relu": InfiniteWidthKernel.reluRow(q1: [q1], columnVariance: q.baseAddress!, sigma: &sigma,
                                                             theta: &theta, count: n, slope: nil)
                    case "leaky": InfiniteWidthKernel.reluRow(q1: [q1], columnVariance: q.baseAddress!, sigma: &sigma,
                                                              theta: &theta, count: n, slope: 0.1)
                    case "erf": ckernels_erf_row_f32([q1], 0, q.baseAddress!, &sigma, &theta, n)
                    default: ckernels_gelu_row_f32([q1], 0, q.baseAddress!, &sigma, &theta, n)
                    }
                }
                for j in 0..<n {
                    let (a, b, cj) = (Double(q1), Double(q2[j]), Double(c[j]))
                    let r = min(max(cj / (a * b).squareRoot(), -1), 1)
                    let slope = min(1 / (1 - r * r).squareRoot(), 1 / roundingOfR.squareRoot())
                    var (t, dt) = (0.0, 0.0), sigmaSlope = 0.0, thetaSlope = 0.0
                    switch kind {
                    case "relu": (t, dt) = GaussianExpectation.relu(a, b, cj); thetaSlope = slope
                    case "leaky": (t, dt) = GaussianExpectation.leaky(0.1, a, b, cj); thetaSlope = slope
                    case "erf":
                        (t, dt) = erf.pair(a, b, cj)
                        let s = 2 * cj / ((1 + 2 * a) * (1 + 2 * b)).squareRoot()
                        (sigmaSlope, thetaSlope) = (1 / (1 - s * s).squareRoot(), 1 / (1 - s * s))
                    default: (t, dt) = GaussianExpectation.gelu(a, b, cj)
                    }
                    let size = kind == "erf" ? 1 : (a * b).squareRoot(), label = "\(kind), n \(n), j \(j)"
                    XCTAssertEqual(Double(sigma[j]), t, accuracy: (2e-6 + roundingOfR * sigmaSlope) * size, label)
                    let factor = Double(tangent[j]) * max(abs(dt), 1)
                    XCTAssertEqual(Double(theta[j]), Double(tangent[j]) * dt,
                                   accuracy: (2e-6 + roundingOfR * thetaSlope) * factor, label)
                    worst = max(worst, abs(Double(sigma[j]) - t) / size)
                }
            }
        }
        XCTAssertGreaterThan(worst, 1e-12, "computed in single precision")
    }

    /// The single-precision kernels against the double ones of the same rounded inputs, for the
    /// vectorised closed forms, the scalar quadrature path and zero-norm inputs without bias,
    /// symmetric (three tile rows; exactly symmetric, the diagonal the double recursion's rounded)
    /// and two-sided: within 2e-6 of the largest entry on inputs in 16 dimensions, whose pairs
    /// are far from parallel. A nearly parallel pair (angle 1e-4) loses more in the relu
    /// family's NTK, the documented ~3e-4 (see `InfiniteWidthKernel`), and no more than 6e-4.
    /// Overflow and NaN are errors as in double precision.
    func testSinglePrecisionKernelsAgreeWithDouble() throws {
        var rng = TestRandom(seed: 32)
        let n = 600, m = 70, d = 16
        var x = try Matrix(rows: n, cols: d, elements: try rng.matrix(n, d).elements.map { Double(Float($0)) })
        for j in 0..<d { x[5, j] = 0 }  // a zero-norm input: the degenerate path without bias
        let y = try Matrix(rows: m, cols: d, elements: try rng.matrix(m, d).elements.map { Double(Float($0)) })
        let cases: [(Activation, Double)] = [(.relu, 0.2), (.leakyReLU(slope: 0.2), 0), (.erf, 0.2), (.gelu, 0), (.tanh, 0.3)]
        for (activation, bias) in cases {
            let a = try MLPArchitecture(inputDimension: d, hiddenWidths: [1, 1], activation: activation, biasStd: bias)
            // The quadrature path (tanh) is slow in debug builds: two-sided only.
            for second in (activation == .tanh ? [y] : [nil, y]) as [Matrix?] {
                let expected = try a.infiniteWidthKernels(x, second)
                let (nngp, ntk) = try singleKernels(a, x, second)
                for (got, want) in [(nngp, expected.nngp), (ntk, expected.ntk)] {
                    let scale = want.elements.map(abs).max()!
                    let gap = zip(got, want.elements).map { abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(gap, 2e-6 * scale, "\(activation) \(second == nil)")
                    XCTAssertGreaterThan(gap, 1e-12 * scale, "computed in single precision")
                    guard second == nil else { continue }
                    for i in 0..<n {
                        XCTAssertEqual(got[i * n + i], Float(want[i, i]))
                        for j in 0..<i where got[i * n + j] != got[j * n + i] { XCTFail("not symmetric at \(i), \(j)") }
                    }
                }
            }
        }
        let relu = try MLPArchitecture(inputDimension: d, hiddenWidths: [1, 1], activation: .relu, biasStd: 0.1)
        let first = try Matrix(rows: 1, cols: d, elements: x.row(0))
        let near = try Matrix(rows: 1, cols: d, elements: x.row(0).map { Double(Float($0 + 1e-4 * rng.next())) })
        let exact = try relu.infiniteWidthKernels(first, near).ntk[0, 0]
        let single = Double(try singleKernels(relu, first, near).1[0])
        XCTAssertLessThan(abs(single - exact), 6e-4 * exact)
        XCTAssertGreaterThan(abs(single - exact), 1e-6 * exact, "the amplified rounding is real")
        var huge = x
        huge[3, 1] = 1e20  // within float's range, its square is not
        XCTAssertThrowsError(try singleKernels(relu, huge, nil)) { error in
            XCTAssertEqual((error as? NTKError)?.kind, .numericalFailure)
            XCTAssertTrue("\(error)".contains("single precision"), "\(error)")
        }
        huge[3, 1] = .nan
        assertThrows(.nonFinite, try singleKernels(relu, huge, nil))
    }

    /// The single-precision NNGP and NTK of the rows of `x1` (and `x2`), as flat row-major arrays.
    func singleKernels(_ a: MLPArchitecture, _ x1: Matrix, _ x2: Matrix?) throws -> ([Float], [Float]) {
        let n1 = x1.rows, n2 = x2?.rows ?? x1.rows, d = x1.cols
        let s1 = x1.elements.map { Float($0) }, s2 = (x2 ?? x1).elements.map { Float($0) }
        var nngp = [Float](repeating: .nan, count: n1 * n2), ntk = nngp
        try s1.withUnsafeBufferPointer { p1 in
            try s2.withUnsafeBufferPointer { p2 in
                try nngp.withUnsafeMutableBufferPointer { sp in
                    try ntk.withUnsafeMutableBufferPointer { tp in
                        let v1 = try SingleMatrixView(p1.baseAddress!, rows: n1, cols: d)
                        let v2 = try x2.map { _ in try SingleMatrixView(p2.baseAddress!, rows: n2, cols: d) }
                        try InfiniteWidthKernel.compute(a, v1, v2,
                                                        nngp: try MutableSingleMatrixView(sp.baseAddress!, rows: n1, cols: n2),
                                                        ntk: try MutableSingleMatrixView(tp.baseAddress!, rows: n1, cols: n2))
                    }
                }
            }
        }
        return (nngp, ntk)
    }

    /// The documented accuracy of the quadrature path, measured on the smooth closed forms.
    func testQuadratureAccuracyAgainstClosedForms() throws {
        let moderate = grid([0.3, 0.6, 1.0], [-0.9, -0.5, 0, 0.5, 0.9])
        let hard = grid([2, 4], [-0.99, 0.99])
        for activation in [Activation.erf, .sin, .identity] {
            XCTAssertLessThan(try worstRelativeError(activation, moderate), 1e-8, "\(activation), q ≤ 1")
            XCTAssertLessThan(try worstRelativeError(activation, hard), 1e-3, "\(activation), q ≤ 4, |ρ| = 0.99")
        }
    }

    func testDiagonalIsThePairAtCorrelationOne() throws {
        for activation in [Activation.relu, .leakyReLU(slope: -0.3), .abs, .erf, .sin, .tanh, .gelu, .softplus, .sigmoid] {
            let e = try GaussianExpectation(activation)
            for q in [0.2, 1.0] {
                let (d, dd) = e.diagonal(q), (p, dp) = e.pair(q, q, q)
                XCTAssertEqual(d, p, accuracy: 1e-10 * max(abs(d), 1e-3), "\(activation) q = \(q)")
                XCTAssertEqual(dd, dp, accuracy: 1e-10 * max(abs(dd), 1e-3), "\(activation)' q = \(q)")
            }
        }
    }

    func testDegenerateVariances() throws {
        // u ≡ 0: E[φ(0) φ(v)] = φ(0) E[φ(v)]; sigmoid(0) = 1/2 and E[sigmoid(v)] = 1/2.
        let (t, dt) = try GaussianExpectation(.sigmoid).pair(0, 1.3, 0)
        XCTAssertEqual(t, 0.25, accuracy: 1e-14)
        XCTAssertGreaterThan(dt, 0)
        XCTAssertEqual(try GaussianExpectation(.relu).pair(0, 2, 0).0, 0)
        XCTAssertEqual(try GaussianExpectation(.leakyReLU(slope: 0.1)).pair(0, 2, 0).1, 0.1 * 0.55, accuracy: 1e-15)
    }
}

final class KolmogorovMixtureTests: XCTestCase {
    /// The rule integrates the Kolmogorov distribution's known moments: mass 1,
    /// E[K] = √(π/2) ln 2 and E[K²] = π²/12.
    func testRuleMoments() throws {
        for m in [4, 16, 32] {
            let rule = try KolmogorovMixture.rule(m)
            XCTAssertEqual(rule.weights.reduce(0, +), 1, accuracy: 1e-14)
            XCTAssertEqual(zip(rule.nodes, rule.weights).map { $0 * $1 }.reduce(0, +),
                           (Double.pi / 2).squareRoot() * log(2.0), accuracy: 1e-14)
            XCTAssertEqual(zip(rule.nodes, rule.weights).map { $0 * $0 * $1 }.reduce(0, +), Double.pi * Double.pi / 12,
                           accuracy: 1e-14)
            XCTAssertTrue(rule.nodes.allSatisfy { $0 > 0 } && rule.weights.allSatisfy { $0 > 0 })
        }
        assertThrows(.invalidArgument, try KolmogorovMixture.rule(65))
    }

    /// The power-series path (pairs with |x| ≤ 0.9) equals the direct node-pair sum.
    func testSeriesPathEqualsDirectSums() throws {
        for activation in [Activation.tanh, .sigmoid, .softplus] {
            let e = try GaussianExpectation(activation)
            for (q1, q2) in [(0.01, 0.3), (1.0, 2.5), (40.0, 900.0)] {
                let a = e.mixturePoint(q1), b = e.mixturePoint(q2)
                let scale = activation == .tanh ? 1.0 : 0.25
                let cMax = GaussianExpectation.seriesBound / (scale * a.largestRoot * b.largestRoot)
                for fraction in [-1.0, -0.5, 0, 0.3, 0.8, 0.999] {
                    let c = fraction * min(cMax, (q1 * q2).squareRoot())
                    let series = e.mixtureSums(a, b, c), direct = e.mixtureSums(a, b, c, direct: true)
                    // The direct path forms the ratio sum (tanh, sigmoid) or the softplus sum, not both.
                    let third = activation == .softplus ? (series.softplus, direct.softplus) : (series.ratio, direct.ratio)
                    for (s, d) in [(series.asin, direct.asin), third] {
                        XCTAssertEqual(s, d, accuracy: 1e-14 * max(1, abs(d)), "\(activation) q = \(q1), \(q2), c = \(c)")
                    }
                }
            }
        }
    }

    /// tanh's mixture kernel equals erf-type closed forms' limit: for tiny variances tanh(u) ≈ u,
    /// so T ≈ c and T' ≈ 1; and at every variance T' = ∂T/∂c (Price), checked by differences.
    func testSmallVarianceLimitAndPriceTheorem() throws {
        for activation in [Activation.tanh, .sigmoid, .softplus, .gelu] {
            let e = try GaussianExpectation(activation)
            for (q1, q2, rho) in [(0.3, 0.7, 0.4), (4.0, 9.0, -0.8), (100.0, 80.0, 0.999)] {
                let c = rho * (q1 * q2).squareRoot(), h = 1e-3 * (1 - abs(rho)) * (q1 * q2).squareRoot()
                let dT = (e.pair(q1, q2, c + h).0 - e.pair(q1, q2, c - h).0) / (2 * h)
                XCTAssertEqual(dT, e.pair(q1, q2, c).1, accuracy: 1e-7 * max(1, abs(dT)), "\(activation) q = \(q1), \(q2)")
            }
        }
        let (t, dt) = try GaussianExpectation(.tanh).pair(1e-8, 1e-8, 5e-9)
        XCTAssertEqual(t, 5e-9, accuracy: 1e-15)
        XCTAssertEqual(dt, 1, accuracy: 1e-7)
    }
}

final class InfiniteWidthKernelTests: XCTestCase {
    /// The symmetric path (lower-triangle tiles of a DSYRK-staged Gram, each mirrored as it is
    /// stored) against the two-sided one (full DGEMM, every tile), for three tile rows with a
    /// partial last one: equal to 1e-12 (relu: 1e-7, its arccos has a square-root singularity at
    /// ρ = 1, so the last-bit difference of x·x' between DSYRK and DGEMM moves close pairs by
    /// up to ~1e-8), exactly symmetric, the exact diagonal recursion.
    func testSymmetricKernelMatchesTwoSidedAndDiagonal() throws {
        var rng = TestRandom(seed: 31)
        let n = 600
        let x = try rng.matrix(n, 3)  // tiles of 256: three tile rows, worked on by several threads
        for activation in [Activation.erf, .relu, .gelu, .tanh] {
            let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [1, 1], activation: activation, biasStd: 0.2)
            let sym = try a.infiniteWidthKernels(x), two = try a.infiniteWidthKernels(x, x)
            let diag = try a.infiniteWidthDiagonal(x)
            for (s, t, d) in [(sym.nngp, two.nngp, diag.nngp), (sym.ntk, two.ntk, diag.ntk)] {
                let scale = t.elements.map(abs).max() ?? 1
                XCTAssertLessThan(zip(s.elements, t.elements).map { abs($0 - $1) }.max() ?? 1,
                                  (activation == .relu ? 1e-7 : 1e-12) * scale, "\(activation)")
                var symmetric = true
                for i in 0..<n { for j in 0..<i where s[i, j] != s[j, i] { symmetric = false } }
                XCTAssertTrue(symmetric, "\(activation)")
                for i in 0..<n { XCTAssertEqual(s[i, i], d[i]) }
            }
        }
    }

    func testParallelLoopCancelsAndPropagatesErrors() throws {
        var calls = 0
        // One thread: the callback runs after every item, so the third report cancels.
        assertThrows(.cancelled, try Parallel.forEach(count: 1000, threads: 1, progress: ProgressHandler { _ in calls += 1; return calls < 3 ? .proceed : .cancel }) { _, _ in })
        XCTAssertEqual(calls, 3)
        assertThrows(.numericalFailure, try Parallel.forEach(count: 100, threads: 2) { item, _ in
            if item == 37 { throw NTKError(.numericalFailure, "item 37") }
        })
        // Every item runs exactly once: each writes its own slot (no shared mutable state).
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: 500)
        defer { seen.deallocate() }
        seen.initialize(repeating: 0, count: 500)
        try Parallel.forEach(count: 500, threads: 2) { item, _ in seen[item] += 1 }
        XCTAssertEqual((0..<500).map { seen[$0] }, [Int](repeating: 1, count: 500))
    }
}
