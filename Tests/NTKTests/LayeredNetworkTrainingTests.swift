import Foundation
@testable import NTK
import XCTest

/// A small CNN on 4 × 4 × 2 inputs: conv, pooling, a residual block, Flatten and a 2-output readout.
func smallCNN(seed: UInt64) throws -> Network {
    try Network(try NetworkArchitecture(
        inputShape: [4, 4, 2],
        layers: [.conv(channels: 3, kernelSize: [2, 2], padding: .same), .activation(.tanh),
                 .residual([.activation(.softplus), .conv(channels: 3, kernelSize: [3, 3], padding: .same)]),
                 .avgPool(window: [2, 2], padding: .valid), .flatten, .dense(width: 2)],
        weightStd: 1.2, biasStd: 0.3, parameterization: .ntk), seed: seed)
}

/// Training a network built from layers: the loss gradient against the Jacobian (Jᵀ ∂L/∂f with
/// ∂L/∂f written out here) and against finite differences of the loss, and the training loop
/// against gradient steps taken by hand.
final class LayeredNetworkTrainingTests: XCTestCase {
    func network(seed: UInt64 = 7) throws -> Network { try smallCNN(seed: seed) }

    /// ∂L/∂f for MSE (mean over all n·k entries) and softmax cross-entropy (mean over rows).
    func outputGradient(_ f: Matrix, _ y: Matrix, _ loss: Loss) -> Matrix {
        var g = f
        let n = f.rows, k = f.cols
        for i in 0..<n {
            let top = (0..<k).map { f[i, $0] }.max()!
            let sum = (0..<k).map { exp(f[i, $0] - top) }.reduce(0, +)
            for c in 0..<k {
                g[i, c] = loss == .mse ? (f[i, c] - y[i, c]) / Double(n * k)
                                       : (exp(f[i, c] - top) / sum - y[i, c]) / Double(n)
            }
        }
        return g
    }

    func testLossGradientIsTheJacobianTransposeOfTheOutputGradient() throws {
        let net = try network()
        var rng = TestRandom(seed: 3)
        let n = 300  // more rows than one block of the backward pass (256)
        let x = try rng.matrix(n, 32)
        var probabilities = try Matrix(rows: n, cols: 2)
        for i in 0..<n { probabilities[i, i % 2] = 1 }
        let jacobian = try net.jacobian(x), f = try net(x)
        for (loss, y) in [(Loss.mse, try rng.matrix(n, 2)), (Loss.crossEntropy, probabilities)] {
            let (value, gradient) = try net.lossGradient(x: x, y: y, loss: loss)
            let g = outputGradient(f, y, loss)
            var worst = 0.0, scale = 0.0
            for q in 0..<net.parameterCount {
                var want = 0.0
                for i in 0..<n { for c in 0..<2 { want += jacobian[i * 2 + c, q] * g[i, c] } }
                worst = max(worst, abs(gradient[q] - want))
                scale = max(scale, abs(want))
            }
            XCTAssertLessThan(worst, 1e-12 * scale, "\(loss)")
            var mse = 0.0
            for i in 0..<n { for c in 0..<2 { mse += 0.5 * pow(f[i, c] - y[i, c], 2) } }
            if loss == .mse { XCTAssertEqual(value, mse / Double(2 * n), accuracy: 1e-14 * value) }
        }
    }

    func testLossGradientMatchesFiniteDifferences() throws {
        let net = try network(seed: 2)
        var rng = TestRandom(seed: 8)
        let x = try rng.matrix(6, 32)
        var y = try Matrix(rows: 6, cols: 2)
        for i in 0..<6 { y[i, 0] = 0.3; y[i, 1] = 0.7 }
        let (_, gradient) = try net.lossGradient(x: x, y: y, loss: .crossEntropy)
        let theta = net.parameterArray, h = 1e-6
        func lossAt(_ t: [Double]) throws -> Double {
            try net.setParameters(t)
            return try net.lossGradient(x: x, y: y, loss: .crossEntropy).loss
        }
        for q in stride(from: 0, to: theta.count, by: 5) {
            var up = theta, down = theta
            up[q] += h
            down[q] -= h
            let fd = (try lossAt(up) - lossAt(down)) / (2 * h)
            XCTAssertEqual(gradient[q], fd, accuracy: 1e-8 * max(1, abs(fd)), "parameter \(q)")
        }
    }

    func testTrainingTakesTheGradientStepsAndRecordsTheKernel() throws {
        var rng = TestRandom(seed: 5)
        let x = try rng.matrix(12, 32), y = try rng.matrix(12, 2)
        // Two momentum steps by hand: v ← μ v + ∇L, θ ← θ − η v.
        let reference = try network()
        var theta = reference.parameterArray, velocity = [Double](repeating: 0, count: theta.count)
        let before = try reference.empiricalKernel(x)
        for _ in 0..<2 {
            let g = try reference.lossGradient(x: x, y: y).gradient
            for q in 0..<theta.count {
                velocity[q] = 0.5 * velocity[q] + g[q]
                theta[q] -= 0.3 * velocity[q]
            }
            try reference.setParameters(theta)
        }
        let net = try network()
        let result = try net.train(x: x, y: y, options: TrainingOptions(learningRate: 0.3, epochs: 2, momentum: 0.5,
                                                                        snapshotEpochs: [0, 2]), probe: x)
        XCTAssertEqual(result.epochsRun, 2)
        XCTAssertLessThan(zip(net.parameterArray, theta).map { abs($0 - $1) }.max()!, 1e-13)
        XCTAssertEqual(result.losses[2], try reference.lossGradient(x: x, y: y).loss, accuracy: 1e-14)
        XCTAssertLessThan(result.losses[2], result.losses[0])
        XCTAssertEqual(result.snapshotEpochs, [0, 2])
        XCTAssertLessThan(maxAbsDifference(result.kernels[0], before), 1e-13)
        XCTAssertLessThan(maxAbsDifference(result.kernels[1], try net.empiricalKernel(x)), 1e-13)
        // Minibatches: reproducible from the seed, and the loss goes down.
        let a = try network(), b = try network()
        let options = TrainingOptions(learningRate: 0.5, epochs: 15, batchSize: 5, seed: 4)
        let ra = try a.train(x: x, y: y, options: options), rb = try b.train(x: x, y: y, options: options)
        XCTAssertEqual(ra.losses, rb.losses)
        XCTAssertEqual(a.parameterArray, b.parameterArray)
        XCTAssertLessThan(ra.losses.last!, 0.7 * ra.losses[0])
        assertThrows(.dimensionMismatch, try a.train(x: x, y: try rng.matrix(12, 3), options: options))
        assertThrows(.dimensionMismatch, try a.lossGradient(x: try rng.matrix(12, 31), y: y))
    }
}
