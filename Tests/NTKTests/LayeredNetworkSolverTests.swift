@testable import NTK
import XCTest

/// The solvers on a layered network's kernels against the dense kernels: CG kernel ridge against
/// the Cholesky solve, the Lanczos flow against the eigendecomposition, Nyström on the CNTK
/// with every point as a centre against dense kernel ridge.
final class LayeredNetworkSolverTests: XCTestCase {
    func testRidgeAndFlowEqualTheDenseKernelsSolutions() throws {
        let net = try smallCNN(seed: 4)
        var rng = TestRandom(seed: 6)
        let x = try rng.matrix(30, 32), test = try rng.matrix(7, 32), y = try rng.matrix(30, 2)
        let k = try net.empiricalKernel(x), kTest = try net.empiricalKernel(test, x)
        let dense = try KernelRidge.fit(kTrain: k, y: y, ridge: 0.05).predict(kTestTrain: kTest)
        var options = EmpiricalNTKRidge.Options()
        options.tolerance = 1e-13
        options.preconditionerRank = 6
        for limit in [nil, 64 << 10] as [Int?] {  // Jacobian kept, or recomputed in blocks
            options.memoryLimit = limit
            let ridge = try Targets.with(y, nil) { t in
                try x.withView { try EmpiricalNTKRidge(network: net, x: $0, targets: t, ridge: 0.05, options: options) }
            }
            XCTAssertTrue(ridge.converged)
            XCTAssertEqual(ridge.inputDimension, 32)
            var predictions = try Matrix(rows: 7, cols: 2)
            try test.withView { tv in try predictions.withMutableView { try ridge.predict(x: tv, offsets: nil, into: $0) } }
            let scale = dense.elements.map(abs).max()!
            XCTAssertLessThan(maxAbsDifference(predictions, dense), 1e-10 * scale, "limit \(String(describing: limit))")
        }
        // The fit keeps the parameters it started with.
        let ridge = try Targets.with(y, nil) { t in
            try x.withView { try EmpiricalNTKRidge(network: net, x: $0, targets: t, ridge: 0.05, options: options) }
        }
        let theta = net.parameterArray
        try net.setParameters(theta.map { $0 * 1.5 })
        var after = try Matrix(rows: 7, cols: 2)
        try test.withView { tv in try after.withMutableView { try ridge.predict(x: tv, offsets: nil, into: $0) } }
        XCTAssertLessThan(maxAbsDifference(after, dense), 1e-10 * dense.elements.map(abs).max()!)
        try net.setParameters(theta)
        try test.withView { tv in
            XCTAssertThrowsError(try after.withMutableView { try ridge.predict(rows: [0, 1], offsets: nil, into: $0) })
        }

        let times = [0.5, 30.0]
        let spectral = try SpectralSolver(k).gradientFlow(y: y, times: times, kTestTrain: kTest)
        var train = [Double](repeating: 0, count: 2 * 30 * 2), testOut = [Double](repeating: 0, count: 2 * 7 * 2)
        var flowOptions = EmpiricalGradientFlow.Options()
        flowOptions.tolerance = 1e-13
        let diagnostics = try Targets.with(y, nil) { t in
            try x.withView { xv in
                try test.withView { tv in
                    try train.withUnsafeMutableBufferPointer { tr in
                        try testOut.withUnsafeMutableBufferPointer { te in
                            try EmpiricalGradientFlow.predict(network: net, x: xv, targets: t, times: times,
                                                              options: flowOptions, test: tv, trainOut: tr.baseAddress,
                                                              testOut: te.baseAddress)
                        }
                    }
                }
            }
        }
        XCTAssertTrue(diagnostics.converged)
        for f in 0..<2 {
            for i in 0..<30 { for c in 0..<2 { XCTAssertEqual(train[(f * 30 + i) * 2 + c], spectral.train[f][i, c], accuracy: 1e-9) } }
            for i in 0..<7 { for c in 0..<2 { XCTAssertEqual(testOut[(f * 7 + i) * 2 + c], spectral.test[f][i, c], accuracy: 1e-9) } }
        }
    }

    /// Nyström on the infinite-width NTK of a CNN with every point as a centre is dense kernel
    /// ridge on `NetworkArchitecture.infiniteWidthKernels`.
    func testNystromOnTheCNTKIsKernelRidge() throws {
        let architecture = try NetworkArchitecture(
            inputShape: [4, 4, 1],
            layers: [.conv(channels: 2, kernelSize: [3, 3], padding: .same), .activation(.relu),
                     .avgPool(window: [2, 2], strides: [2, 2]), .flatten, .dense(width: 1)],
            weightStd: 1.4, biasStd: 0.1)
        var rng = TestRandom(seed: 31)
        let x = try rng.matrix(25, 16), test = try rng.matrix(4, 16), y = try rng.matrix(25, 1)
        let (_, k) = try architecture.infiniteWidthKernels(x)
        let (_, kTest) = try architecture.infiniteWidthKernels(test, x)
        let dense = try KernelRidge.fit(kTrain: k, y: y, ridge: 0.01).predict(kTestTrain: kTest)
        let kernel = try NetworkInfiniteWidthPointKernel(architecture)
        XCTAssertEqual(kernel.inputDimension, 16)
        let model = try Targets.with(y, nil) { t in
            try x.withView { xv in try NystromRidge.fit(kernel: kernel, x: xv, targets: t, ridge: 0.01, centers: xv) }
        }
        var predictions = try Matrix(rows: 4, cols: 1)
        try test.withView { tv in try predictions.withMutableView { try model.predict(x: tv, offsets: nil, into: $0) } }
        XCTAssertLessThan(maxAbsDifference(predictions, dense), 1e-8 * dense.elements.map(abs).max()!)
        let reluFirst = try NetworkArchitecture(inputShape: [4, 4, 1], layers: [.activation(.relu), .flatten,
                                                                                .dense(width: 1)])
        assertThrows(.invalidArgument, try NetworkInfiniteWidthPointKernel(reluFirst))
    }
}
