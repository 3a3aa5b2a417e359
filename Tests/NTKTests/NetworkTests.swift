import NTK
import XCTest

/// MLP forward, Jacobian and empirical NTK: finite differences and the Jacobian contraction.
final class NetworkTests: XCTestCase {
    func outputs(_ mlp: MLP, _ x: Matrix) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: mlp.architecture.outputDimension)
        try x.withView { xv in try out.withMutableView { try mlp.forward(xv, into: $0) } }
        return out
    }

    func jacobian(_ mlp: MLP, _ x: Matrix) throws -> [Double] { try mlp.jacobian(x).elements }

    func kernel(_ mlp: MLP, _ x1: Matrix, _ x2: Matrix?, _ form: EmpiricalKernel.Output,
                _ method: EmpiricalKernel.Method, memoryLimit: Int? = nil) throws -> [Double] {
        let k = mlp.architecture.outputDimension
        let entries = form == .mean ? 1 : (form == .perOutput ? k : k * k)
        var out = try Matrix(rows: x1.rows, cols: (x2?.rows ?? x1.rows) * entries, repeating: .nan)
        try x1.withView { v1 in
            try Matrix.withOptionalView(x2) { v2 in
                try out.withMutableView {
                    try EmpiricalKernel.compute(mlp, v1, v2, output: form, method: method, into: $0, memoryLimit: memoryLimit)
                }
            }
        }
        return out.elements
    }

    func testJacobianMatchesFiniteDifferences() throws {
        var rng = TestRandom(seed: 21)
        for (activation, param) in [(Activation.tanh, Parameterization.ntk), (.gelu, .standard), (.leakyReLU(slope: 0.2), .ntk)] {
            let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [4, 3], outputDimension: 2, activation: activation,
                                        weightStd: 1.2, biasStd: 0.5, parameterization: param)
            let mlp = try MLP(a, seed: 4)
            let x = try rng.matrix(3, 3)
            let j = try jacobian(mlp, x)
            let theta = mlp.parameterArray, h = 1e-5
            for p in 0..<a.parameterCount {
                var up = theta, down = theta
                up[p] += h
                down[p] -= h
                try mlp.setParameters(up)
                let fUp = try outputs(mlp, x)
                try mlp.setParameters(down)
                let fDown = try outputs(mlp, x)
                for s in 0..<3 {
                    for c in 0..<2 {
                        let fd = (fUp[s, c] - fDown[s, c]) / (2 * h)
                        XCTAssertEqual(j[(s * 2 + c) * a.parameterCount + p], fd, accuracy: 1e-7, "\(activation) p=\(p)")
                    }
                }
            }
            try mlp.setParameters(theta)
        }
    }

    func testStructuredEqualsJacobianInEveryForm() throws {
        var rng = TestRandom(seed: 22)
        let a = try MLPArchitecture(inputDimension: 4, hiddenWidths: [6, 5], outputDimension: 3, activation: .erf, biasStd: 0.2)
        let mlp = try MLP(a, seed: 1)
        let x1 = try rng.matrix(7, 4), x2 = try rng.matrix(5, 4)
        for form in [EmpiricalKernel.Output.mean, .perOutput, .full] {
            let s = try kernel(mlp, x1, x2, form, .structured), j = try kernel(mlp, x1, x2, form, .jacobian)
            let scale = s.map(abs).max() ?? 1
            XCTAssertLessThan(zip(s, j).map { abs($0 - $1) }.max() ?? 0, 1e-12 * scale, "\(form)")
        }
        // Symmetric with tiny memory blocks equals the two-sided kernel.
        let big = try rng.matrix(150, 4)
        let sym = try kernel(mlp, big, nil, .full, .structured, memoryLimit: 10_000)
        let two = try kernel(mlp, big, big, .full, .structured)
        XCTAssertLessThan(zip(sym, two).map { abs($0 - $1) }.max() ?? 0, 1e-12 * (two.map(abs).max() ?? 1))
    }

    /// The single-precision kernel against the double one of the same rounded inputs and θ: every
    /// form, both methods, one and two input sets, tiny memory blocks (recomputed passes) and
    /// small tiles. Agreement to 2e-6 of the largest entry (float rounding, a few hundred terms per
    /// entry), not to double accuracy (it really runs in single precision), and the symmetric
    /// kernel exactly symmetric.
    func testSinglePrecisionKernelAgreesWithDoubleToFloatAccuracy() throws {
        var rng = TestRandom(seed: 23)
        let a = try MLPArchitecture(inputDimension: 5, hiddenWidths: [48, 40], outputDimension: 3, activation: .gelu,
                                    biasStd: 0.3)
        let mlp = try singleRepresentable(a, seed: 2)
        let x1 = try rounded(&rng, 70, 5), x2 = try rounded(&rng, 9, 5)
        for form in [EmpiricalKernel.Output.mean, .perOutput, .full] {
            for method in [EmpiricalKernel.Method.structured, .jacobian] {
                for (second, limit) in [(nil, nil), (x2, nil), (nil, 20_000)] as [(Matrix?, Int?)] {
                    let expected = try kernel(mlp, x1, second, form, method)
                    let got = try singleKernel(mlp, x1, second, form, method, memoryLimit: limit)
                    let scale = expected.map(abs).max() ?? 1
                    let gap = zip(got, expected).map { abs(Double($0) - $1) }.max() ?? 0
                    XCTAssertLessThan(gap, 2e-6 * scale, "\(form) \(method) \(second == nil) \(String(describing: limit))")
                    XCTAssertGreaterThan(gap, 1e-12 * scale, "computed in single precision")
                    if second == nil, form != .full {
                        let n = x1.rows, e = form == .mean ? 1 : 3
                        for i in 0..<n { for j in 0..<i { for c in 0..<e {
                            XCTAssertEqual(got[(i * n + j) * e + c], got[(j * n + i) * e + c])
                        } } }
                    }
                }
            }
        }
        // A NaN input is rejected with its position, as in double precision.
        var bad = x1.elements.map { Float($0) }
        bad[7] = .nan
        var out = [Float](repeating: 0, count: 70 * 70)
        try bad.withUnsafeBufferPointer { xp in
            try out.withUnsafeMutableBufferPointer { op in
                let v = try SingleMatrixView(xp.baseAddress!, rows: 70, cols: 5)
                let o = try MutableSingleMatrixView(op.baseAddress!, rows: 70, cols: 70)
                assertThrows(.nonFinite, try EmpiricalKernel.compute(mlp, v, nil, into: o))
            }
        }
    }

    /// The single-precision Jacobian against the double one of the same rounded inputs and θ:
    /// within 1e-6 of each row's largest entry (a handful of roundings per entry), not exact.
    func testSinglePrecisionJacobianAgreesWithDouble() throws {
        var rng = TestRandom(seed: 24)
        let a = try MLPArchitecture(inputDimension: 4, hiddenWidths: [30, 20], outputDimension: 2, activation: .tanh,
                                    biasStd: 0.2)
        let mlp = try singleRepresentable(a, seed: 3)
        let x = try rounded(&rng, 300, 4)
        let expected = try mlp.jacobian(x)
        let p = a.parameterCount
        var got = [Float](repeating: .nan, count: 300 * 2 * p)
        let single = x.elements.map { Float($0) }
        try single.withUnsafeBufferPointer { xp in
            try got.withUnsafeMutableBufferPointer { jp in
                try mlp.jacobian(try SingleMatrixView(xp.baseAddress!, rows: 300, cols: 4), into: jp.baseAddress!)
            }
        }
        var worst = 0.0
        for row in 0..<(300 * 2) {
            let scale = (0..<p).map { abs(expected[row, $0]) }.max()!
            for q in 0..<p { worst = max(worst, abs(Double(got[row * p + q]) - expected[row, q]) / scale) }
        }
        XCTAssertLessThan(worst, 1e-6)
        XCTAssertGreaterThan(worst, 1e-12)
    }

    /// A network whose parameters are exactly single-precision numbers, so that single- and
    /// double-precision computations start from the same θ.
    func singleRepresentable(_ a: MLPArchitecture, seed: UInt64) throws -> MLP {
        let mlp = try MLP(a, seed: seed)
        try mlp.setParameters(mlp.parameterArray.map { Double(Float($0)) })
        return mlp
    }

    /// Random inputs rounded to single precision.
    func rounded(_ rng: inout TestRandom, _ rows: Int, _ cols: Int) throws -> Matrix {
        try Matrix(rows: rows, cols: cols, elements: try rng.matrix(rows, cols).elements.map { Double(Float($0)) })
    }

    func singleKernel(_ mlp: MLP, _ x1: Matrix, _ x2: Matrix?, _ form: EmpiricalKernel.Output,
                      _ method: EmpiricalKernel.Method, memoryLimit: Int?) throws -> [Float] {
        let k = mlp.architecture.outputDimension, d = x1.cols
        let entries = form == .mean ? 1 : (form == .perOutput ? k : k * k)
        let n2 = x2?.rows ?? x1.rows
        let s1 = x1.elements.map { Float($0) }, s2 = (x2 ?? x1).elements.map { Float($0) }
        var out = [Float](repeating: .nan, count: x1.rows * n2 * entries)
        try s1.withUnsafeBufferPointer { p1 in
            try s2.withUnsafeBufferPointer { p2 in
                try out.withUnsafeMutableBufferPointer { po in
                    let v1 = try SingleMatrixView(p1.baseAddress!, rows: x1.rows, cols: d)
                    let v2 = x2 == nil ? nil : try SingleMatrixView(p2.baseAddress!, rows: n2, cols: d)
                    let o = try MutableSingleMatrixView(po.baseAddress!, rows: x1.rows, cols: n2 * entries)
                    try EmpiricalKernel.compute(mlp, v1, v2, output: form, method: method, into: o,
                                                memoryLimit: memoryLimit)
                }
            }
        }
        return out
    }

    func testArchitectureValidationAndSeeding() throws {
        assertThrows(.invalidArgument, try MLPArchitecture(inputDimension: 0, hiddenWidths: []))
        assertThrows(.invalidArgument, try MLPArchitecture(inputDimension: 2, hiddenWidths: [0]))
        assertThrows(.nonFinite, try MLPArchitecture(inputDimension: 2, hiddenWidths: [], weightStd: .nan))
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [3], outputDimension: 1, hasBias: false)
        XCTAssertEqual(a.parameterCount, 2 * 3 + 3)
        XCTAssertEqual(try MLP(a, seed: 9).parameterArray, try MLP(a, seed: 9).parameterArray)
        XCTAssertNotEqual(try MLP(a, seed: 9).parameterArray, try MLP(a, seed: 10).parameterArray)
        assertThrows(.dimensionMismatch, try MLP(a).setParameters([1, 2]))
    }

    func testNormalGeneratorMoments() {
        var g = NormalGenerator(seed: 123)
        let draws = (0..<200_000).map { _ in g.next() }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count)
        // Standard errors: 1/√N ≈ 0.0022 for the mean, √(2/N) ≈ 0.0032 for the variance.
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.015)
    }

    func testJacobianKernelOfTheJacobianIsTheEmpiricalNTK() throws {
        var rng = TestRandom(seed: 77)
        let mlp = try MLP(try MLPArchitecture(inputDimension: 3, hiddenWidths: [7, 5], outputDimension: 2, activation: .gelu,
                                              biasStd: 0.2), seed: 4)
        let x1 = try rng.matrix(6, 3), x2 = try rng.matrix(4, 3)
        let j1 = try mlp.jacobian(x1), j2 = try mlp.jacobian(x2)
        XCTAssertEqual(j1.rows, 12)
        XCTAssertLessThan(maxAbsDifference(try JacobianKernel.compute(j1, j2, outputs: 2), try mlp.empiricalNTK(x1, x2)), 1e-12)
        assertThrows(.dimensionMismatch, try JacobianKernel.compute(j1, try rng.matrix(5, j1.cols), outputs: 2))
    }
}
