@testable import NTK
import XCTest

/// The finite network built from layers: Jacobians against central finite differences of the
/// forward pass, the vector–Jacobian product against the Jacobian, and the empirical kernel
/// against the Jacobian's Gram matrix.
final class LayeredNetworkGradientTests: XCTestCase {
    /// Every layer kind, smooth activations (finite differences need no kinks).
    func architecture(_ parameterization: Parameterization) throws -> NetworkArchitecture {
        try NetworkArchitecture(
            inputShape: [5, 4, 2],
            layers: [.conv(channels: 3, kernelSize: [3, 2], strides: [2, 1], padding: .circular), .activation(.tanh),
                     .residual([.conv(channels: 3, kernelSize: [2, 2]), .layerNorm(epsilon: 1e-3),
                                .activation(.erf), .conv(channels: 3, kernelSize: [3, 3], padding: .same)]),
                     .avgPool(window: [2, 2], padding: .same), .dense(width: 4), .activation(.gelu),
                     .conv(channels: 2, kernelSize: [1, 2], padding: .valid), .flatten, .dense(width: 2),
                     .activation(.sin), .dense(width: 2)],
            weightStd: 1.3, biasStd: 0.4, parameterization: parameterization)
    }

    func testJacobianMatchesFiniteDifferences() throws {
        for parameterization in [Parameterization.ntk, .standard] {
            let net = try Network(try architecture(parameterization), seed: 11)
            var rng = TestRandom(seed: 12)
            let (worst, scale) = try jacobianAgainstFiniteDifferences(net, try rng.matrix(3, 40), every: 3)
            XCTAssertLessThan(worst, 1e-7 * scale, "\(parameterization): \(worst) against a scale of \(scale)")
        }
    }

    /// The largest difference between `net.jacobian(x)` and central differences (step 1e-6) of
    /// the forward pass in every `every`-th parameter, and the largest derivative.
    func jacobianAgainstFiniteDifferences(_ net: Network, _ x: Matrix, every: Int) throws -> (Double, Double) {
        let jacobian = try net.jacobian(x), k = net.outputCount
        let theta = net.parameterArray, h = 1e-6
        var worst = 0.0, scale = 0.0
        for q in stride(from: 0, to: theta.count, by: every) {
            var plus = theta, minus = theta
            plus[q] += h
            minus[q] -= h
            try net.setParameters(plus)
            let fp = try net(x)
            try net.setParameters(minus)
            let fm = try net(x)
            for i in 0..<x.rows {
                for c in 0..<k {
                    let fd = (fp[i, c] - fm[i, c]) / (2 * h)
                    worst = max(worst, abs(fd - jacobian[i * k + c, q]))
                    scale = max(scale, abs(fd))
                }
            }
        }
        try net.setParameters(theta)
        return (worst, scale)
    }

    /// A convolution's backward forms its patch signals by chunks of (example, position) units;
    /// here a chunk holds 101 units of 100-position examples, so chunks start mid-example and
    /// three examples take three chunks.
    func testChunkedPatchSignalsMatchFiniteDifferences() throws {
        let arch = try NetworkArchitecture(
            inputShape: [10, 10, 6],
            layers: [.conv(channels: 12, kernelSize: [3, 3], padding: .same), .activation(.tanh),
                     .conv(channels: 12, kernelSize: [3, 3], padding: .same), .activation(.tanh),
                     .globalAvgPool, .dense(width: 3)],
            weightStd: 1.3, biasStd: 0.4, parameterization: .ntk)
        let unitsPerChunk = LayerPass.signalChunkBytes / 8 / (3 * 9 * 12)
        XCTAssertEqual(unitsPerChunk, 101, "the chunk no longer splits examples: resize the test")
        var rng = TestRandom(seed: 6)
        // Every 7th parameter, from the first convolution's weights (their gradients need the
        // signal through the second) to the readout.
        let (worst, scale) = try jacobianAgainstFiniteDifferences(try Network(arch, seed: 5), try rng.matrix(3, 600),
                                                                  every: 7)
        XCTAssertLessThan(worst, 1e-7 * scale, "\(worst) against a scale of \(scale)")
    }

    func testVectorJacobianProductAndKernelAgreeWithTheJacobian() throws {
        let net = try Network(try architecture(.ntk), seed: 3)
        var rng = TestRandom(seed: 4)
        let x = try rng.matrix(5, 40), cotangents = try rng.matrix(3, 10)  // 3 cotangents of 5 × 2 outputs
        let j = try net.jacobian(x)
        let model = try NetworkModel(net, data: x)
        var g = try Matrix(rows: 3, cols: net.parameterCount)
        try cotangents.withView { u in try g.withMutableView { try model.vjp(rows: Array(0..<5), cotangents: u, into: $0) } }
        let tangents = try rng.matrix(2, net.parameterCount)
        var jv = try Matrix(rows: 2, cols: 10)
        try tangents.withView { v in try jv.withMutableView { try model.jvp(rows: Array(0..<5), tangents: v, into: $0) } }
        for r in 0..<3 {
            for q in 0..<net.parameterCount {
                var want = 0.0
                for row in 0..<10 { want += j[row, q] * cotangents[r, row] }
                XCTAssertEqual(g[r, q], want, accuracy: 1e-12 * max(1, abs(want)))
            }
        }
        for r in 0..<2 {
            for row in 0..<10 {
                var want = 0.0
                for q in 0..<net.parameterCount { want += j[row, q] * tangents[r, q] }
                XCTAssertEqual(jv[r, row], want, accuracy: 1e-12 * max(1, abs(want)))
            }
        }
        let kernel = try net.empiricalKernel(x, output: .perOutput)
        let y = try rng.matrix(2, 40)
        let cross = try net.empiricalKernel(x, y)
        let jy = try net.jacobian(y)
        for a in 0..<5 {
            for b in 0..<5 {
                for c in 0..<2 {
                    var want = 0.0
                    for q in 0..<net.parameterCount { want += j[a * 2 + c, q] * j[b * 2 + c, q] }
                    XCTAssertEqual(kernel[a, b * 2 + c], want, accuracy: 1e-12 * abs(want))
                }
            }
            for b in 0..<2 {
                var want = 0.0
                for c in 0..<2 { for q in 0..<net.parameterCount { want += j[a * 2 + c, q] * jy[b * 2 + c, q] } }
                XCTAssertEqual(cross[a, b], want / 2, accuracy: 1e-12 * abs(want))
            }
        }
    }

    func testParametersRoundTripAndCheckSizes() throws {
        let net = try Network(try architecture(.ntk), seed: 5)
        let other = try Network(try architecture(.ntk), seed: 5)
        XCTAssertEqual(net.parameterArray, other.parameterArray)
        XCTAssertEqual(net.parameterCount, net.architecture.parameterCount)
        assertThrows(.dimensionMismatch, try net.setParameters([1, 2]))
        var bad = net.parameterArray
        bad[3] = .nan
        assertThrows(.nonFinite, try net.setParameters(bad))
        assertThrows(.dimensionMismatch, try net(try Matrix(rows: 2, cols: 39)))
    }
}
