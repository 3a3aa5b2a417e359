import Foundation
@testable import NTK
import XCTest

/// A value carried into another thread by a test that joins the thread before going on.
struct Unchecked<T>: @unchecked Sendable { let value: T }

/// The result of the other thread.
final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

/// Data partitions: a fit split over two parts (two threads here, MPI ranks in libntk_mpi) whose
/// partial sums are combined by the partition equals the fit on all the rows.
final class DataPartitionTests: XCTestCase {
    /// Sums the buffers of `parts` concurrent callers elementwise (a barrier per call), in part
    /// order, and hands each caller the total: an in-process MPI_Allreduce.
    final class InProcessSum: @unchecked Sendable {
        private let condition = NSCondition()
        private var pending: [Int: (UnsafeMutablePointer<Double>, Int)] = [:]
        private var generation = 0
        private var mismatch = false
        let parts: Int
        private(set) var reductions = 0

        init(parts: Int) { self.parts = parts }

        func partition(_ part: Int) -> DataPartition {
            DataPartition { values, count in try self.sum(part, values, count) }
        }

        private func sum(_ part: Int, _ values: UnsafeMutablePointer<Double>, _ count: Int) throws {
            condition.lock()
            defer { condition.unlock() }
            let mine = generation
            pending[part] = (values, count)
            if pending.count == parts {
                let buffers = (0..<parts).map { pending[$0]! }
                mismatch = Set(buffers.map { $0.1 }).count != 1
                if !mismatch {
                    for i in 0..<count {
                        var total = 0.0
                        for (p, _) in buffers { total += p[i] }
                        for (p, _) in buffers { p[i] = total }
                    }
                }
                pending.removeAll()
                generation += 1
                reductions += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            if mismatch { throw NTKError(.internalError, "parts reduced different counts") }
        }
    }

    /// Runs `body(part)` for parts 0 and 1 at once (part 1 on a new thread, joined before
    /// returning).
    func runTwoParts<T>(_ body: @escaping (Int) throws -> T) throws -> (T, T) {
        let shared = Unchecked(value: body)
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = Result { try shared.value(1) }
            done.signal()
        }
        thread.start()
        let first = Result { try body(0) }
        done.wait()
        return (try first.get(), try box.result!.get())
    }

    let architecture = try! MLPArchitecture(inputDimension: 3, hiddenWidths: [32, 32], outputDimension: 2,
                                            activation: .relu, biasStd: 0.1)

    func data(_ n: Int, seed: UInt64) throws -> (Matrix, Matrix) {
        var rng = TestRandom(seed: seed)
        let x = try rng.matrix(n, 3)
        var y = try Matrix(rows: n, cols: 2)
        for i in 0..<n { y[i, 0] = sin(3 * x[i, 0]) + x[i, 1]; y[i, 1] = x[i, 2] * x[i, 0] }
        return (x, y)
    }

    func rows(_ m: Matrix, _ range: Range<Int>) throws -> Matrix {
        var out = try Matrix(rows: range.count, cols: m.cols)
        for (r, i) in range.enumerated() { for c in 0..<m.cols { out[r, c] = m[i, c] } }
        return out
    }

    /// Direct and Falkon Nyström on two parts (130 + 170 rows) equal the fit on all 300 rows
    /// with the same centres: predictions, n, GCV scores.
    func testNystromOnTwoPartsEqualsTheFitOnAllRows() throws {
        let (x, y) = try data(300, seed: 1)
        let (xt, _) = try data(25, seed: 2)
        let centers = try rows(x, 0..<40)
        let kernel = InfiniteWidthPointKernel(architecture)
        let split = [0..<130, 130..<300]
        for solver in [NystromRidge.Solver.direct, .conjugateGradient] {
            var options = NystromRidge.Options()
            options.solver = solver
            options.tolerance = 1e-12
            options.maxIterations = 1000
            let whole = try x.withView { xv in
                try y.withView { yv in
                    try centers.withView { cv in
                        try NystromRidge.fit(kernel: kernel, x: xv, targets: try Targets(y: yv), ridge: 1e-3, centers: cv, options: options)
                    }
                }
            }
            let sum = InProcessSum(parts: 2)
            let (a, b) = try runTwoParts { part -> NystromRidge in
                var o = options
                o.partition = sum.partition(part)
                let xs = try self.rows(x, split[part]), ys = try self.rows(y, split[part])
                return try xs.withView { xv in
                    try ys.withView { yv in
                        try centers.withView { cv in
                            try NystromRidge.fit(kernel: kernel, x: xv, targets: try Targets(y: yv), ridge: 1e-3, centers: cv, options: o)
                        }
                    }
                }
            }
            let expected = try whole.predict(x: xt)
            let scale = expected.elements.map(abs).max()!
            for model in [a, b] {
                XCTAssertEqual(model.n, 300)
                XCTAssertLessThan(maxAbsDifference(try model.predict(x: xt), expected) / scale, solver == .direct ? 1e-10 : 1e-8, "\(solver)")
            }
            XCTAssertEqual(try a.predict(x: xt).elements, try b.predict(x: xt).elements, "both parts hold the same model")
            if solver == .direct {
                XCTAssertEqual(sum.reductions, 2, "n, then the normal equations")
                let grid = [1e-4, 1e-2, 1.0]
                let s = try whole.selectRidge(ridges: grid).scores, p = try a.selectRidge(ridges: grid).scores
                for (u, v) in zip(p, s) { XCTAssertEqual(u, v, accuracy: 1e-10 * abs(v)) }
            } else {
                XCTAssertEqual(sum.reductions, 3 + a.iterations,
                               "n, the preconditioner's rows, the right-hand side, one product per iteration")
            }
        }
    }

    /// Matrix-free empirical NTK CG on two parts equals the single fit: predictions and each
    /// part's rows of α.
    func testEmpiricalRidgeOnTwoPartsEqualsTheFitOnAllRows() throws {
        let (x, y) = try data(200, seed: 3)
        let (xt, _) = try data(15, seed: 4)
        let mlp = try MLP(architecture, seed: 5)
        var options = EmpiricalNTKRidge.Options()
        options.preconditionerRank = 0
        options.tolerance = 1e-12
        options.maxIterations = 2000
        let whole = try x.withView { xv in try y.withView { yv in try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: try Targets(y: yv), ridge: 0.1, options: options) } }
        let sum = InProcessSum(parts: 2)
        let split = [0..<90, 90..<200]
        let (a, b) = try runTwoParts { part -> EmpiricalNTKRidge in
            var o = options
            o.partition = sum.partition(part)
            let xs = try self.rows(x, split[part]), ys = try self.rows(y, split[part])
            return try xs.withView { xv in try ys.withView { yv in try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: try Targets(y: yv), ridge: 0.1, options: o) } }
        }
        func predict(_ m: EmpiricalNTKRidge) throws -> Matrix {
            var out = try Matrix(rows: 15, cols: 2)
            try xt.withView { xv in try out.withMutableView { try m.predict(x: xv, offsets: nil, into: $0) } }
            return out
        }
        let expected = try predict(whole)
        let scale = expected.elements.map(abs).max()!
        XCTAssertLessThan(maxAbsDifference(try predict(a), expected) / scale, 1e-8)
        XCTAssertLessThan(maxAbsDifference(try predict(b), expected) / scale, 1e-8)
        var alpha = try Matrix(rows: 200, cols: 2), alphaA = try Matrix(rows: 90, cols: 2), alphaB = try Matrix(rows: 110, cols: 2)
        try alpha.withMutableView { try whole.copyDualCoefficients(into: $0) }
        try alphaA.withMutableView { try a.copyDualCoefficients(into: $0) }
        try alphaB.withMutableView { try b.copyDualCoefficients(into: $0) }
        let alphaScale = alpha.elements.map(abs).max()!
        XCTAssertLessThan(maxAbsDifference(alphaA, try rows(alpha, 0..<90)) / alphaScale, 1e-8)
        XCTAssertLessThan(maxAbsDifference(alphaB, try rows(alpha, 90..<200)) / alphaScale, 1e-8)
        XCTAssertEqual(a.iterations, b.iterations)
    }

    /// Preconditioned CG on two parts with centres given as points (the same on both parts) is
    /// the preconditioned fit on all the rows with those centres: the same iterations, the same
    /// predictions; and fewer iterations than plain CG.
    func testPreconditionedEmpiricalRidgeOnTwoParts() throws {
        let (x, y) = try data(200, seed: 7)
        let (xt, _) = try data(15, seed: 8)
        let mlp = try MLP(architecture, seed: 9)
        var options = EmpiricalNTKRidge.Options()
        options.tolerance = 1e-10
        options.preconditionerCenters = try rows(x, 50..<82)
        func fit(_ xs: Matrix, _ ys: Matrix, _ o: EmpiricalNTKRidge.Options) throws -> EmpiricalNTKRidge {
            try xs.withView { xv in try ys.withView { yv in
                try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: try Targets(y: yv), ridge: 0.1, options: o) } }
        }
        func predict(_ m: EmpiricalNTKRidge) throws -> Matrix {
            var out = try Matrix(rows: 15, cols: 2)
            try xt.withView { xv in try out.withMutableView { try m.predict(x: xv, offsets: nil, into: $0) } }
            return out
        }
        let whole = try fit(x, y, options)
        var plainOptions = options
        plainOptions.preconditionerCenters = nil
        plainOptions.preconditionerRank = 0
        let plain = try fit(x, y, plainOptions)
        let sum = InProcessSum(parts: 2)
        let split = [0..<120, 120..<200]
        let (a, b) = try runTwoParts { part -> EmpiricalNTKRidge in
            var o = options
            o.partition = sum.partition(part)
            return try fit(try self.rows(x, split[part]), try self.rows(y, split[part]), o)
        }
        let expected = try predict(plain)
        let scale = expected.elements.map(abs).max()!
        for model in [whole, a, b] {
            XCTAssertLessThan(maxAbsDifference(try predict(model), expected) / scale, 1e-8)
        }
        XCTAssertEqual(a.iterations, whole.iterations)
        XCTAssertEqual(b.iterations, whole.iterations)
        XCTAssertEqual(a.preconditionerRank, 32)
        XCTAssertLessThanOrEqual(2 * whole.iterations, plain.iterations)
    }

    /// The Lanczos gradient flow with the rows split over two parts (also 60 + 0 rows) gives each
    /// part its rows of the full flow's train predictions and the full flow's test predictions,
    /// after the same number of steps.
    func testGradientFlowOnTwoParts() throws {
        let (x, y) = try data(60, seed: 11)
        let (xt, _) = try data(9, seed: 12)
        let mlp = try MLP(architecture, seed: 13)
        let times = [0, 0.3, 4, 40.0]
        var options = EmpiricalGradientFlow.Options()
        options.tolerance = 1e-12
        func flow(_ xs: Matrix, _ ys: Matrix, _ o: EmpiricalGradientFlow.Options)
            throws -> (train: [Double], test: [Double], steps: [Int]) {
            var train = [Double](repeating: .nan, count: times.count * xs.rows * 2)
            var test = [Double](repeating: .nan, count: times.count * 9 * 2)
            let result = try xs.withView { xv in try ys.withView { yv in try xt.withView { tv in
                try train.withUnsafeMutableBufferPointer { tr in try test.withUnsafeMutableBufferPointer { te in
                    try EmpiricalGradientFlow.predict(mlp: mlp, x: xv, targets: try Targets(y: yv), times: times,
                                                      options: o, test: tv, trainOut: tr.baseAddress,
                                                      testOut: te.baseAddress)
                } }
            } } }
            return (train, test, result.iterations)
        }
        let whole = try flow(x, y, options)
        XCTAssertGreaterThan(whole.steps.min()!, 5)
        let scale = whole.train.map(abs).max()!
        for split in [[0..<35, 35..<60], [0..<60, 60..<60]] {
            let sum = InProcessSum(parts: 2)
            let (a, b) = try runTwoParts { part -> ([Double], [Double], [Int]) in
                var o = options
                o.partition = sum.partition(part)
                return try flow(try self.rows(x, split[part]), try self.rows(y, split[part]), o)
            }
            for (part, result) in [a, b].enumerated() {
                XCTAssertEqual(result.2, whole.steps)
                XCTAssertLessThan(zip(result.1, whole.test).map { abs($0 - $1) }.max()! / scale, 1e-9)
                let rows = split[part]
                for f in 0..<times.count {
                    for (r, i) in rows.enumerated() {
                        for c in 0..<2 {
                            XCTAssertEqual(result.0[(f * rows.count + r) * 2 + c], whole.train[(f * 60 + i) * 2 + c],
                                           accuracy: 1e-9 * scale)
                        }
                    }
                }
            }
        }
    }

    /// A partition with a preconditioner needs its centres given, and a reduction that fails
    /// stops the fit with its error.
    func testPartitionErrors() throws {
        let (x, y) = try data(40, seed: 6)
        let mlp = try MLP(architecture, seed: 1)
        var options = EmpiricalNTKRidge.Options()
        options.partition = DataPartition { _, _ in }
        options.preconditionerRank = 8
        try x.withView { xv in
            try y.withView { yv in
                assertThrows(.invalidArgument, try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: try Targets(y: yv), ridge: 0.1, options: options))
                options.preconditionerRank = 0
                options.partition = DataPartition { _, _ in throw NTKError(.cancelled, "the other part failed") }
                assertThrows(.cancelled, try EmpiricalNTKRidge(mlp: mlp, x: xv, targets: try Targets(y: yv), ridge: 0.1, options: options))
            }
        }
    }
}
