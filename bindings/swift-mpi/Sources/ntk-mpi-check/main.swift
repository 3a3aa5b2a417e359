// The Swift binding under mpirun: each distributed result against the single-process libntk
// (its C API, on every rank), and the collective failure behaviour. Tolerances as the C and
// Python MPI tests: kernels 1e-12, solvers 1e-10, data-parallel fits 1e-8 (the flow 1e-9).
#if canImport(Glibc)
import Glibc
#endif
import CNTKMPI
import NTKDistributed

MPI.initialize()
let world = Communicator.world
let rank = world.rank, size = world.size
/// Counts of this rank's checks.
final class Tally: @unchecked Sendable {
    var passed = 0, failed = 0
}
let tally = Tally()

func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if condition { tally.passed += 1 } else {
        tally.failed += 1
        print("rank \(rank): FAILED \(what())")
    }
}

func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    var diff = 0.0, scale = 1e-300
    for (x, y) in zip(a, b) { diff = max(diff, abs(x - y)); scale = max(scale, abs(y)) }
    return a.count == b.count ? diff / scale : .infinity
}

func points(_ count: Int, _ seed: Double) -> [Double] {
    (0..<count).map { sin(seed + 0.7 * Double($0)) + 0.3 * cos(1.3 * Double($0) * seed) }
}

let n = 96, m = 20, d = 3, k = 2
let x = points(n * d, 0.4), xTest = points(m * d, 2.2), y = points(n * k, 1.7)

do {
    let grid = try Grid(world, blockSize: 16)
    check(grid.shape.rows * grid.shape.columns == size, "grid shape")
    let net = try Network(inputDimension: d, widths: [16, 16], outputs: k, bStd: 0.1, seed: 3)
    let kTrain = try infiniteWidthKernel(grid: grid, network: net, x1: x)
    let first = m * rank / size, last = m * (rank + 1) / size
    let kTest = try infiniteWidthKernel(grid: grid, network: net, x1: Array(xTest[(first * d)..<(last * d)]),
                                        layout1: .byRows,
                                        x2: x)
    // Single-process kernels from libntk.
    var theta = [Double](repeating: 0, count: n * n), thetaTest = [Double](repeating: 0, count: m * n)
    ntk_infinite_width_kernels(net.handle, Int64(n), x, Int64(d), Int64(n), nil, Int64(d), nil, nil, Int64(n), &theta,
                               Int64(n))
    ntk_infinite_width_kernels(net.handle, Int64(m), xTest, Int64(d), Int64(n), x, Int64(d), nil, nil, Int64(n),
                               &thetaTest, Int64(n))
    check(relativeError(try kTrain.gather(), theta) <= 1e-12, "train kernel")
    check(relativeError(try kTest.gather(), thetaTest) <= 1e-12, "test kernel")

    // Kernel ridge against ntk_kernel_ridge.
    let ridge = try KernelRidge(kernel: kTrain, y: y, outputs: k, ridge: 1e-3)
    var single: OpaquePointer?
    var expected = [Double](repeating: 0, count: m * k)
    y.withUnsafeBufferPointer { py in
        var targets = ntk_targets(k: Int64(k), Y: py.baseAddress, ldy: Int64(k), f0: nil, ldf0: 1)
        ntk_kernel_ridge_fit(Int64(n), theta, Int64(n), &targets, 1e-3, nil, &single)
    }
    thetaTest.withUnsafeBufferPointer { pt in
        var test = ntk_test_kernel(m: Int64(m), K_test_train: pt.baseAddress, ldk: Int64(n), f0: nil, ldf0: 1)
        ntk_kernel_ridge_predict(single, &test, &expected, Int64(k))
    }
    ntk_kernel_ridge_free(single)
    check(relativeError(try ridge.predict(kTest), expected) <= 1e-10, "kernel ridge predictions")

    // Gradient flow at t = 0, 1, 10, inf and GCV against ntk_spectral.
    let solver = try SpectralSolver(kernel: kTrain)
    let times = [0, 1, 10, Double.infinity], ridges = [0.0, 0, 0, 0]
    let flow = try solver.predict(y: y, outputs: k, times: times, ridges: ridges, test: kTest, learningRate: 30)
    var spectral: OpaquePointer?
    ntk_spectral_create(Int64(n), theta, Int64(n), NTK_NEGATIVE_CLAMP, nil, nil, &spectral)
    var sTrain = [Double](repeating: 0, count: 4 * n * k), sTest = [Double](repeating: 0, count: 4 * m * k)
    var sScores = [Double](repeating: 0, count: 4)
    var sBest: Int64 = -1
    let grid4 = [1e-4, 1e-3, 1e-2, 1e-1]
    y.withUnsafeBufferPointer { py in
        var targets = ntk_targets(k: Int64(k), Y: py.baseAddress, ldy: Int64(k), f0: nil, ldf0: 1)
        thetaTest.withUnsafeBufferPointer { pt in
            var test = ntk_test_kernel(m: Int64(m), K_test_train: pt.baseAddress, ldk: Int64(n), f0: nil, ldf0: 1)
            times.withUnsafeBufferPointer { pTimes in
                ridges.withUnsafeBufferPointer { pRidges in
                    var grid = ntk_grid(count: 4, times: pTimes.baseAddress, ridges: pRidges.baseAddress,
                                        learning_rate: 30)
                    ntk_spectral_predict(spectral, &targets, &grid, &test, &sTrain, &sTest)
                }
            }
        }
        ntk_spectral_select_ridge(spectral, &targets, 4, grid4, NTK_CRITERION_GCV, &sScores, &sBest)
    }
    ntk_spectral_free(spectral)
    check(relativeError(flow.train, sTrain) <= 1e-10 && relativeError(flow.test ?? [], sTest) <= 1e-10, "gradient flow")
    let gcv = try solver.selectRidge(y: y, outputs: k, ridges: grid4)
    check(relativeError(gcv.scores, sScores) <= 1e-10 && gcv.index == Int(sBest) && gcv.ridge == grid4[gcv.index],
          "GCV")

    // Data-parallel Nyström against the single-process fit on all rows.
    let rows = Array(x[(n * rank / size * d)..<(n * (rank + 1) / size * d)])
    let rowsY = Array(y[(n * rank / size * k)..<(n * (rank + 1) / size * k)])
    let centers = Array(x[0..<(24 * d)])
    let model = try NystromModel(network: net, x: rows, y: rowsY, ridge: 1e-3, c: 24, centers: centers)
    var nyOut: OpaquePointer?
    y.withUnsafeBufferPointer { py in
        var targets = ntk_targets(k: Int64(k), Y: py.baseAddress, ldy: Int64(k), f0: nil, ldf0: 1)
        ntk_nystrom_fit_centers(net.handle, Int64(n), x, Int64(d), &targets, 1e-3, 24, centers, Int64(d), nil, &nyOut)
    }
    var nyExpected = [Double](repeating: 0, count: m * k)
    xTest.withUnsafeBufferPointer { px in
        var test = ntk_nystrom_test(m: Int64(m), X: px.baseAddress, ldx: Int64(d), K_test_centers: nil, ldk: 1, f0: nil,
                                    ldf0: 1)
        ntk_nystrom_predict(nyOut, &test, &nyExpected, Int64(k), nil, nil)
    }
    ntk_nystrom_free(nyOut)
    check(relativeError(try model.predict(xTest), nyExpected) <= 1e-8, "data-parallel Nyström")

    // The data-parallel Lanczos flow against the single-process flow on all rows.
    let flowTimes = [0.5, 8.0]
    let flowParts = try empiricalGradientFlow(network: net, x: rows, y: rowsY, times: flowTimes, xTest: xTest,
                                              tolerance: 1e-12)
    var flowTrain = [Double](repeating: 0, count: 2 * n * k), flowTest = [Double](repeating: 0, count: 2 * m * k)
    var flowOptions = ntk_empirical_solver_options()
    ntk_empirical_solver_options_init(&flowOptions)
    flowOptions.tol = 1e-12
    y.withUnsafeBufferPointer { py in
        xTest.withUnsafeBufferPointer { pt in
            var targets = ntk_targets(k: Int64(k), Y: py.baseAddress, ldy: Int64(k), f0: nil, ldf0: 1)
            var test = ntk_points(m: Int64(m), X: pt.baseAddress, ldx: Int64(d), f0: nil, ldf0: 1)
            ntk_empirical_gradient_flow(net.handle, Int64(n), x, Int64(d), &targets, 2, flowTimes, &test, &flowOptions,
                                        &flowTrain, &flowTest, nil)
        }
    }
    let mine = n * rank / size, count = n * (rank + 1) / size - mine
    var expectedRows: [Double] = []
    for f in 0..<2 {
        let start: Int = (f * n + mine) * k
        expectedRows += flowTrain[start..<(start + count * k)]
    }
    check(relativeError(flowParts.train, expectedRows) <= 1e-9 && relativeError(flowParts.test ?? [], flowTest) <= 1e-9,
          "data-parallel gradient flow")

    // A NaN in the last rank's block: every rank throws the same error.
    let block = kTrain.local
    if rank == size - 1 && block.count > 0 { block[0] = .nan }
    do {
        _ = try KernelRidge(kernel: kTrain, y: y, outputs: k, ridge: 1e-3)
        check(false, "a NaN on one rank must fail")
    } catch let e as NTKDistributedError {
        check(e.status == NTK_ERR_NON_FINITE.rawValue && e.message.contains("rank \(size - 1)"),
              "agreed error: \(e.message)")
    }
} catch {
    check(false, "unexpected error: \(error)")
}

let sums = world.sum([tally.passed, tally.failed])
if rank == 0 { print("\(sums[0]) passed, \(sums[1]) failed") }
MPI.finalize()
exit(sums[1] == 0 ? 0 : 1)
