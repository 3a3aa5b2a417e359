@testable import NTK
import XCTest

/// Networks built from layers: shape inference and its errors, the window tables, and the
/// infinite-width recursion against cases with independent answers (the MLP, a full-window
/// convolution, symmetric vs two-sided). Python's test_layers.py checks the recursion against a
/// plain numpy implementation over full position-pair tensors; benchmarks/bench_cnn_kernels.py
/// against neural-tangents.
final class LayeredNetworkTests: XCTestCase {
    func testShapesAndParameterCounts() throws {
        let a = try NetworkArchitecture(
            inputShape: [7, 6, 2],
            layers: [.conv(channels: 4, kernelSize: [3, 3], strides: [2, 1], padding: .valid), .activation(.relu),
                     .residual([.conv(channels: 4, kernelSize: [3, 3]), .layerNorm()]),
                     .avgPool(window: [2, 2], strides: [1, 2], padding: .same), .flatten, .dense(width: 3)])
        // VALID 3 over 7 with stride 2: 3 positions; over 6 with stride 1: 4. SAME pool: ⌈3/1⌉, ⌈4/2⌉.
        XCTAssertEqual(a.inputDimension, 84)
        XCTAssertEqual(a.outputDimension, 3)
        XCTAssertEqual(a.parameterCount, (9 * 2 * 4 + 4) + (9 * 4 * 4 + 4) + (3 * 2 * 4 * 3 + 3))
    }

    func testWindowTablesMatchTheirDefinition() throws {
        for padding in Padding.allCases {
            for (n, f, s) in [(7, 3, 1), (7, 3, 2), (5, 4, 3), (4, 1, 1), (3, 5, 1), (6, 2, 2)] {
                guard padding != .valid || f <= n else {
                    assertThrows(.invalidArgument, try WindowAxis(input: n, window: f, stride: s, padding: padding,
                                                                  layer: "test"))
                    continue
                }
                let w = try WindowAxis(input: n, window: f, stride: s, padding: padding, layer: "test")
                let out = padding == .valid ? (n - f) / s + 1 : (n + s - 1) / s
                let lo = padding == .valid ? 0 : max((out - 1) * s + f - n, 0) / 2
                XCTAssertEqual(w.out, out)
                for a in 0..<f {
                    var fromRuns = [Int](repeating: -1, count: out)
                    for run in w.runs[a] {
                        for i in run.outputs { fromRuns[i] = run.source + (i - run.outputs.lowerBound) * s }
                    }
                    for i in 0..<out {
                        let src = i * s + a - lo
                        let want = (0..<n).contains(src) ? src : (padding == .circular ? ((src % n) + n) % n : -1)
                        XCTAssertEqual(Int(w.table[a * out + i]), want, "\(padding) n \(n) f \(f) s \(s) a \(a) i \(i)")
                        XCTAssertEqual(fromRuns[i], want)
                    }
                }
            }
        }
    }

    func testDescriptionsThatDoNotComposeThrow() {
        func make(_ shape: [Int], _ layers: [Layer]) throws -> NetworkArchitecture {
            try NetworkArchitecture(inputShape: shape, layers: layers)
        }
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [5, 5], padding: .valid),
                                                            .flatten, .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3]), .flatten,
                                                            .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3, 3], strides: [1, 0]),
                                                            .flatten, .dense(width: 1)]))
        assertThrows(.tooLarge, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3, 1 << 20]), .flatten,
                                                     .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([5], [.globalAvgPool, .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3, 3]),
                                                            .residual([.conv(channels: 3, kernelSize: [3, 3])]),
                                                            .flatten, .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3, 3]), .residual([]),
                                                            .flatten, .dense(width: 1)]))
        assertThrows(.invalidArgument, try make([4, 4, 1], [.conv(channels: 2, kernelSize: [3, 3])]))
        assertThrows(.invalidArgument, try make([4, 4, 1], []))
        assertThrows(.invalidArgument, try make([], [.dense(width: 1)]))
        assertThrows(.invalidArgument, try make([3], [.dense(width: 1, weightStd: -1)]))
        assertThrows(.nonFinite, try make([3], [.dense(width: 1, biasStd: .nan)]))
        assertThrows(.invalidArgument, try make([3], [.layerNorm(epsilon: -1), .dense(width: 1)]))
    }

    /// Dense layers on a flat input are the MLP, number for number, in both parameterizations.
    func testADenseNetworkIsTheMLP() throws {
        var rng = TestRandom(seed: 3)
        let x = try rng.matrix(5, 4), y = try rng.matrix(3, 4)
        for parameterization in [Parameterization.ntk, .standard] {
            let net = try NetworkArchitecture(
                inputShape: [4], layers: [.dense(width: 6), .activation(.relu), .dense(width: 2), .activation(.relu),
                                          .dense(width: 1)],
                weightStd: 1.2, biasStd: 0.3, parameterization: parameterization)
            let mlp = try MLPArchitecture(inputDimension: 4, hiddenWidths: [6, 2], activation: .relu, weightStd: 1.2,
                                          biasStd: 0.3, parameterization: parameterization)
            let (s1, t1) = try net.infiniteWidthKernels(x, y)
            let (s2, t2) = try mlp.infiniteWidthKernels(x, y)
            XCTAssertLessThan(maxAbsDifference(s1, s2), 1e-14)
            XCTAssertLessThan(maxAbsDifference(t1, t2), 1e-13)
        }
    }

    /// A VALID convolution whose window covers the whole input (spatial (3, 2), one channel) is a
    /// dense layer on the flattened input: fan-in 6 both ways, Σ = x·x'/6.
    func testAFullWindowConvolutionIsADenseLayer() throws {
        var rng = TestRandom(seed: 4)
        let x = try rng.matrix(4, 6)
        let conv = try NetworkArchitecture(inputShape: [3, 2, 1], layers: [
            .conv(channels: 5, kernelSize: [3, 2], padding: .valid), .activation(.gelu), .flatten, .dense(width: 1)],
            weightStd: 1.4, biasStd: 0.2)
        let mlp = try MLPArchitecture(inputDimension: 6, hiddenWidths: [5], activation: .gelu, weightStd: 1.4,
                                      biasStd: 0.2)
        let (s1, t1) = try conv.infiniteWidthKernels(x)
        let (s2, t2) = try mlp.infiniteWidthKernels(x)
        XCTAssertLessThan(maxAbsDifference(s1, s2), 1e-14)
        XCTAssertLessThan(maxAbsDifference(t1, t2), 1e-14)
    }

    /// The symmetric kernel is exactly symmetric, equals the two-sided one off the diagonal, and
    /// its diagonal is the points' own recursion; a cancel stops it.
    func testSymmetricKernelsAndCancellation() throws {
        var rng = TestRandom(seed: 5)
        let x = try rng.matrix(6, 5 * 4 * 2)
        let a = try NetworkArchitecture(inputShape: [5, 4, 2], layers: [
            .conv(channels: 3, kernelSize: [3, 3], padding: .circular), .activation(.erf),
            .avgPool(window: [2, 2]), .conv(channels: 3, kernelSize: [2, 2]), .activation(.relu), .globalAvgPool,
            .dense(width: 1)])
        let (s, t) = try a.infiniteWidthKernels(x)
        let (s2, t2) = try a.infiniteWidthKernels(x, x)
        for i in 0..<6 {
            for j in 0..<6 {
                XCTAssertEqual(s[i, j], s[j, i])
                XCTAssertEqual(t[i, j], t[j, i])
                if i != j {
                    XCTAssertEqual(s[i, j], s2[i, j], accuracy: 1e-13 * abs(s2[i, j]))
                    XCTAssertEqual(t[i, j], t2[i, j], accuracy: 1e-13 * abs(t2[i, j]))
                }
            }
        }
        var diagonal = [Double](repeating: 0, count: 6)
        try x.withView { v in
            try diagonal.withUnsafeMutableBufferPointer {
                try NetworkInfiniteWidthKernel.diagonal(a, v, nngp: nil, ntk: $0.baseAddress)
            }
        }
        for i in 0..<6 { XCTAssertEqual(diagonal[i], t[i, i]) }
        assertThrows(.cancelled, try a.infiniteWidthKernels(x, progress: ProgressHandler { $0 < 0.5 ? .proceed : .cancel }))
    }

    /// The single-precision CNTK against the double one of the same float inputs, for pooled
    /// (position pairs; GlobalAvgPool), Flatten (diagonal positions), strided-VALID, residual,
    /// LayerNorm and quadrature (tanh) networks, symmetric and two-sided: within 2e-6 of the
    /// largest entry, not equal (it runs in float), the symmetric kernel exactly symmetric.
    func testSinglePrecisionKernelsAgreeWithDouble() throws {
        var rng = TestRandom(seed: 6)
        let shape = [6, 5, 3], d = 90
        let rounded = { (rows: Int) in
            try Matrix(rows: rows, cols: d, elements: try rng.matrix(rows, d).elements.map { Double(Float($0)) })
        }
        let x = try rounded(9), y = try rounded(4)
        let networks: [[Layer]] = [
            [.conv(channels: 3, kernelSize: [3, 3]), .activation(.relu), .avgPool(window: [2, 2], padding: .same),
             .conv(channels: 3, kernelSize: [2, 2]), .activation(.gelu), .globalAvgPool, .dense(width: 1)],
            [.conv(channels: 3, kernelSize: [3, 2], strides: [2, 1], padding: .valid), .activation(.erf), .flatten,
             .dense(width: 2)],
            [.conv(channels: 3, kernelSize: [3, 3], padding: .circular),
             .residual([.activation(.relu), .conv(channels: 3, kernelSize: [3, 3])]), .layerNorm(),
             .activation(.tanh), .globalAvgPool, .dense(width: 1)],
        ]
        for layers in networks {
            let a = try NetworkArchitecture(inputShape: shape, layers: layers, biasStd: 0.2)
            for second in [nil, y] as [Matrix?] {
                let want = try a.infiniteWidthKernels(x, second)
                let n2 = second?.rows ?? 9
                let s1 = x.elements.map { Float($0) }, s2 = (second ?? x).elements.map { Float($0) }
                var nngp = [Float](repeating: .nan, count: 9 * n2), ntk = nngp
                try s1.withUnsafeBufferPointer { p1 in
                    try s2.withUnsafeBufferPointer { p2 in
                        try nngp.withUnsafeMutableBufferPointer { sp in
                            try ntk.withUnsafeMutableBufferPointer { tp in
                                try NetworkInfiniteWidthKernel.compute(
                                    a, try SingleMatrixView(p1.baseAddress!, rows: 9, cols: d),
                                    try second.map { _ in try SingleMatrixView(p2.baseAddress!, rows: n2, cols: d) },
                                    nngp: try MutableSingleMatrixView(sp.baseAddress!, rows: 9, cols: n2),
                                    ntk: try MutableSingleMatrixView(tp.baseAddress!, rows: 9, cols: n2))
                            }
                        }
                    }
                }
                for (got, expected) in [(nngp, want.nngp), (ntk, want.ntk)] {
                    let scale = expected.elements.map(abs).max()!
                    let gap = zip(got, expected.elements).map { abs(Double($0) - $1) }.max()!
                    XCTAssertLessThan(gap, 2e-6 * scale, "\(layers) \(second == nil)")
                    XCTAssertGreaterThan(gap, 1e-12 * scale, "computed in single precision")
                    if second == nil {
                        for i in 0..<9 { for j in 0..<i { XCTAssertEqual(got[i * 9 + j], got[j * 9 + i]) } }
                    }
                }
            }
        }
    }

    func testNonGaussianInputsAreRejectedForInfiniteWidth() throws {
        let x = try Matrix(rows: 2, cols: 16, elements: (0..<32).map { Double($0) / 10 })
        for layers: [Layer] in [
            [.activation(.relu), .flatten, .dense(width: 1)],
            [.conv(channels: 2, kernelSize: [3, 3]), .flatten, .layerNorm(), .dense(width: 1)],
            [.conv(channels: 2, kernelSize: [3, 3]), .residual([.conv(channels: 2, kernelSize: [3, 3]),
                                                                .activation(.erf)]), .flatten, .dense(width: 1)],
        ] {
            let a = try NetworkArchitecture(inputShape: [4, 4, 1], layers: layers)
            assertThrows(.invalidArgument, try a.infiniteWidthKernels(x))
        }
    }
}
