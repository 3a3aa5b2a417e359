/// Function-space gradient flow for any loss (eq. 13 in docs/equations.md), with a fixed kernel:
///
///     d f_train/dt = −η K(X, X) ∇_f L(f_train),     d f_test/dt = −η K(X*, X) ∇_f L(f_train)
///
/// integrated by the adaptive Dormand–Prince 5(4) method (error per step below
/// `atol + rtol·|f|` in the RMS norm over all entries, train and test), stepping exactly onto
/// every requested time. For `Loss.mse` this is the closed form of `SpectralSolver` (tested to
/// agree); for `crossEntropy` there is no closed form. The method is explicit: a stiff problem
/// (η t λ_max / N ≫ 1, typical of long MSE runs) takes many small steps, and more than
/// `maxSteps` fail with `numericalFailure`.
public enum FunctionSpaceODE {
    /// Steps after which the integration gives up with `numericalFailure`.
    public static let maxSteps = 1_000_000

    /// Outputs at every time in `times` (each finite and ≥ 0, any order): train
    /// `times.count × n × k` and test `times.count × m × k` contiguous (each may be nil; the
    /// test outputs need `test`). The public Swift form is `solve(kTrain:y:times:loss:...)`.
    package static func solve(kTrain: MatrixView, targets: Targets, times: [Double], loss: Loss,
                              learningRate: Double, test: TestKernel?,
                              rtol: Double = 1e-10, atol: Double = 1e-12,
                              trainOut: UnsafeMutablePointer<Double>?, testOut: UnsafeMutablePointer<Double>?,
                              progress: ProgressHandler = .none) throws {
        try validate(kTrain: kTrain, targets: targets, times: times, loss: loss, test: test,
                     tolerances: [(learningRate, "learning rate"), (rtol, "rtol"), (atol, "atol")],
                     wantsTest: testOut != nil)
        let n = kTrain.rows, k = targets.outputs, m = test?.rows ?? 0
        let y = targets.y, f0Train = targets.offsets, kTestTrain = test?.kernel, f0Test = test?.offsets
        let rows = n + m
        let size = try Sizes.product(rows, k, "ODE state")
        _ = try Sizes.product(try Sizes.product(size, max(times.count, 1), "ODE outputs"), 8, "ODE output bytes")
        try progress.report(0)
        if times.isEmpty || size == 0 { return try progress.report(1) }

        // State: rows 0..<n train outputs, n..<n+m test outputs (k columns).
        let state = try Workspace(count: size, for: "the ODE state")
        for i in 0..<n { for c in 0..<k { state.pointer[i * k + c] = f0Train?[i, c] ?? 0 } }
        for i in 0..<m { for c in 0..<k { state.pointer[(n + i) * k + c] = f0Test?[i, c] ?? 0 } }
        let stages = try (0..<7).map { _ in try Workspace(count: size, for: "Runge–Kutta stages") }
        let trial = try Workspace(count: size, for: "the ODE trial state")
        let lossGradient = try Workspace(count: try Sizes.product(n, k, "gradient"), for: "the loss gradient")

        // f(state) into out: −η [K; K_test] ∇L(train rows).
        func rate(_ s: UnsafePointer<Double>, into out: UnsafeMutablePointer<Double>) throws {
            loss.evaluate(s, y, rows: n, k: k, gradient: lossGradient.pointer)
            let g = MatrixView(unchecked: UnsafePointer(lossGradient.pointer), rows: n, cols: k, ld: k)
            try MatrixProduct.gemm(kTrain, g, alpha: -learningRate,
                                   into: MutableMatrixView(unchecked: out, rows: n, cols: k, ld: k))
            if let kt = kTestTrain {
                try MatrixProduct.gemm(kt, g, alpha: -learningRate,
                                       into: MutableMatrixView(unchecked: out + n * k, rows: m, cols: k, ld: k))
            }
        }

        let order = times.indices.sorted { times[$0] < times[$1] }
        let end = times[order.last ?? 0]
        var t = 0.0
        try rate(state.pointer, into: stages[0].pointer)
        var h = initialStep(state.pointer, stages[0].pointer, size, end)
        var steps = 0
        for index in order {
            let target = times[index]
            while t < target {
                steps += 1
                if steps > maxSteps {
                    throw NTKError.numericalFailure("the ODE needed more than \(maxSteps) steps to reach "
                                                    + "t = \(target); the problem is stiff: use gradient_flow for "
                                                        + "MSE, or shorter times")
                }
                let hStep = min(h, target - t)
                let (error, _) = try dormandPrinceStep(state.pointer, stages, trial.pointer, size, hStep, rtol, atol,
                                                       rate)
                guard error.isFinite else {
                    throw NTKError.numericalFailure(
                        "the ODE solution overflowed near t = \(t) (inputs or learning rate too large)")
                }
                if error <= 1 {
                    t = hStep == target - t ? target : t + hStep
                    state.pointer.update(from: trial.pointer, count: size)
                    // First same as last: the last stage is the rate at the new state.
                    stages[0].pointer.update(from: stages[6].pointer, count: size)
                    try progress.report(0.99 * t / max(end, .leastNormalMagnitude))
                }
                let factor = error == 0 ? 5 : min(5, max(0.2, 0.9 * pow(error, -0.2)))
                h = hStep * factor
                guard h.isFinite, h > 0 else {
                    throw NTKError.numericalFailure("the ODE step size collapsed at t = \(t)")
                }
            }
            if let trainOut { (trainOut + index * n * k).update(from: state.pointer, count: n * k) }
            if let testOut { (testOut + index * m * k).update(from: state.pointer + n * k, count: m * k) }
        }
        Log.info("gradient-flow ODE: \(steps) Dormand-Prince 5(4) steps to t = \(end) (rtol \(rtol), atol \(atol)), "
                 + "\(n) train and \(m) test points")
        try progress.report(1)
    }

    /// Throws unless the kernel, targets, test kernel, times (finite, ≥ 0) and the positive
    /// settings `tolerances` (value, name) are valid for `solve`.
    private static func validate(kTrain: MatrixView, targets: Targets, times: [Double], loss: Loss, test: TestKernel?,
                                 tolerances: [(Double, String)], wantsTest: Bool) throws {
        try InputCheck.square(kTrain, "K_train")
        try targets.requireRows(kTrain.rows, "K_train")
        try test?.require(trainRows: kTrain.rows, outputs: targets.outputs)
        if wantsTest && test == nil { throw NTKError.invalidArgument("test outputs need a test kernel") }
        for t in times where !(t.isFinite && t >= 0) {
            throw NTKError.invalidArgument("ODE times must be finite and ≥ 0, got \(t) (use gradient_flow for t = "
                                           + "inf with MSE)")
        }
        for (v, what) in tolerances {
            try InputCheck.finite(v, what)
            guard v > 0 else { throw NTKError.invalidArgument("\(what) must be > 0, got \(v)") }
        }
        try InputCheck.finite(kTrain, "K_train")
        try loss.validate(targets: targets.y)
    }

    static func initialStep(_ s: UnsafePointer<Double>, _ f: UnsafePointer<Double>, _ size: Int,
                            _ end: Double) -> Double {
        var d0 = 0.0, d1 = 0.0
        for i in 0..<size { d0 = max(d0, abs(s[i])); d1 = max(d1, abs(f[i])) }
        let guess = d1 > 0 ? 0.01 * max(d0, 1e-6) / d1 : end
        return max(min(guess, end), 1e-12 * max(end, 1))
    }

    // Dormand–Prince 5(4) tableau.
    static let a: [[Double]] = [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ]
    /// 5th-order weights minus 4th-order weights: the local error estimate.
    static let e: [Double] = [35.0 / 384 - 5179.0 / 57600, 0, 500.0 / 1113 - 7571.0 / 16695, 125.0 / 192 - 393.0 / 640,
                              -2187.0 / 6784 + 92097.0 / 339200, 11.0 / 84 - 187.0 / 2100, -1.0 / 40]

    /// One trial step of size h from `y` (stage 0 holds f(y)); the 5th-order solution goes to
    /// `out`, stage 6 to f(out). Returns the scaled RMS error.
    static func dormandPrinceStep(_ y: UnsafePointer<Double>, _ k: [Workspace], _ out: UnsafeMutablePointer<Double>,
                                  _ size: Int,
                                  _ h: Double, _ rtol: Double, _ atol: Double,
                                  _ rate: (UnsafePointer<Double>,
                                           UnsafeMutablePointer<Double>) throws -> Void) throws -> (Double, Void) {
        for s in 1...6 {
            let row = a[s]
            for i in 0..<size {
                var acc = 0.0
                for j in 0..<s where row[j] != 0 { acc += row[j] * k[j].pointer[i] }
                out[i] = y[i] + h * acc
            }
            try rate(UnsafePointer(out), k[s].pointer)
        }
        // After stage 6 the trial state holds the 5th-order solution (a[6] are its weights);
        // stage 6 is the rate there (FSAL).
        var sum = 0.0
        for i in 0..<size {
            var err = 0.0
            for j in 0..<7 where e[j] != 0 { err += e[j] * k[j].pointer[i] }
            let scale = atol + rtol * max(abs(y[i]), abs(out[i]))
            let r = h * err / scale
            sum += r * r
        }
        return ((sum / Double(size)).squareRoot(), ())
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FunctionSpaceODE {
    /// The train outputs (one n × k matrix per time) of the flow from `f0Train` (nil: 0) with
    /// kernel `kTrain` (n × n) towards `y` (n × k), at every time in `times` (finite, ≥ 0).
    public static func solve(kTrain: Matrix, y: Matrix, times: [Double], loss: Loss = .mse, learningRate: Double = 1,
                             f0Train: Matrix? = nil, rtol: Double = 1e-10, atol: Double = 1e-12,
                             progress: ProgressHandler = .none) throws -> [Matrix] {
        try run(kTrain, y, f0Train, times, loss, learningRate, nil, nil, rtol, atol, progress).train
    }

    /// The train and test outputs (n × k and m × k per time); the test points follow through
    /// `kTestTrain` (m × n) from `f0Test` (nil: 0).
    public static func solve(kTrain: Matrix, y: Matrix, times: [Double], kTestTrain: Matrix, f0Test: Matrix? = nil,
                             loss: Loss = .mse, learningRate: Double = 1, f0Train: Matrix? = nil,
                             rtol: Double = 1e-10, atol: Double = 1e-12,
                             progress: ProgressHandler = .none) throws -> (train: [Matrix], test: [Matrix]) {
        try run(kTrain, y, f0Train, times, loss, learningRate, kTestTrain, f0Test, rtol, atol, progress)
    }

    private static func run(_ kTrain: Matrix, _ y: Matrix, _ f0Train: Matrix?, _ times: [Double], _ loss: Loss,
                            _ learningRate: Double, _ kTestTrain: Matrix?, _ f0Test: Matrix?, _ rtol: Double,
                            _ atol: Double, _ progress: ProgressHandler) throws -> (train: [Matrix], test: [Matrix]) {
        let n = kTrain.rows, m = kTestTrain?.rows ?? 0, k = y.cols
        var train = [Double](repeating: 0,
                             count: try Sizes.product(times.count, try Sizes.product(n, k, "n·k"), "outputs") + 1)
        var test = [Double](repeating: 0,
                            count: try Sizes.product(times.count, try Sizes.product(m, k, "m·k"), "outputs") + 1)
        try kTrain.withView { kv in
            try Targets.with(y, f0Train) { targets in
                func go(_ testKernel: TestKernel?) throws {
                    try train.withUnsafeMutableBufferPointer { tr in
                        try test.withUnsafeMutableBufferPointer { te in
                            try solve(kTrain: kv, targets: targets, times: times, loss: loss,
                                      learningRate: learningRate,
                                      test: testKernel, rtol: rtol, atol: atol, trainOut: tr.baseAddress,
                                      testOut: testKernel == nil ? nil : te.baseAddress, progress: progress)
                        }
                    }
                }
                if let kTestTrain { try TestKernel.with(kTestTrain, f0Test) { try go($0) } } else { try go(nil) }
            }
        }
        return (try Matrix.slices(of: train, count: times.count, rows: n, cols: k),
                kTestTrain == nil ? [] : try Matrix.slices(of: test, count: times.count, rows: m, cols: k))
    }
}
