@testable import NTK
import XCTest

/// NTK–vector products against explicit Jacobian products, and the Lanczos flow against the dense
/// spectral solver.
final class EmpiricalSolversTests: XCTestCase {
    /// K V = (1/k) Σ_c J_c J_cᵀ V with J from `MLP.jacobian` (rows s·k + c), for cached passes
    /// (two blocks of at most 4096 rows, sharing one block's φ' buffers) and for passes
    /// recomputed in blocks (a budget too small to keep them).
    func testProductsEqualExplicitJacobianProducts() throws {
        let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [7, 5], outputDimension: 2, activation: .tanh, biasStd: 0.4)
        let mlp = try MLP(a, seed: 9)
        var rng = TestRandom(seed: 4)
        let n = 4100, k = 2, p = a.parameterCount
        let x = try rng.matrix(n, 3), v = try rng.matrix(n, 3)
        let j = try mlp.jacobian(x)   // (n·k) × P
        var expected = try Matrix(rows: n, cols: 3)
        for r in 0..<3 {
            for c in 0..<k {
                var g = [Double](repeating: 0, count: p)
                for s in 0..<n { for q in 0..<p { g[q] += j[s * k + c, q] * v[s, r] } }
                for s in 0..<n {
                    var dot = 0.0
                    for q in 0..<p { dot += j[s * k + c, q] * g[q] }
                    expected[s, r] += dot / Double(k)
                }
            }
        }
        let scale = expected.elements.map(abs).max()!
        // Double products to rounding; single-precision ones (X and θ rounded, float passes and
        // GEMMs) to float's accuracy — but not exactly (they must really run in float).
        for single in [false, true] {
            let perRow = single ? NetworkPass<Float>.bytesPerRow(a, deltas: true)
                                : NetworkPass<Double>.bytesPerRow(a, deltas: true)
            for budget in [1 << 30, 100 * perRow] {
                let got = try x.withView { xv in
                    try v.withView { vv -> Matrix in
                        let op = try EmpiricalNTKOperator(mlp, x: xv, budget: budget, single: single)
                        let g = try op.parameterVectors(columns: 3, for: "test")
                        var out = try Matrix(rows: n, cols: 3)
                        try out.withMutableView { try op.apply(vv, into: $0, g: g) }
                        return out
                    }
                }
                let error = maxAbsDifference(got, expected) / scale
                if single {
                    XCTAssertLessThan(error, 1e-5, "single, budget \(budget)")
                    XCTAssertGreaterThan(error, 1e-9, "single, budget \(budget)")
                } else {
                    XCTAssertLessThan(error, 1e-13, "budget \(budget)")
                }
            }
        }
    }

    /// The Lanczos flow on the training points against the eigendecomposition of the dense kernel.
    func testEmpiricalGradientFlowMatchesTheSpectralSolver() throws {
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [16], outputDimension: 1, activation: .relu, biasStd: 0.2)
        let mlp = try MLP(a, seed: 2)
        var rng = TestRandom(seed: 8)
        let x = try rng.matrix(80, 2), y = try rng.matrix(80, 1)
        var k = try Matrix(rows: 80, cols: 80)
        try x.withView { xv in try k.withMutableView { try EmpiricalKernel.compute(mlp, xv, nil, into: $0) } }
        let solver = try SpectralSolver(k)
        let times = [0.5, 20.0, 400.0]
        let dense = try solver.gradientFlow(y: y, times: times)
        var flat = [Double](repeating: 0, count: times.count * 80)
        let diagnostics = try x.withView { xv in
            try Targets.with(y, nil) { t in
                try flat.withUnsafeMutableBufferPointer { out in
                    var options = EmpiricalGradientFlow.Options()
                    options.tolerance = 1e-13
                    return try EmpiricalGradientFlow.predict(mlp: mlp, x: xv, targets: t, times: times,
                                                             options: options, trainOut: out.baseAddress, testOut: nil)
                }
            }
        }
        XCTAssertTrue(diagnostics.converged)
        for (f, _) in times.enumerated() {
            for i in 0..<80 { XCTAssertEqual(flat[f * 80 + i], dense[f][i, 0], accuracy: 1e-9) }
        }
    }
}

/// The empirical NTK's tiling: many small tiles (a partial last one; symmetric tiles mirrored)
/// give the kernel of one large tile, in every output form, symmetric and two-sided.
final class EmpiricalKernelTilingTests: XCTestCase {
    func testSmallTilesEqualOneTile() throws {
        var rng = TestRandom(seed: 41)
        let a = try MLPArchitecture(inputDimension: 4, hiddenWidths: [7, 5], outputDimension: 2, activation: .gelu,
                                    biasStd: 0.3)
        let mlp = try MLP(a, seed: 2)
        let x1 = try rng.matrix(150, 4), x2 = try rng.matrix(70, 4)
        for form in [EmpiricalKernel.Output.mean, .perOutput, .full] {
            for other in [nil, x2] as [Matrix?] {
                let cols = (other?.rows ?? 150) * form.entries(2)
                var small = try Matrix(rows: 150, cols: cols, repeating: .nan)
                var large = try Matrix(rows: 150, cols: cols, repeating: .nan)
                for (tile, target) in [(48, 0), (1024, 1)] {
                    try x1.withView { v1 in
                        try Matrix.withOptionalView(other) { v2 in
                            let body = { (out: MutableMatrixView) in
                                try EmpiricalKernel.compute(mlp, v1, v2, output: form, method: .structured, into: out,
                                                            memoryLimit: nil, progress: .none, tile: tile)
                            }
                            if target == 0 { try small.withMutableView(body) } else { try large.withMutableView(body) }
                        }
                    }
                }
                let scale = large.elements.map(abs).max() ?? 1
                XCTAssertLessThan(maxAbsDifference(small, large), 1e-13 * scale, "\(form), two-sided \(other != nil)")
            }
        }
    }
}
