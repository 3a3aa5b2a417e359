import NTK
import XCTest

/// The ensemble over initialisations and GP posteriors, against independent closed forms.
final class EnsembleTests: XCTestCase {
    /// One training point: Θ = a, 𝒦 = b, everything is scalar. With N = 1, at time t
    /// A = θ (1 − e^{−η t a}) / a for a test point with Θ(x, X) = θ, 𝒦(x, X) = c, 𝒦(x, x) = d:
    /// mean = A y, var = d + A² b − 2 A c.
    func testScalarClosedForm() throws {
        let (a, b, theta, c, d, y, eta) = (2.0, 1.5, 1.2, 0.9, 1.1, 0.7, 0.5)
        let times = [0.0, 1.0, 4.0, Double.infinity]
        let (mean, cov) = try withViews([[[b]], [[a]], [[c]], [[theta]], [[d]]]) { v in
            let flow = try EnsembleFlow(nngpTrain: v[0], ntkTrain: v[1], regime: .ntk)
            return try flow.predict(y: [[y]], times: times, learningRate: eta,
                                    test: EnsembleFlow.Test(nngpTestTrain: v[2], ntkTestTrain: v[3], nngpTest: v[4]))
        }
        for (i, t) in times.enumerated() {
            let aT = theta * (t.isInfinite ? 1 : -expm1(-eta * t * a)) / a
            XCTAssertEqual(mean[i][0, 0], aT * y, accuracy: 1e-15)
            XCTAssertEqual(cov[i][0, 0], d + aT * aT * b - 2 * aT * c, accuracy: 1e-14)
        }
    }

    /// At t = ∞ the NNGP regime with ridge z is the GP posterior with noise variance z.
    func testNNGPLimitIsTheGPPosterior() throws {
        var rng = TestRandom(seed: 11)
        let f = try rng.matrix(9, 4)
        let all = try naiveABt(f, f)   // 9 × 9 PSD: 6 training, 3 test points
        let kTrain = try sub(all, 0..<6, 0..<6), kTT = try sub(all, 6..<9, 0..<6), kTest = try sub(all, 6..<9, 6..<9)
        let y = try rng.matrix(6, 2)
        let gp = try GaussianProcess.posterior(kTrain: kTrain, y: y, kTestTrain: kTT, kTest: kTest, ridge: 0.2)
        let flow = try kTrain.withView { k in try EnsembleFlow(nngpTrain: k, ntkTrain: nil, regime: .nngp, ridge: 0.2) }
        let (mean, cov) = try kTT.withView { ktt in
            try kTest.withView { kt in
                try flow.predict(y: y, times: [.infinity], test: EnsembleFlow.Test(nngpTestTrain: ktt, ntkTestTrain: nil, nngpTest: kt))
            }
        }
        XCTAssertLessThan(maxAbsDifference(mean[0], gp.mean), 1e-12)
        XCTAssertLessThan(maxAbsDifference(cov[0], gp.cov), 1e-12)
        // The likelihood against its definition: −½ Σ_c y_cᵀ K_z⁻¹ y_c − log det K_z − n log 2π (k = 2).
        var kz = kTrain
        for i in 0..<6 { kz[i, i] += 0.2 }
        let factor = try CholeskyFactorization(kz)
        let alpha = try factor.solve(y)
        var quadratic = 0.0
        for i in 0..<6 { for c in 0..<2 { quadratic += y[i, c] * alpha[i, c] } }
        let expected = -0.5 * quadratic - factor.logDeterminant - 6 * log(2 * Double.pi)
        XCTAssertEqual(gp.logMarginalLikelihood, expected, accuracy: 1e-12 * abs(expected))
    }

    /// The variances alone equal the diagonal of the full covariance, in both regimes, with and
    /// without test points, at several times (with a ridge, and a rank-deficient trained kernel
    /// whose null directions are dropped); the full test kernel is refused where its diagonal is due.
    func testVariancesAreTheCovarianceDiagonal() throws {
        var rng = TestRandom(seed: 12)
        let f = try rng.matrix(17, 6), g = try rng.matrix(17, 9)
        let nngpAll = try naiveABt(f, f), ntkAll = try naiveABt(g, g)   // 12 training, 5 test points
        let times = [0.0, 0.5, 3.0, .infinity]
        for regime in [EnsembleFlow.Regime.ntk, .nngp] {
            for ridge in [0.0, 0.1] {
                let kTrain = try sub(nngpAll, 0..<12, 0..<12), tTrain = try sub(ntkAll, 0..<12, 0..<12)
                let kTT = try sub(nngpAll, 12..<17, 0..<12), tTT = try sub(ntkAll, 12..<17, 0..<12)
                let kTest = try sub(nngpAll, 12..<17, 12..<17)
                let kDiag = try Matrix((0..<5).map { [kTest[$0, $0]] })
                let y = try rng.matrix(12, 2)
                try withViews([kTrain, tTrain, kTT, tTT, kTest, kDiag].map(nested)) { v in
                    let flow = try EnsembleFlow(nngpTrain: v[0], ntkTrain: v[1], regime: regime, ridge: ridge)
                    let full = EnsembleFlow.Test(nngpTestTrain: v[2], ntkTestTrain: v[3], nngpTest: v[4])
                    let diag = EnsembleFlow.Test(nngpTestTrain: v[2], ntkTestTrain: v[3], nngpTest: v[5])
                    for (test, diagonalTest, m) in [(full, diag, 5), (nil, nil, 12)] as [(EnsembleFlow.Test?, EnsembleFlow.Test?, Int)] {
                        let (mean, cov) = try flow.predict(y: y, times: times, test: test)
                        let (mean2, variances) = try flow.predict(y: y, times: times, test: diagonalTest,
                                                                  covariance: .diagonal)
                        for t in 0..<times.count {
                            XCTAssertEqual(variances[t].rows, m)
                            XCTAssertEqual(variances[t].columns, 1)
                            // Relative to the prior variances 𝒦(x, x): the posterior ones may cancel to ~0.
                            let scale = (0..<17).map { nngpAll[$0, $0] }.max()!
                            for i in 0..<m {
                                XCTAssertEqual(variances[t][i, 0], cov[t][i, i], accuracy: 1e-12 * scale,
                                               "\(regime) z=\(ridge) t=\(times[t]) test=\(test != nil)")
                            }
                            XCTAssertEqual(maxAbsDifference(mean[t], mean2[t]), 0)
                        }
                    }
                    assertThrows(.dimensionMismatch, try flow.predict(y: y, times: [1], test: full, covariance: .diagonal))
                }
            }
        }
    }

    func testErrors() throws {
        try withViews([[[1, 0], [0, 1]], [[1, 0]], [[1]]]) { v in
            let k = v[0]
            assertThrows(.invalidArgument, try EnsembleFlow(nngpTrain: k, ntkTrain: nil, regime: .ntk))
            assertThrows(.invalidArgument, try EnsembleFlow(nngpTrain: k, ntkTrain: k, regime: .ntk, ridge: -1))
            let flow = try EnsembleFlow(nngpTrain: k, ntkTrain: k, regime: .ntk)
            assertThrows(.invalidArgument, try flow.predict(y: [[1], [2]], times: [-1]))
            assertThrows(.dimensionMismatch, try flow.predict(y: [[1]], times: [1]))
            assertThrows(.invalidArgument, try flow.predict(y: [[1], [2]], times: [1],
                                                            test: EnsembleFlow.Test(nngpTestTrain: v[1], ntkTestTrain: nil, nngpTest: v[2])))
        }
        assertThrows(.notPositiveDefinite, try GaussianProcess.posterior(kTrain: [[1, 1], [1, 1]], y: [[1], [1]],
                                                                         kTestTrain: [[1, 1]], kTest: [[1]]))
    }

    /// Runs `body` with views of the given matrices (row lists), all alive for its duration.
    private func withViews<R>(_ matrices: [[[Double]]], _ body: ([MatrixView]) throws -> R) throws -> R {
        func nest(_ i: Int, _ views: [MatrixView]) throws -> R {
            if i == matrices.count { return try body(views) }
            return try Matrix(matrices[i]).withView { try nest(i + 1, views + [$0]) }
        }
        return try nest(0, [])
    }

    private func nested(_ a: Matrix) -> [[Double]] { (0..<a.rows).map { i in (0..<a.columns).map { a[i, $0] } } }

    private func sub(_ a: Matrix, _ rows: Range<Int>, _ cols: Range<Int>) throws -> Matrix {
        try Matrix(rows.map { i in cols.map { j in a[i, j] } })
    }
}
