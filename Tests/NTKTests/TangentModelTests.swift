@testable import NTK
import XCTest

/// An MLP seen only through Jacobian products: its explicit Jacobian (`MLP.jacobian`) at the
/// requested rows of X, then J v and Jᵀ u by plain loops — an implementation independent of the
/// per-layer operator.
private final class ExplicitJacobianModel: TangentModel {
    let mlp: MLP
    let x: Matrix
    let parameterCount: Int
    let outputCount: Int
    let blockRows: Int
    let hasJacobian: Bool
    var calls = 0

    init(_ mlp: MLP, _ x: Matrix, blockRows: Int, hasJacobian: Bool) {
        self.mlp = mlp
        self.x = x
        parameterCount = mlp.architecture.parameterCount
        outputCount = mlp.architecture.outputDimension
        self.blockRows = blockRows
        self.hasJacobian = hasJacobian
    }

    /// (count·k) × P.
    func rowsJacobian(_ rows: [Int]) throws -> Matrix {
        calls += 1
        var xs = try Matrix(rows: rows.count, cols: x.cols)
        for (i, r) in rows.enumerated() { for j in 0..<x.cols { xs[i, j] = x[r, j] } }
        return try mlp.jacobian(xs)
    }

    func jvp(rows: [Int], tangents: MatrixView, into out: MutableMatrixView) throws {
        let j = try rowsJacobian(rows)
        for v in 0..<tangents.rows {
            for r in 0..<j.rows {
                var s = 0.0
                for q in 0..<parameterCount { s += j[r, q] * tangents[v, q] }
                out[v, r] = s
            }
        }
    }

    func vjp(rows: [Int], cotangents: MatrixView, into out: MutableMatrixView) throws {
        let j = try rowsJacobian(rows)
        for v in 0..<cotangents.rows {
            for q in 0..<parameterCount {
                var s = 0.0
                for r in 0..<j.rows { s += j[r, q] * cotangents[v, r] }
                out[v, q] = s
            }
        }
    }

    func jacobian(rows: [Int], into out: MutableMatrixView) throws {
        let j = try rowsJacobian(rows)
        for r in 0..<j.rows { for q in 0..<parameterCount { out[r, q] = j[r, q] } }
    }
}

/// A model whose products fail at a given call.
private final class FailingModel: TangentModel {
    let parameterCount = 3
    let outputCount = 1
    func jvp(rows: [Int], tangents: MatrixView, into out: MutableMatrixView) throws {
        throw NTKError(.callbackFailed, "jvp failed on purpose")
    }
    func vjp(rows: [Int], cotangents: MatrixView, into out: MutableMatrixView) throws {
        throw NTKError(.callbackFailed, "vjp failed on purpose")
    }
}

/// Rows `from..<to` of `m`.
private func slice(_ m: Matrix, _ from: Int, _ to: Int) throws -> Matrix {
    var out = try Matrix(rows: to - from, cols: m.cols)
    for i in from..<to { for j in 0..<m.cols { out[i - from, j] = m[i, j] } }
    return out
}

final class TangentModelTests: XCTestCase {
    func network() throws -> (MLP, Matrix) {
        let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [6, 4], outputDimension: 2, activation: .tanh,
                                    biasStd: 0.3)
        var rng = TestRandom(seed: 11)
        return (try MLP(a, seed: 5), try rng.matrix(17, 3))
    }

    /// Every form and method, with and without the Jacobian, in blocks of 4 rows and under a
    /// memory limit of two Jacobian rows' worth of blocks, equals the MLP's structured kernel.
    func testKernelEqualsTheNetworksKernel() throws {
        let (mlp, x) = try network()
        let train = Array(0..<12), test = Array(12..<17)
        let a = mlp.architecture
        for form in [EmpiricalKernel.Output.mean, .perOutput, .full] {
            let e = form.entries(2)
            var expected = try Matrix(rows: 12, cols: 5 * e), expectedSym = try Matrix(rows: 12, cols: 12 * e)
            let xTrain = try slice(x, 0, 12), xTest = try slice(x, 12, 17)
            try xTrain.withView { xv in
                try xTest.withView { tv in
                    try expected.withMutableView { try EmpiricalKernel.compute(mlp, xv, tv, output: form, into: $0) }
                    try expectedSym.withMutableView { try EmpiricalKernel.compute(mlp, xv, nil, output: form, into: $0) }
                }
            }
            for (hasJacobian, method, limit) in [(false, TangentModelKernel.Method.contraction, nil as Int?),
                                                 (true, .contraction, 6 * 2 * a.parameterCount * 8),
                                                 (false, .vectorProducts, nil)] {
                let model = ExplicitJacobianModel(mlp, x, blockRows: 4, hasJacobian: hasJacobian)
                var got = try Matrix(rows: 12, cols: 5 * e), sym = try Matrix(rows: 12, cols: 12 * e)
                try got.withMutableView {
                    try TangentModelKernel.compute(model, rows1: train, rows2: test, output: form, method: method,
                                                   into: $0, memoryLimit: limit)
                }
                try sym.withMutableView {
                    try TangentModelKernel.compute(model, rows1: train, rows2: nil, output: form, method: method,
                                                   into: $0, memoryLimit: limit)
                }
                XCTAssertLessThan(maxAbsDifference(got, expected), 1e-12, "\(form) \(method) \(hasJacobian)")
                XCTAssertLessThan(maxAbsDifference(sym, expectedSym), 1e-12, "\(form) \(method) \(hasJacobian)")
                for i in 0..<12 { for j in 0..<i { XCTAssertEqual(sym[i, j * e], sym[j, i * e]) } }
            }
        }
    }

    /// CG ridge and the Lanczos flow through the model equal the network's: by vector products,
    /// by a kept Jacobian, and by Jacobian blocks (a budget too small to keep it, 8 vectors per
    /// product in the ridge and its predictions).
    func testSolversEqualTheNetworks() throws {
        for (hasJacobian, limit) in [(false, nil as Int?), (true, nil), (true, 16 << 10)] {
            try checkSolvers(hasJacobian: hasJacobian, memoryLimit: limit)
        }
    }

    func checkSolvers(hasJacobian: Bool, memoryLimit: Int?) throws {
        let (mlp, x) = try network()
        var rng = TestRandom(seed: 3)
        let y = try rng.matrix(12, 4)  // 4 columns × 2 outputs: 8 vectors per product, Jacobian blocks
        let xTrain = try slice(x, 0, 12), xTest = try slice(x, 12, 17)
        let model = ExplicitJacobianModel(mlp, x, blockRows: 5, hasJacobian: hasJacobian)
        var options = EmpiricalNTKRidge.Options()
        options.tolerance = 1e-13
        options.preconditionerRank = 4
        options.memoryLimit = memoryLimit
        let (fromModel, fromNetwork) = try Targets.with(y, nil) { t in
            try xTrain.withView { xv in
                (try EmpiricalNTKRidge(model: model, rows: Array(0..<12), targets: t, ridge: 0.02, options: options),
                 try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: t, ridge: 0.02, options: options))
            }
        }
        XCTAssertNil(fromModel.inputDimension)
        var p1 = try Matrix(rows: 5, cols: 4), p2 = try Matrix(rows: 5, cols: 4)
        try p1.withMutableView { try fromModel.predict(rows: Array(12..<17), offsets: nil, into: $0) }
        try xTest.withView { tv in try p2.withMutableView { try fromNetwork.predict(x: tv, offsets: nil, into: $0) } }
        XCTAssertLessThan(maxAbsDifference(p1, p2), 1e-9, "jacobian \(hasJacobian), limit \(String(describing: memoryLimit))")
        try xTest.withView { tv in
            XCTAssertThrowsError(try p1.withMutableView { try fromModel.predict(x: tv, offsets: nil, into: $0) })
        }

        let times = [0.3, 2.0]
        var flowModel = [Double](repeating: 0, count: 2 * 5 * 4), flowNetwork = flowModel
        var flowOptions = EmpiricalGradientFlow.Options()
        flowOptions.tolerance = 1e-12
        flowOptions.memoryLimit = memoryLimit.map { $0 * 4 }
        try Targets.with(y, nil) { t in
            _ = try flowModel.withUnsafeMutableBufferPointer { out in
                try EmpiricalGradientFlow.predict(model: model, rows: Array(0..<12), targets: t, times: times,
                                                  options: flowOptions, testRows: Array(12..<17), trainOut: nil,
                                                  testOut: out.baseAddress)
            }
            try xTrain.withView { xv in
                try xTest.withView { tv in
                    _ = try flowNetwork.withUnsafeMutableBufferPointer { out in
                        try EmpiricalGradientFlow.predict(mlp: mlp, x: xv, targets: t, times: times,
                                                          options: flowOptions, test: tv, trainOut: nil,
                                                          testOut: out.baseAddress)
                    }
                }
            }
        }
        for (a, b) in zip(flowModel, flowNetwork) { XCTAssertEqual(a, b, accuracy: 1e-9) }
    }

    /// A product's error stops the kernel and the fit with that error; bad rows are rejected.
    func testFailuresPropagate() throws {
        let model = FailingModel()
        var out = try Matrix(rows: 2, cols: 2)
        XCTAssertThrowsError(try out.withMutableView {
            try TangentModelKernel.compute(model, rows1: [0, 1], rows2: nil, into: $0)
        }) { XCTAssertEqual(($0 as? NTKError)?.kind, .callbackFailed) }
        XCTAssertThrowsError(try out.withMutableView {
            try TangentModelKernel.compute(model, rows1: [0, -1], rows2: nil, into: $0)
        }) { XCTAssertEqual(($0 as? NTKError)?.kind, .invalidArgument) }
        let y = try Matrix(rows: 2, cols: 1)
        XCTAssertThrowsError(try Targets.with(y, nil) { t in
            try EmpiricalNTKRidge(model: model, rows: [0, 1], targets: t, ridge: 0.1)
        }) { XCTAssertEqual(($0 as? NTKError)?.kind, .callbackFailed) }
    }
}
