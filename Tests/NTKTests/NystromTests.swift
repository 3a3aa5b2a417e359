@testable import NTK
import XCTest

/// Nyström / Falkon against dense kernel ridge and against each other.
final class NystromTests: XCTestCase {
    let architecture = try! MLPArchitecture(inputDimension: 3, hiddenWidths: [64, 64], activation: .relu, biasStd: 0.1)

    func data(_ n: Int, seed: UInt64) throws -> (Matrix, Matrix) {
        var rng = TestRandom(seed: seed)
        let x = try rng.matrix(n, 3)
        var y = try Matrix(rows: n, cols: 2)
        for i in 0..<n { y[i, 0] = sin(3 * x[i, 0]) + x[i, 1]; y[i, 1] = x[i, 2] * x[i, 0] }
        return (x, y)
    }

    /// With every point as a centre the Nyström kernel is the kernel: dense kernel ridge exactly.
    func testAllPointsAsCentresIsDenseKernelRidge() throws {
        let (x, y) = try data(150, seed: 3)
        let (xt, _) = try data(20, seed: 4)
        let kernel = InfiniteWidthPointKernel(architecture)
        let z = 0.05
        let k = try architecture.infiniteWidthKernels(x).ntk
        let kt = try architecture.infiniteWidthKernels(xt, x).ntk
        let dense = try KernelRidge.fit(kTrain: k, y: y, ridge: z).predict(kTestTrain: kt)
        for solver in [NystromRidge.Solver.direct, .conjugateGradient] {
            var options = NystromRidge.Options()
            options.solver = solver
            options.tolerance = 1e-12
            options.maxIterations = 500
            let model = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: z, centers: 150, options: options)
            let scale = dense.elements.map(abs).max()!
            XCTAssertLessThan(maxAbsDifference(try model.predict(x: xt), dense) / scale, 1e-8, "\(solver)")
        }
    }

    /// Falkon CG converges to the direct solution, and its preconditioner saves iterations on
    /// an ill-conditioned system (small ridge).
    func testFalkonMatchesDirectAndPreconditioningHelps() throws {
        let (x, y) = try data(400, seed: 5)
        let kernel = InfiniteWidthPointKernel(architecture)
        let direct = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60)
        var options = NystromRidge.Options()
        options.solver = .conjugateGradient
        options.tolerance = 1e-10
        options.maxIterations = 2000
        let falkon = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60, options: options)
        options.preconditioned = false
        let plain = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60, options: options)
        XCTAssertTrue(falkon.converged)
        let reference = try direct.predict(x: x)
        let scale = reference.elements.map(abs).max()!
        XCTAssertLessThan(maxAbsDifference(try falkon.predict(x: x), reference) / scale, 1e-7)
        XCTAssertLessThan(falkon.iterations * 3, plain.iterations, "Falkon \(falkon.iterations) vs plain CG \(plain.iterations)")
        XCTAssertEqual(falkon.residuals.count, falkon.iterations)
    }

    /// The sketched preconditioner: from every row it is the normal matrix itself (CG converges
    /// at once), from 8 c of the rows it still beats Falkon's K_mm² approximation, and every
    /// variant converges to the direct solution.
    func testSketchedPreconditionerSavesIterations() throws {
        let (x, y) = try data(600, seed: 7)
        let kernel = InfiniteWidthPointKernel(architecture)
        let direct = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60, seed: 3)
        let reference = try direct.predict(x: x)
        let scale = reference.elements.map(abs).max()!
        var options = NystromRidge.Options()
        options.solver = .conjugateGradient
        options.tolerance = 1e-10
        options.maxIterations = 2000
        var iterations: [Int] = []
        for rows in [nil, 480, 0] as [Int?] {  // all 600 rows (the default's min(n, 16 c)), 8 c, the centres
            options.preconditionerRows = rows
            let model = try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60, seed: 3,
                                             options: options)
            XCTAssertTrue(model.converged)
            XCTAssertLessThan(maxAbsDifference(try model.predict(x: x), reference) / scale, 1e-7, "rows \(String(describing: rows))")
            iterations.append(model.iterations)
        }
        XCTAssertLessThanOrEqual(iterations[0], 3, "the exact normal matrix: \(iterations)")
        XCTAssertLessThan(iterations[1], iterations[2], "a sketch of 480 rows against the centres: \(iterations)")
        options.preconditionerRows = -1
        assertThrows(.invalidArgument, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 1e-4, centers: 60,
                                                            options: options))
    }

    func testBadInputAndMemoryBudget() throws {
        let (x, y) = try data(50, seed: 6)
        let kernel = InfiniteWidthPointKernel(architecture)
        assertThrows(.invalidArgument, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 0.1, centers: 0))
        assertThrows(.invalidArgument, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 0.1, centers: 51))
        assertThrows(.invalidArgument, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: -1, centers: 5))
        var options = NystromRidge.Options()
        options.tolerance = 0
        assertThrows(.invalidArgument, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 0.1, centers: 5, options: options))
        options = NystromRidge.Options()
        options.memoryLimit = 1000
        assertThrows(.outOfMemory, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 0.1, centers: 40, options: options))
        // Cancellation mid-fit.
        var calls = 0
        assertThrows(.cancelled, try NystromRidge.fit(kernel: kernel, x: x, y: y, ridge: 0.1, centers: 10,
                                                      progress: ProgressHandler { _ in calls += 1; return calls > 2 ? .cancel : .proceed }))
    }

    /// A fit on no rows (a part of a partition may have none) with the caller's centres: both
    /// solvers return β = 0, so predictions are the offsets. Once a zero-step loop over the
    /// cached kernel rows (found by the fuzzer).
    func testNoRows() throws {
        let (c, _) = try data(6, seed: 8)
        let kernel = InfiniteWidthPointKernel(architecture)
        let x = try Matrix(rows: 0, cols: 3), y = try Matrix(rows: 0, cols: 2)
        for solver in [NystromRidge.Solver.direct, .conjugateGradient] {
            var options = NystromRidge.Options()
            options.solver = solver
            let model = try x.withView { xv in
                try Targets.with(y, nil) { t in
                    try c.withView { try NystromRidge.fit(kernel: kernel, x: xv, targets: t, ridge: 0.1, centers: $0,
                                                          options: options) }
                }
            }
            XCTAssertEqual(model.n, 0)
            XCTAssertEqual(try model.coefficientMatrix().elements, [Double](repeating: 0, count: 12))
            XCTAssertEqual(try model.predict(x: c).elements.map(abs).max(), 0)
        }
    }
}
