import CNTKMPI

/// Runs `body` with an `ntk_targets` for Y (n × k row-major) and optional f0.
func withTargets<R>(_ y: [Double], _ k: Int, _ f0: [Double]?,
                    _ body: (UnsafePointer<ntk_targets>) throws -> R) rethrows -> R {
    try y.withUnsafeBufferPointer { py in
        try (f0 ?? []).withUnsafeBufferPointer { pf in
            var t = ntk_targets(k: Int64(k), Y: py.baseAddress, ldy: Int64(max(k, 1)),
                                f0: f0 == nil ? nil : pf.baseAddress,
                                ldf0: Int64(max(k, 1)))
            return try body(&t)
        }
    }
}

/// The outcome of ridge selection, as the core's `NTK.RidgeSelection` and Python's
/// `ntk.RidgeSelection`: the chosen ridge, its index in the grid and every ridge's score.
public struct RidgeSelection: Sendable, Equatable {
    public let ridge: Double
    public let index: Int
    public let scores: [Double]
}

/// Kernel ridge regression on a distributed kernel (PDPOTRF/PDPOTRS):
/// `pred(x) = f0(x) + K(x, X) (K + zI)⁻¹ (Y − f0(X))`. Y (n × k, row-major) replicated.
public final class KernelRidge: @unchecked Sendable {
    let handle: OpaquePointer
    public let n: Int, outputs: Int
    /// The absolute ridge z.
    public let ridge: Double

    public init(kernel: DistributedMatrix, y: [Double], outputs k: Int, f0: [Double]? = nil, ridge: Double,
                relative: Bool = false) throws {
        var options = ntk_kernel_ridge_options()
        ntk_kernel_ridge_options_init(&options)
        options.ridge_scale = relative ? NTK_RIDGE_RELATIVE : NTK_RIDGE_ABSOLUTE
        var out: OpaquePointer?
        try withTargets(y, k, f0) { try checkMPI(ntk_mpi_kernel_ridge_fit(kernel.handle, $0, ridge, &options, &out)) }
        handle = out!
        n = kernel.rows
        outputs = k
        var z = 0.0
        ntk_mpi_kernel_ridge_info(handle, nil, nil, &z)
        self.ridge = z
    }

    /// f0_test + K_test α (m × k, row-major) on every rank. Collective.
    public func predict(_ kTest: DistributedMatrix, f0: [Double]? = nil) throws -> [Double] {
        var out = [Double](repeating: 0, count: kTest.rows * outputs)
        try (f0 ?? []).withUnsafeBufferPointer { pf in
            try checkMPI(ntk_mpi_kernel_ridge_predict(handle, kTest.handle, f0 == nil ? nil : pf.baseAddress,
                                                      Int64(max(outputs, 1)),
                                                      &out, Int64(max(outputs, 1))))
        }
        return out
    }

    /// Y − z α (n × k).
    public var trainPredictions: [Double] {
        var out = [Double](repeating: 0, count: n * outputs)
        ntk_mpi_kernel_ridge_results(handle, &out, Int64(max(outputs, 1)), nil, 1)
        return out
    }

    deinit { ntk_mpi_kernel_ridge_free(handle) }
}

/// One distributed eigendecomposition (PDSYEVD), then gradient flow at any (time, ridge)
/// points, ridge paths and ridge selection, replicated on every rank.
public final class SpectralSolver: @unchecked Sendable {
    let handle: OpaquePointer
    public let n: Int

    public init(kernel: DistributedMatrix, clampNegative: Bool = true) throws {
        var out: OpaquePointer?
        try checkMPI(ntk_mpi_spectral_create(kernel.handle, clampNegative ? NTK_NEGATIVE_CLAMP : NTK_NEGATIVE_ERROR,
                                             &out))
        handle = out!
        n = kernel.rows
    }

    /// The eigenvalues (ascending, after the policy).
    public var eigenvalues: [Double] {
        var w = [Double](repeating: 0, count: n)
        ntk_mpi_spectral_eigenvalues(handle, &w)
        return w
    }

    /// Predictions at the points (times[i], ridges[i]): train (count × n × k) and, with a test
    /// kernel, test (count × m × k). Collective.
    public func predict(y: [Double], outputs k: Int, f0: [Double]? = nil, times: [Double], ridges: [Double],
                        test: DistributedMatrix? = nil, f0Test: [Double]? = nil,
                        learningRate: Double = 1) throws -> (train: [Double], test: [Double]?) {
        guard times.count == ridges.count else {
            throw NTKDistributedError(status: NTK_ERR_DIMENSION_MISMATCH.rawValue,
                                      message: "times has \(times.count) entries but ridges has \(ridges.count)")
        }
        let count = times.count, m = test?.rows ?? 0
        var train = [Double](repeating: 0, count: count * n * k)
        var testOut = [Double](repeating: 0, count: count * m * k)
        try withTargets(y, k, f0) { targets in
            try times.withUnsafeBufferPointer { pTimes in
                try ridges.withUnsafeBufferPointer { pRidges in
                    var grid = ntk_grid(count: Int64(count), times: pTimes.baseAddress, ridges: pRidges.baseAddress,
                                        learning_rate: learningRate)
                    try (f0Test ?? []).withUnsafeBufferPointer { pf in
                        try testOut.withUnsafeMutableBufferPointer { pt in
                            try checkMPI(ntk_mpi_spectral_predict(handle, targets, &grid, test?.handle,
                                                                  f0Test == nil ? nil : pf.baseAddress,
                                                                  Int64(max(k, 1)), &train,
                                                                  test == nil ? nil : pt.baseAddress))
                        }
                    }
                }
            }
        }
        return (train, test == nil ? nil : testOut)
    }

    /// GCV (or exact leave-one-out) scores of each ridge and the index of the best.
    public func selectRidge(y: [Double], outputs k: Int, f0: [Double]? = nil, ridges: [Double],
                            leaveOneOut: Bool = false) throws -> RidgeSelection {
        var scores = [Double](repeating: 0, count: ridges.count)
        var best: Int64 = -1
        try withTargets(y, k, f0) { targets in
            try checkMPI(ntk_mpi_spectral_select_ridge(handle, targets, Int64(ridges.count), ridges,
                                                       leaveOneOut ? NTK_CRITERION_LOO : NTK_CRITERION_GCV, &scores,
                                                       &best))
        }
        return RidgeSelection(ridge: ridges[Int(best)], index: Int(best), scores: scores)
    }

    deinit { ntk_mpi_spectral_free(handle) }
}

/// A Nyström model fitted data-parallel (the same on every rank), predicting on any points.
public final class NystromModel: @unchecked Sendable {
    let handle: OpaquePointer
    public let inputDimension: Int, outputs: Int

    /// Fits on this rank's rows `x` (n × d) and `y` (n × k); `centers` (c × d) replicated, or
    /// nil for `c` centres drawn uniformly from all the rows. Collective.
    public init(communicator: Communicator = .world, network: Network, x: [Double], y: [Double], ridge: Double,
                c: Int, centers: [Double]? = nil, conjugateGradient: Bool = false, tolerance: Double = 1e-8,
                maxIterations: Int = 100) throws {
        var options = ntk_nystrom_options()
        ntk_nystrom_options_init(&options)
        options.solver = conjugateGradient ? NTK_NYSTROM_CG : NTK_NYSTROM_DIRECT
        options.tol = tolerance
        options.max_iter = Int64(maxIterations)
        let d = network.inputDimension, k = network.outputs
        var out: OpaquePointer?
        try withTargets(y, k, nil) { targets in
            try (centers ?? []).withUnsafeBufferPointer { pc in
                try checkMPI(ntk_mpi_nystrom_fit(communicator.comm, network.handle, Int64(x.count / max(d, 1)), x,
                                                 Int64(max(d, 1)),
                                                 targets, ridge, Int64(c), centers == nil ? nil : pc.baseAddress,
                                                 Int64(max(d, 1)), &options, &out))
            }
        }
        handle = out!
        inputDimension = d
        outputs = k
    }

    /// Predictions at the rows of `x` (m × d): m × k. Local (not collective).
    public func predict(_ x: [Double]) throws -> [Double] {
        let m = x.count / max(inputDimension, 1)
        var out = [Double](repeating: 0, count: m * outputs)
        try x.withUnsafeBufferPointer { px in
            var test = ntk_nystrom_test(m: Int64(m), X: px.baseAddress, ldx: Int64(max(inputDimension, 1)),
                                        K_test_centers: nil,
                                        ldk: 1, f0: nil, ldf0: 1)
            try checkNTK(ntk_nystrom_predict(handle, &test, &out, Int64(max(outputs, 1)), nil, nil))
        }
        return out
    }

    deinit { ntk_nystrom_free(handle) }
}

/// The MSE gradient flow under the empirical NTK of `network` over every rank's rows, matrix-free
/// (Lanczos, `ntk_mpi_empirical_gradient_flow`): this rank's rows `x` (n × d) and `y` (n × k), the
/// same `times` on every rank. Returns the flow at this rank's rows (times × n × k) and, with
/// `xTest` (this rank's m × d test points; every rank passes some or none), at them
/// (times × m × k), and the Lanczos approximation's last relative change. Collective.
public func empiricalGradientFlow(communicator: Communicator = .world, network: Network, x: [Double], y: [Double],
                                  times: [Double], xTest: [Double]? = nil, learningRate: Double = 1,
                                  tolerance: Double = 1e-8, maxIterations: Int = 500) throws
    -> (train: [Double], test: [Double]?, errorEstimate: Double) {
    var options = ntk_empirical_solver_options()
    try checkNTK(ntk_empirical_solver_options_init(&options))
    options.learning_rate = learningRate
    options.tol = tolerance
    options.max_iter = Int64(maxIterations)
    let d = max(network.inputDimension, 1), k = network.outputs
    let n = x.count / d, m = (xTest?.count ?? 0) / d
    var train = [Double](repeating: 0, count: max(times.count * n * k, 1))
    var test = [Double](repeating: 0, count: max(times.count * m * k, 1))
    var estimate = 0.0
    try withTargets(y, k, nil) { targets in
        try (xTest ?? []).withUnsafeBufferPointer { pt in
            var points = ntk_points(m: Int64(m), X: pt.baseAddress, ldx: Int64(d), f0: nil, ldf0: 1)
            try withUnsafePointer(to: &points) { pp in
                try test.withUnsafeMutableBufferPointer { out in
                    try checkMPI(ntk_mpi_empirical_gradient_flow(communicator.comm, network.handle, Int64(n), x,
                                                                 Int64(d), targets, Int64(times.count), times,
                                                                 xTest == nil ? nil : pp, &options, &train,
                                                                 xTest == nil ? nil : out.baseAddress, &estimate))
                }
            }
        }
    }
    return (Array(train.prefix(times.count * n * k)), xTest == nil ? nil : Array(test.prefix(times.count * m * k)),
            estimate)
}
