@testable import NTK
import XCTest

/// Kernel gradients and tuning objectives against central finite differences of the library's
/// own kernel values (an independent path: the jets are never used by `InfiniteWidthKernel`).
final class KernelTuningTests: XCTestCase {
    static let activations: [Activation] = [.identity, .relu, .leakyReLU(slope: 0.2), .abs, .tanh, .erf, .sigmoid,
                                            .gelu, .softplus, .sin]

    /// ∂T, ∂T' in (q1, q2, c) against central differences of `pair`, and the jets' values
    /// against `pair`'s, for every activation at moderate and strong correlations.
    func testPairJetsMatchFiniteDifferences() throws {
        for activation in Self.activations {
            let e = try GaussianExpectation(activation)
            for (q1, q2, rho) in [(0.7, 1.3, 0.35), (2.5, 0.4, -0.6), (1.1, 0.9, 0.93)] {
                let c = rho * (q1 * q2).squareRoot()
                let (t, dt) = e.pairJet(q1, q2, c)
                let (t0, dt0) = e.pair(q1, q2, c)
                XCTAssertEqual(t.value, t0, accuracy: 1e-12 * max(1, abs(t0)), "\(activation)")
                XCTAssertEqual(dt.value, dt0, accuracy: 1e-12 * max(1, abs(dt0)), "\(activation)")
                let point = [q1, q2, c]
                for v in 0..<3 {
                    let h = 1e-5 * max(abs(point[v]), 0.1)
                    var up = point, down = point
                    up[v] += h
                    down[v] -= h
                    let (tu, dtu) = e.pair(up[0], up[1], up[2]), (td, dtd) = e.pair(down[0], down[1], down[2])
                    let fdT = (tu - td) / (2 * h), fdDT = (dtu - dtd) / (2 * h)
                    XCTAssertEqual(t.partials[v], fdT, accuracy: 1e-6 * max(1, abs(fdT)), "\(activation) ∂T/∂\(v)")
                    XCTAssertEqual(dt.partials[v], fdDT, accuracy: 1e-6 * max(1, abs(fdDT)), "\(activation) ∂T'/∂\(v)")
                }
            }
        }
    }

    /// D(q), D'(q) and their derivatives against `diagonal` and its central differences.
    func testDiagonalJetsMatchFiniteDifferences() throws {
        for activation in Self.activations {
            let e = try GaussianExpectation(activation)
            for q in [0.3, 1.7, 6.0] {
                let jet = e.diagonalJet(q), (t0, dt0) = e.diagonal(q)
                XCTAssertEqual(jet.t, t0, accuracy: 1e-12 * max(1, abs(t0)), "\(activation)")
                XCTAssertEqual(jet.dt, dt0, accuracy: 1e-12 * max(1, abs(dt0)), "\(activation)")
                let h = 1e-5 * q
                let (tu, dtu) = e.diagonal(q + h), (td, dtd) = e.diagonal(q - h)
                XCTAssertEqual(jet.tq, (tu - td) / (2 * h), accuracy: 1e-6 * max(1, abs(jet.tq)), "\(activation)")
                XCTAssertEqual(jet.dtq, (dtu - dtd) / (2 * h), accuracy: 1e-6 * max(1, abs(jet.dtq)), "\(activation)")
            }
        }
    }

    /// The kernel of X s with hyperparameters θ, by `InfiniteWidthKernel` (the reference).
    func kernel(_ a: MLPArchitecture, _ kind: InfiniteWidthPointKernel.Kind, _ x: Matrix,
                _ h: KernelHyperparameters) throws -> Matrix {
        var xs = x
        for i in 0..<x.rows { for j in 0..<x.cols { xs[i, j] *= h.inputScales[j] } }
        let b = try h.apply(to: a)
        let (nngp, ntk) = try b.infiniteWidthKernels(xs)
        return kind == .nngp ? nngp : ntk
    }

    /// θ moved by `step` along hyperparameter `index` ([W, b, s_1 …]).
    func moved(_ h: KernelHyperparameters, _ index: Int, _ step: Double) -> KernelHyperparameters {
        var m = h
        switch index {
        case 0: m.weightStd += step
        case 1: m.biasStd += step
        default: m.inputScales[index - 2] += step
        }
        return m
    }

    /// Every derivative matrix against central differences, for every activation, depths 1–4,
    /// NNGP and NTK, both parameterisations; and `contract` against ⟨G, ∂K/∂θ⟩ from them.
    func testKernelDerivativesMatchFiniteDifferences() throws {
        var rng = TestRandom(seed: 11)
        let n = 6, d = 3
        let x = try rng.matrix(n, d)
        let g = try rng.matrix(n, n)
        let h = KernelHyperparameters(weightStd: 1.3, biasStd: 0.4, inputScales: [0.8, 1.5, 0.6])
        for activation in Self.activations {
            for depth in [1, 2, 3, 4] {
                for parameterization in [Parameterization.ntk, .standard] {
                    let a = try MLPArchitecture(inputDimension: d, hiddenWidths: Array(repeating: 7, count: depth - 1),
                                                activation: activation, parameterization: parameterization)
                    for kind in [InfiniteWidthPointKernel.Kind.nngp, .ntk] {
                        try checkDerivatives(a, kind, x, g, h, "\(activation) depth \(depth) \(parameterization) \(kind)")
                    }
                }
            }
        }
    }

    /// Zero-norm inputs without biases keep a zero variance at every layer (the degenerate
    /// expectations): their derivatives are still those of the kernel, by central differences.
    func testZeroNormInputsWithoutBias() throws {
        var rng = TestRandom(seed: 4)
        var x = try rng.matrix(5, 3)
        for j in 0..<3 { x[2, j] = 0 }
        let g = try rng.matrix(5, 5)
        let h = KernelHyperparameters(weightStd: 1.1, biasStd: 0.5, inputScales: [1.2, 0.7, 0.9])
        for activation in [Activation.relu, .erf, .tanh, .gelu] {
            let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [4, 4], activation: activation, hasBias: false)
            for kind in [InfiniteWidthPointKernel.Kind.nngp, .ntk] {
                try checkDerivatives(a, kind, x, g, h, "\(activation) without bias, zero row, \(kind)")
            }
        }
    }

    func checkDerivatives(_ a: MLPArchitecture, _ kind: InfiniteWidthPointKernel.Kind, _ x: Matrix, _ g: Matrix,
                          _ h: KernelHyperparameters, _ label: String) throws {
        let n = x.rows, p = h.count
        var k = try Matrix(rows: n, cols: n)
        var dk = [Double](repeating: 0, count: p * n * n)
        try x.withView { xv in
            try k.withMutableView { kv in
                try dk.withUnsafeMutableBufferPointer { try KernelGradient.derivatives(a, kind: kind, xv, h, kernel: kv,
                                                                                        derivatives: $0.baseAddress!) }
            }
        }
        let reference = try kernel(a, kind, x, h)
        XCTAssertLessThan(maxAbsDifference(k, reference), 1e-12 * (reference.elements.map(abs).max() ?? 1), label)
        let contracted = try x.withView { xv in try g.withView { gv in
            try KernelGradient.contract(a, kind: kind, xv, h, weights: gv) } }
        for q in 0..<p {
            let step = 1e-6
            let up = try kernel(a, kind, x, moved(h, q, step)), down = try kernel(a, kind, x, moved(h, q, -step))
            let fd = zip(up.elements, down.elements).map { ($0 - $1) / (2 * step) }
            let exact = Array(dk[(q * n * n)..<((q + 1) * n * n)])
            let scale = max(fd.map(abs).max() ?? 0, 1e-3)
            let error = zip(fd, exact).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(error, 1e-6 * scale, "\(label) θ_\(q)")
            let inner = zip(g.elements, exact).map { $0 * $1 }.reduce(0, +)
            XCTAssertEqual(contracted[q], inner, accuracy: 1e-10 * max(1, abs(inner)), "\(label) contraction θ_\(q)")
        }
    }

    /// LML, GCV and LOO: value against the library's own GP / spectral formulas and every
    /// gradient entry ([W, b, s…, z, a]) against central differences of the objective.
    func testObjectiveGradientsMatchFiniteDifferences() throws {
        var rng = TestRandom(seed: 5)
        let n = 9, d = 2
        let x = try rng.matrix(n, d), y = try rng.matrix(n, 2)
        let a = try MLPArchitecture(inputDimension: d, hiddenWidths: [5], activation: .erf)
        let h = KernelHyperparameters(weightStd: 1.2, biasStd: 0.3, inputScales: [0.9, 1.4])
        for criterion in TuningCriterion.allCases {
            func evaluate(_ h: KernelHyperparameters, _ z: Double, _ amp: Double) throws -> (Double, [Double]) {
                try x.withView { xv in try y.withView { yv in
                    try KernelObjective.evaluate(a, kind: .ntk, xv, targets: try Targets(y: yv), hyper: h, ridge: z,
                                                 amplitude: amp, criterion: criterion) } }
            }
            let (value, gradient) = try evaluate(h, 0.05, 1.7)
            XCTAssertEqual(gradient.count, d + 4)
            for q in 0..<(d + 4) {
                let step = 1e-6
                let (up, down): (Double, Double)
                switch q {
                case d + 2: (up, down) = (try evaluate(h, 0.05 + step, 1.7).0, try evaluate(h, 0.05 - step, 1.7).0)
                case d + 3: (up, down) = (try evaluate(h, 0.05, 1.7 + step).0, try evaluate(h, 0.05, 1.7 - step).0)
                default: (up, down) = (try evaluate(moved(h, q, step), 0.05, 1.7).0,
                                       try evaluate(moved(h, q, -step), 0.05, 1.7).0)
                }
                let fd = (up - down) / (2 * step)
                XCTAssertEqual(gradient[q], fd, accuracy: 1e-6 * max(abs(fd), abs(value), 1e-3), "\(criterion) θ_\(q)")
            }
            if criterion == .logMarginalLikelihood {
                var k = try kernel(a, .ntk, x, h)
                for i in 0..<n { for j in 0..<n { k[i, j] *= 1.7 } }
                let gp = try GaussianProcess.posterior(kTrain: k, y: y, kTestTrain: try Matrix(rows: 0, cols: n),
                                                       kTest: try Matrix(rows: 0, cols: 0), ridge: 0.05)
                XCTAssertEqual(value, gp.logMarginalLikelihood, accuracy: 1e-10 * abs(value))
            }
        }
    }

    /// The Matrix-level forms agree with the pointer-level ones, and select_time's optimum is a
    /// GCV minimum of a fine grid of flows.
    func testMatrixForms() throws {
        var rng = TestRandom(seed: 9)
        let x = try rng.matrix(7, 2), y = try rng.matrix(7, 1)
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [3], activation: .gelu)
        let h = KernelHyperparameters(weightStd: 1.2, biasStd: 0.2, inputScales: [0.7, 1.1])
        let (k, dk) = try a.infiniteWidthGradient(x, kind: .nngp, hyper: h)
        XCTAssertEqual(dk.count, 4)
        XCTAssertLessThan(maxAbsDifference(k, try kernel(a, .nngp, x, h)), 1e-12)
        let up = try kernel(a, .nngp, x, moved(h, 3, 1e-6)), down = try kernel(a, .nngp, x, moved(h, 3, -1e-6))
        for i in 0..<7 { for j in 0..<7 { XCTAssertEqual(dk[3][i, j], (up[i, j] - down[i, j]) / 2e-6, accuracy: 1e-7) } }
        let matrixForm = try KernelObjective.evaluate(a, kind: .ntk, x: x, y: y, hyper: h, ridge: 0.1, criterion: .gcv)
        let viewForm = try x.withView { xv in try y.withView { yv in
            try KernelObjective.evaluate(a, kind: .ntk, xv, targets: try Targets(y: yv), hyper: h, ridge: 0.1,
                                         criterion: .gcv) } }
        XCTAssertEqual(matrixForm.value, viewForm.value)
        XCTAssertEqual(matrixForm.gradient, viewForm.gradient)
        let solver = try SpectralSolver(k)
        let chosen = try solver.selectTime(y: y)
        for factor in [0.5, 0.9, 1.1, 2.0] {
            let other = try SpectralFilter(time: chosen.time * factor, nTargets: 7)
            let spectrum = try solver.spectrum(of: try y.withView { try Targets(y: $0) })
            XCTAssertGreaterThanOrEqual(try spectrum.gcvScores(filters: [other])[0], chosen.score * (1 - 1e-12))
        }
    }

    /// Nyström GCV: its value is `NystromRidge`'s GCV for the same centres and ridge (the spectral
    /// path), and every gradient entry a central difference; with all points as centres it is
    /// the dense GCV.
    func testNystromGCV() throws {
        var rng = TestRandom(seed: 21)
        let x = try rng.matrix(14, 2), y = try rng.matrix(14, 2), centers = try rng.matrix(5, 2)
        let h = KernelHyperparameters(weightStd: 1.3, biasStd: 0.25, inputScales: [0.8, 1.2])
        for activation in [Activation.relu, .erf] {
            let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [3, 3], activation: activation)
            for kind in [InfiniteWidthPointKernel.Kind.ntk, .nngp] {
                func value(_ h: KernelHyperparameters, _ z: Double, _ amp: Double) throws -> (Double, [Double]) {
                    try KernelObjective.nystromGCV(a, kind: kind, x: x, centers: centers, y: y, hyper: h, ridge: z,
                                                   amplitude: amp)
                }
                let (v, g) = try value(h, 0.03, 1.4)
                var xs = x, cs = centers
                for i in 0..<14 { for j in 0..<2 { xs[i, j] *= h.inputScales[j] } }
                for i in 0..<5 { for j in 0..<2 { cs[i, j] *= h.inputScales[j] } }
                let scaled = try h.apply(to: a)
                let model = try xs.withView { xv in try cs.withView { cv in try y.withView { yv in
                    try NystromRidge.fit(kernel: InfiniteWidthPointKernel(scaled, kind: kind), x: xv,
                                         targets: try Targets(y: yv), ridge: 0.03 / 1.4, centers: cv) } } }
                let reference = try model.selectRidge(ridges: [0.03 / 1.4]).scores[0]
                XCTAssertEqual(v, reference, accuracy: 1e-9 * reference, "\(activation) \(kind)")
                for q in 0..<6 {
                    let step = 1e-6
                    let (up, down): (Double, Double)
                    switch q {
                    case 4: (up, down) = (try value(h, 0.03 + step, 1.4).0, try value(h, 0.03 - step, 1.4).0)
                    case 5: (up, down) = (try value(h, 0.03, 1.4 + step).0, try value(h, 0.03, 1.4 - step).0)
                    default: (up, down) = (try value(moved(h, q, step), 0.03, 1.4).0,
                                           try value(moved(h, q, -step), 0.03, 1.4).0)
                    }
                    let fd = (up - down) / (2 * step)
                    XCTAssertEqual(g[q], fd, accuracy: 1e-6 * max(abs(fd), abs(v)), "\(activation) \(kind) θ_\(q)")
                }
            }
        }
        // All points as centres: the Nyström kernel is K itself.
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [3], activation: .relu)
        let full = try KernelObjective.nystromGCV(a, kind: .ntk, x: x, centers: x, y: y, hyper: h, ridge: 0.05)
        let dense = try KernelObjective.evaluate(a, kind: .ntk, x: x, y: y, hyper: h, ridge: 0.05, criterion: .gcv)
        XCTAssertEqual(full.value, dense.value, accuracy: 1e-7 * dense.value)
    }

    /// Bad input: scales of the wrong length or negative, ridge 0, G of the wrong shape.
    func testBadInput() throws {
        let x = try Matrix(rows: 3, cols: 2, elements: [1, 0, 0, 1, 1, 1])
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [4])
        let bad = KernelHyperparameters(weightStd: 1, biasStd: 0, inputScales: [1])
        let negative = KernelHyperparameters(weightStd: 1, biasStd: 0, inputScales: [1, -1])
        let good = KernelHyperparameters(weightStd: 1, biasStd: 0, inputScales: [1, 1])
        let g = try Matrix(rows: 2, cols: 2)
        try x.withView { xv in
            try g.withView { gv in
                assertThrows(.dimensionMismatch, try KernelGradient.contract(a, kind: .ntk, xv, bad, weights: gv))
                assertThrows(.invalidArgument, try KernelGradient.contract(a, kind: .ntk, xv, negative, weights: gv))
                assertThrows(.dimensionMismatch, try KernelGradient.contract(a, kind: .ntk, xv, good, weights: gv))
                assertThrows(.invalidArgument, try KernelObjective.evaluate(a, kind: .ntk, xv,
                                                                            targets: try Targets(y: xv), hyper: good,
                                                                            ridge: 0, criterion: .gcv))
            }
        }
    }
}
