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
        let (loss, gradient) = try mlp.lossGradient(x: x, y: y, loss: .crossEntropy)
        XCTAssertGreaterThan(loss, 0)
        let theta = mlp.parameterArray, h = 1e-6
        func lossAt(_ t: [Double]) throws -> Double {
            try mlp.setParameters(t)
            return try mlp.lossGradient(x: x, y: y, loss: .crossEntropy).loss
        }
        for p in 0..<a.parameterCount {
            var up = theta, down = theta
            up[p] += h
            down[p] -= h
            XCTAssertEqual(gradient[p], (try lossAt(up) - lossAt(down)) / (2 * h), accuracy: 1e-8, "p = \(p)")
        }
    }

    func testTrainingRecordsTheKernelAndStopsOnRequest() throws {
        var rng = TestRandom(seed: 9)
        let mlp = try MLP(try MLPArchitecture(inputDimension: 2, hiddenWidths: [16], activation: .tanh, biasStd: 0.1), seed: 3)
        let x = try rng.matrix(20, 2)
        let y = try Matrix((0..<20).map { [sin(3 * x[$0, 0])] })
        let before = try mlp.empiricalNTK(x)
        let result = try mlp.train(x: x, y: y, options: TrainingOptions(learningRate: 0.5, epochs: 30, snapshotEpochs: [30, 0]),
                                   probe: x)
        XCTAssertEqual(result.epochsRun, 30)
        XCTAssertFalse(result.diverged)
        XCTAssertEqual(result.snapshotEpochs, [0, 30])
        XCTAssertLessThan(result.losses[30], 0.8 * result.losses[0])
        XCTAssertLessThan(maxAbsDifference(result.kernels[0], before), 1e-13)
        XCTAssertLessThan(maxAbsDifference(result.kernels[1], try mlp.empiricalNTK(x)), 1e-13)
        // The loss after training is what lossGradient reports for the trained parameters.
        XCTAssertEqual(try mlp.lossGradient(x: x, y: y).loss, result.losses[30], accuracy: 1e-14)
        let stopped = try mlp.train(x: x, y: y, options: TrainingOptions(learningRate: 0.5, epochs: 30)) { epoch, _ in epoch < 4 }
        XCTAssertEqual(stopped.epochsRun, 4)
    }

    func testODEWithMSEFollowsTheClosedForm() throws {
        let k = try randomSPD(12, p: 4, shift: 0.2, seed: 3)
        var rng = TestRandom(seed: 5)
        let y = try rng.matrix(12, 2)
        let kt = try rng.matrix(3, 12)
        let exact = try SpectralSolver(k).gradientFlow(y: y, times: [4], kTestTrain: kt, learningRate: 0.5)
        let ode = try FunctionSpaceODE.solve(kTrain: k, y: y, times: [4], kTestTrain: kt, learningRate: 0.5)
        XCTAssertLessThan(maxAbsDifference(ode.train[0], exact.train[0]), 1e-8)
        XCTAssertLessThan(maxAbsDifference(ode.test[0], exact.test[0]), 1e-8)
        XCTAssertLessThan(maxAbsDifference(try FunctionSpaceODE.solve(kTrain: k, y: y, times: [4], learningRate: 0.5)[0],
                                           exact.train[0]), 1e-8)
    }
}
