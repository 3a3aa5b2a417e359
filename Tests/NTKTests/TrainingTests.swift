import NTK
import XCTest

final class TrainingTests: XCTestCase {
    func testCrossEntropyGradientMatchesFiniteDifferences() throws {
        var rng = TestRandom(seed: 41)
        let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [5], outputDimension: 3, activation: .softplus, biasStd: 0.3)
        let mlp = try MLP(a, seed: 2)
        let x = try rng.matrix(6, 3)
        var y = try Matrix(rows: 6, cols: 3)
        for i in 0..<6 { y[i, i % 3] = 1 }
        var gradient = [Double](repeating: 0, count: a.parameterCount)
        let loss = try x.withView { xv in
            try y.withView { yv in try gradient.withUnsafeMutableBufferPointer { try mlp.lossGradient(x: xv, y: yv, loss: .crossEntropy, into: $0.baseAddress) } }
        }
        XCTAssertGreaterThan(loss, 0)
        let theta = mlp.parameterArray, h = 1e-6
        func lossAt(_ t: [Double]) throws -> Double {
            try mlp.setParameters(t)
            return try x.withView { xv in try y.withView { yv in try mlp.lossGradient(x: xv, y: yv, loss: .crossEntropy, into: nil) } }
        }
        for p in 0..<a.parameterCount {
            var up = theta, down = theta
            up[p] += h
            down[p] -= h
            XCTAssertEqual(gradient[p], (try lossAt(up) - lossAt(down)) / (2 * h), accuracy: 1e-8, "p = \(p)")
        }
    }

    func testODEWithMSEFollowsTheClosedForm() throws {
        let k = try randomSPD(12, p: 4, shift: 0.2, seed: 3)
        var rng = TestRandom(seed: 5)
        let y = try rng.matrix(12, 2)
        let exact = try SpectralSolver(k).gradientFlow(y: y, times: [4], learningRate: 0.5).train[0]
        var ode = [Double](repeating: 0, count: 24)
        try k.withView { kv in
            try y.withView { yv in
                try ode.withUnsafeMutableBufferPointer {
                    try FunctionSpaceODE.solve(kTrain: kv, y: yv, f0Train: nil, times: [4], loss: .mse, learningRate: 0.5,
                                               kTestTrain: nil, f0Test: nil, trainOut: $0.baseAddress, testOut: nil)
                }
            }
        }
        XCTAssertLessThan(zip(ode, exact.elements).map { abs($0 - $1) }.max() ?? 1, 1e-8)
    }
}
