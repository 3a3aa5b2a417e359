import NTK
import XCTest

/// The solvers against independent computations written out here: Cholesky solves and naive
/// products for kernel ridge, a Runge–Kutta integration of the flow ODE for finite times, and
/// brute-force refits for leave-one-out.
final class RegressionTests: XCTestCase {
    /// A PD kernel on n train + m test points from random features.
    func problem(n: Int = 12, m: Int = 5, p: Int = 20, k: Int = 2, seed: UInt64 = 7) throws
        -> (k: Matrix, kt: Matrix, y: Matrix, f0: Matrix, f0t: Matrix) {
        var rng = TestRandom(seed: seed)
        let s = try rng.matrix(n + m, p)
        let full = try naiveABt(s, s)
        var kTrain = try Matrix(rows: n, cols: n), kTest = try Matrix(rows: m, cols: n)
        for i in 0..<n { for j in 0..<n { kTrain[i, j] = full[i, j] / Double(p) } ; kTrain[i, i] += 0.05 }
        for i in 0..<m { for j in 0..<n { kTest[i, j] = full[n + i, j] / Double(p) } }
        return (kTrain, kTest, try rng.matrix(n, k), try rng.matrix(n, k), try rng.matrix(m, k))
    }

    func testKernelRidgeWithOffsets() throws {
        let (k, kt, y, f0, f0t) = try problem()
        let z = 0.3
        let r = try y - f0
        let alpha = try choleskySolve(k, r, ridge: z)
        let model = try KernelRidge.fit(kTrain: k, y: y, f0Train: f0, ridge: z)
        let wantTrain = try naiveAB(k, alpha) + f0, wantTest = try naiveAB(kt, alpha) + f0t
        XCTAssertLessThan(maxAbsDifference(try model.trainPredictionMatrix(), wantTrain), 1e-12)
        XCTAssertLessThan(maxAbsDifference(try model.predict(kTestTrain: kt, f0Test: f0t), wantTest), 1e-12)
        XCTAssertLessThan(maxAbsDifference(try model.dualCoefficientMatrix(), alpha), 1e-13)
        assertThrows(.notPositiveDefinite, try KernelRidge.fit(kTrain: try Matrix([[1, 0], [0, -1]]), y: try Matrix([[1], [1]])))
        assertThrows(.dimensionMismatch, try model.predict(kTestTrain: try Matrix(rows: 2, cols: 3)))
    }

    func testFeatureRidgePrimalEqualsDual() throws {
        var rng = TestRandom(seed: 8)
        for (n, p) in [(15, 4), (4, 15)] {
            let s = try rng.matrix(n, p), y = try rng.matrix(n, 2), st = try rng.matrix(3, p)
            let primal = try FeatureRidge.fit(s: s, y: y, ridge: 0.2, form: .primal, sTest: st)
            let dual = try FeatureRidge.fit(s: s, y: y, ridge: 0.2, form: .dual, sTest: st)
            XCTAssertLessThan(maxAbsDifference(primal.weights, dual.weights), 1e-12)
            XCTAssertLessThan(maxAbsDifference(primal.train, dual.train), 1e-12)
            XCTAssertLessThan(maxAbsDifference(primal.test!, dual.test!), 1e-12)
            // Normal equations of the primal: (SᵀS + zI) β = Sᵀ Y.
            let lhs = try naiveAB(s.transposed, try naiveAB(s, primal.weights)) + 0.2 * primal.weights
            let rhs = try naiveAB(s.transposed, y)
            XCTAssertLessThan(maxAbsDifference(lhs, rhs), 1e-12)
        }
    }

    func testFilterIsStable() throws {
        let f = try SpectralFilter(time: 2, ridge: 0, learningRate: 0.5, nTargets: 4)
        XCTAssertEqual(f.value(0), 0.25)                           // ηt/N, no 0/0
        XCTAssertEqual(f.value(1e-300), 0.25, accuracy: 1e-16)
        XCTAssertEqual(f.value(3), (1 - exp(-0.75)) / 3, accuracy: 1e-16)
        XCTAssertEqual(try SpectralFilter.ridge(0.5).value(1.5), 0.5)
        XCTAssertEqual(try SpectralFilter.ridge(0).value(0), 0)   // t = ∞, λ = 0: not learned
        XCTAssertEqual(try SpectralFilter(time: 1e308, learningRate: 1e10).value(2), 0.5)
        assertThrows(.invalidArgument, try SpectralFilter(time: -1))
        assertThrows(.invalidArgument, try SpectralFilter(time: .nan))
        assertThrows(.invalidArgument, try SpectralFilter(learningRate: 0))
        assertThrows(.nonFinite, try SpectralFilter(ridge: .infinity))
        assertThrows(.invalidArgument, try SpectralFilter(nTargets: 0))
    }

    /// f' = −(η/N) [K (f − y) + z (f − f₀)] integrated by classical RK4 with small steps.
    func integrateFlow(_ k: Matrix, y: Matrix, f0: Matrix, eta: Double, ridge: Double, time: Double) throws -> Matrix {
        let nTargets = Double(y.elements.count)
        func rate(_ f: Matrix) throws -> Matrix {
            (-eta / nTargets) * (try naiveAB(k, try f - y) + ridge * (try f - f0))
        }
        let steps = 4000, h = time / Double(steps)
        var f = f0
        for _ in 0..<steps {
            let k1 = try rate(f), k2 = try rate(try f + (h / 2) * k1), k3 = try rate(try f + (h / 2) * k2)
            let k4 = try rate(try f + h * k3)
            f = try f + (h / 6) * (try k1 + 2 * k2 + 2 * k3 + k4)
        }
        return f
    }

    func testGradientFlowMatchesODEAndKernelRidge() throws {
        let (k, kt, y, f0, f0t) = try problem()
        let solver = try SpectralSolver(k)
        for ridge in [0.0, 0.4] {
            let flow = try solver.gradientFlow(y: y, times: [0, 30, .infinity], kTestTrain: kt, f0Test: f0t,
                                               learningRate: 0.8, ridge: ridge, f0Train: f0)
            let trainOnly = try solver.gradientFlow(y: y, times: [0, 30, .infinity], learningRate: 0.8, ridge: ridge, f0Train: f0)
            XCTAssertEqual(trainOnly, flow.train)
            XCTAssertLessThan(maxAbsDifference(flow.train[0], f0), 1e-13)
            let ode = try integrateFlow(k, y: y, f0: f0, eta: 0.8, ridge: ridge, time: 30)
            XCTAssertLessThan(maxAbsDifference(flow.train[1], ode), 1e-10)
            let model = try KernelRidge.fit(kTrain: k, y: y, f0Train: f0, ridge: ridge)
            XCTAssertLessThan(maxAbsDifference(flow.train[2], try model.trainPredictionMatrix()), 1e-11)
            XCTAssertLessThan(maxAbsDifference(flow.test[2], try model.predict(kTestTrain: kt, f0Test: f0t)), 1e-11)
            // The dual coefficients of t = 30 predict the test points as the flow does.
            let alpha = try solver.dualCoefficients(y: y, f0Train: f0, time: 30, ridge: ridge, learningRate: 0.8)
            let viaAlpha = try naiveAB(kt, alpha) + f0t
            XCTAssertLessThan(maxAbsDifference(flow.test[1], viaAlpha), 1e-12)
        }
    }

    func testLeaveOneOutMatchesRefits() throws {
        let (k, _, y, f0, _) = try problem(n: 10, seed: 11)
        let ridges = [0.0, 0.01, 1.0]
        let selection = try SpectralSolver(k).selectRidge(y: y, f0Train: f0, ridges: ridges, criterion: .leaveOneOut)
        let (scores, best) = (selection.scores, selection.index)
        XCTAssertEqual(selection.ridge, ridges[best])
        for (g, z) in ridges.enumerated() {
            var sum = 0.0
            for i in 0..<10 {
                let keep = (0..<10).filter { $0 != i }
                let sub = try Matrix(keep.map { a in keep.map { b in k[a, b] } })
                let r = try Matrix(keep.map { a in (0..<2).map { c in y[a, c] - f0[a, c] } })
                let alpha = try choleskySolve(sub, r, ridge: z)
                for c in 0..<2 {
                    var pred = 0.0
                    for (j, a) in keep.enumerated() { pred += k[i, a] * alpha[j, c] }
                    let e = y[i, c] - f0[i, c] - pred
                    sum += e * e
                }
            }
            XCTAssertEqual(scores[g], sum / 20, accuracy: 1e-9 * sum / 20, "ridge \(z)")
        }
        XCTAssertEqual(best, scores.indices.min { scores[$0] < scores[$1] })
    }

    func testNegativeEigenvaluePolicyAndLearningRate() throws {
        let k = try Matrix([[1, 0], [0, -0.5]])
        let clamped = try SpectralSolver(k)
        XCTAssertEqual(clamped.clampedCount, 1)
        XCTAssertEqual(clamped.minimumRawEigenvalue, -0.5)
        XCTAssertEqual(clamped.eigenvalues, [0, 1])
        assertThrows(.notPositiveDefinite, try SpectralSolver(k, negativeEigenvalues: .error))
        XCTAssertEqual(try clamped.maxLearningRate(nTargets: 3), 6)
        XCTAssertEqual(try SpectralSolver(try Matrix(rows: 2, cols: 2)).maxLearningRate(nTargets: 2), .infinity)
    }
}
