// The exported classification solver: kernel logistic (softmax) regression on a dense kernel or
// Nyström centres, its approximate leave-one-out and its Laplace (GP classification) quantities.
// Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_kernel_logistic_options`, as `ntk_kernel_logistic_options_init` writes them.
var kernelLogisticDefaults: ntk_kernel_logistic_options {
    ntk_kernel_logistic_options(size: MemoryLayout<ntk_kernel_logistic_options>.size, n_ridges: 0, ridges: nil,
                                tol: 1e-10, max_iter: 100, memory_limit: 0, progress: nil, progress_user: nil)
}

@_cdecl("ntk_kernel_logistic_options_init")
public func ntk_kernel_logistic_options_init(_ options: UnsafeMutablePointer<ntk_kernel_logistic_options>?)
    -> Int32 {
    boundary("ntk_kernel_logistic_options_init") { try initialise(options, kernelLogisticDefaults, "options") }
}

/// What a fit needs from its options: Newton's settings, the ridge grid (nil: one ridge), the
/// memory limit and the progress handler.
struct LogisticArguments {
    let settings: KernelLogistic.Settings
    let ridges: [Double]?
    let memoryLimit: Int?
    let progress: ProgressHandler

    init(_ p: UnsafePointer<ntk_kernel_logistic_options>?) throws {
        let o = try options(p, defaults: kernelLogisticDefaults, "options")
        guard o.tol.isFinite, o.tol > 0 else {
            throw NTKError(.invalidArgument, "options->tol must be > 0 and finite, got \(o.tol)")
        }
        guard o.max_iter >= 1 else {
            throw NTKError(.invalidArgument, "options->max_iter must be >= 1, got \(o.max_iter)")
        }
        let limit = try memoryLimitOption(o.memory_limit)
        guard o.n_ridges >= 0, o.n_ridges <= 1 << 20 else {
            throw NTKError(.invalidArgument, "options->n_ridges must be in 0...2^20, got \(o.n_ridges)")
        }
        settings = KernelLogistic.Settings(tolerance: o.tol, maxIterations: Int(o.max_iter))
        ridges = o.n_ridges == 0 ? nil : try inputVector(o.ridges, Int(o.n_ridges), "options->ridges")
        memoryLimit = limit
        progress = NTKC.progress(o.progress, o.progress_user)
    }
}

/// The core's `ClassLabels` of an `ntk_labels *` for n training points.
func classLabels(_ p: UnsafePointer<ntk_labels>?, rows n: Int) throws -> ClassLabels {
    let l = try required(p, "labels")
    let k = try size(l.n_classes, "labels->n_classes")
    guard let values = l.labels else {
        if n == 0 { return try ClassLabels([], classes: k) }
        throw NTKError(.invalidArgument, "labels->labels is NULL")
    }
    let labels = (0..<n).map { Int(values[$0]) }
    return try ClassLabels(labels, classes: k, offsets: try optionalInput(l.f0, n, k, ld: l.ldf0, "labels->f0"))
}

@_cdecl("ntk_kernel_logistic_fit")
public func ntk_kernel_logistic_fit(_ n: Int64, _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                                    _ labels: UnsafePointer<ntk_labels>?, _ ridge: Double,
                                    _ optionsIn: UnsafePointer<ntk_kernel_logistic_options>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_kernel_logistic_fit") {
        let out = try required(out, "out")
        let a = try LogisticArguments(optionsIn)
        let n = try size(n, "n")
        let model = try KernelLogistic.fit(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"),
                                           labels: try classLabels(labels, rows: n), ridge: ridge, ridges: a.ridges,
                                           settings: a.settings, memoryLimit: a.memoryLimit, progress: a.progress)
        out.pointee = HandleRegistry.shared.register(model)
    }
}

@_cdecl("ntk_kernel_logistic_fit_nystrom")
public func ntk_kernel_logistic_fit_nystrom(_ n: Int64, _ c: Int64, _ kNM: UnsafePointer<Double>?, _ ldNM: Int64,
                                            _ kMM: UnsafePointer<Double>?, _ ldMM: Int64,
                                            _ labels: UnsafePointer<ntk_labels>?, _ ridge: Double,
                                            _ optionsIn: UnsafePointer<ntk_kernel_logistic_options>?,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_kernel_logistic_fit_nystrom") {
        let out = try required(out, "out")
        let a = try LogisticArguments(optionsIn)
        let (n, c) = (try size(n, "n"), try size(c, "c"))
        guard c >= 1 else { throw NTKError(.invalidArgument, "c (the number of centres) must be >= 1") }
        let cross = try StoredCrossKernel(try input(kNM, n, c, ld: ldNM, "K_nm"))
        let model = try KernelLogistic.fit(cross: cross, kCenters: try input(kMM, c, c, ld: ldMM, "K_mm"),
                                           labels: try classLabels(labels, rows: n), ridge: ridge, ridges: a.ridges,
                                           settings: a.settings, memoryLimit: a.memoryLimit, progress: a.progress)
        out.pointee = HandleRegistry.shared.register(model)
    }
}

@_cdecl("ntk_kernel_logistic_fit_centers")
public func ntk_kernel_logistic_fit_centers(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                            _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                            _ centersIn: UnsafePointer<ntk_points>?,
                                            _ labels: UnsafePointer<ntk_labels>?, _ ridge: Double,
                                            _ optionsIn: UnsafePointer<ntk_kernel_logistic_options>?,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_kernel_logistic_fit_centers") {
        let architecture = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let kernel = InfiniteWidthPointKernel(architecture, kind: try kernelKind(kind, "kind"))
        try logisticFitCenters(kernel, n, x, ldx, centersIn, labels, ridge, optionsIn, out)
    }
}

@_cdecl("ntk_network_kernel_logistic_fit_centers")
public func ntk_network_kernel_logistic_fit_centers(_ network: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                                    _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                                    _ centersIn: UnsafePointer<ntk_points>?,
                                                    _ labels: UnsafePointer<ntk_labels>?, _ ridge: Double,
                                                    _ optionsIn: UnsafePointer<ntk_kernel_logistic_options>?,
                                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_network_kernel_logistic_fit_centers") {
        let architecture = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
        let kernel = try NetworkInfiniteWidthPointKernel(architecture, kind: try kernelKind(kind, "kind"))
        try logisticFitCenters(kernel, n, x, ldx, centersIn, labels, ridge, optionsIn, out)
    }
}

/// The body of the kernel logistic fits on centres, for the infinite-width kernel `kernel`.
private func logisticFitCenters(_ kernel: PointKernel, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                _ centersIn: UnsafePointer<ntk_points>?, _ labels: UnsafePointer<ntk_labels>?,
                                _ ridge: Double, _ optionsIn: UnsafePointer<ntk_kernel_logistic_options>?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) throws {
    let out = try required(out, "out")
    let a = try LogisticArguments(optionsIn)
    let n = try size(n, "n"), d = kernel.inputDimension
    let centers = try centerPoints(centersIn, d: d)
    let model = try KernelLogistic.fit(kernel: kernel, x: try input(x, n, d, ld: ldx, "X"), centers: centers,
                                       labels: try classLabels(labels, rows: n), ridge: ridge, ridges: a.ridges,
                                       settings: a.settings, memoryLimit: a.memoryLimit, progress: a.progress)
    out.pointee = HandleRegistry.shared.register(model)
}

private func logistic(_ model: OpaquePointer?) throws -> KernelLogistic {
    try HandleRegistry.shared.lookup(model, as: KernelLogistic.self, "model")
}

@_cdecl("ntk_kernel_logistic_info")
public func ntk_kernel_logistic_info(_ model: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                                     _ k: UnsafeMutablePointer<Int64>?, _ c: UnsafeMutablePointer<Int64>?,
                                     _ ridge: UnsafeMutablePointer<Double>?,
                                     _ iterations: UnsafeMutablePointer<Int64>?,
                                     _ converged: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary("ntk_kernel_logistic_info") {
        let model = try logistic(model)
        n?.pointee = Int64(model.n)
        k?.pointee = Int64(model.classes)
        c?.pointee = Int64(model.columns)
        ridge?.pointee = model.ridge
        iterations?.pointee = Int64(model.iterations)
        converged?.pointee = model.converged ? 1 : 0
    }
}

@_cdecl("ntk_kernel_logistic_ridge_scores")
public func ntk_kernel_logistic_ridge_scores(_ model: OpaquePointer?, _ scores: UnsafeMutablePointer<Double>?)
    -> Int32 {
    boundary("ntk_kernel_logistic_ridge_scores") {
        let model = try logistic(model)
        guard !model.ridgeScores.isEmpty else {
            throw NTKError(.invalidArgument, "the model was fitted at one ridge: there are no grid scores")
        }
        let out = try outputVector(scores, model.ridgeScores.count, "scores")
        for (i, s) in model.ridgeScores.enumerated() { out[i] = s }
    }
}

@_cdecl("ntk_kernel_logistic_coefficients")
public func ntk_kernel_logistic_coefficients(_ model: OpaquePointer?, _ coef: UnsafeMutablePointer<Double>?,
                                             _ ld: Int64) -> Int32 {
    boundary("ntk_kernel_logistic_coefficients") {
        let model = try logistic(model)
        try model.copyCoefficients(into: try output(coef, model.columns, model.classes, ld: ld, "coef"))
    }
}

@_cdecl("ntk_kernel_logistic_train_logits")
public func ntk_kernel_logistic_train_logits(_ model: OpaquePointer?, _ logits: UnsafeMutablePointer<Double>?,
                                             _ ld: Int64) -> Int32 {
    boundary("ntk_kernel_logistic_train_logits") {
        let model = try logistic(model)
        try model.copyTrainLogits(into: try output(logits, model.n, model.classes, ld: ld, "logits"))
    }
}

@_cdecl("ntk_kernel_logistic_predict")
public func ntk_kernel_logistic_predict(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_test_kernel>?,
                                        _ logits: UnsafeMutablePointer<Double>?, _ ld: Int64) -> Int32 {
    boundary("ntk_kernel_logistic_predict") {
        let model = try logistic(model)
        let t = try testKernel(try required(test, "test"), trainRows: model.columns, outputs: model.classes)
        try model.predict(test: t, into: try output(logits, t.rows, model.classes, ld: ld, "logits"))
    }
}

@_cdecl("ntk_kernel_logistic_loo")
public func ntk_kernel_logistic_loo(_ model: OpaquePointer?, _ logits: UnsafeMutablePointer<Double>?, _ ld: Int64,
                                    _ logLoss: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_logistic_loo") {
        let model = try logistic(model)
        let out = try optionalOutput(logits, model.n, model.classes, ld: ld, "logits")
        let (values, loss) = try model.leaveOneOut()
        if let out { for i in 0..<model.n { for c in 0..<model.classes { out.base[i * out.ld + c] = values[i, c] } } }
        logLoss?.pointee = loss
    }
}

@_cdecl("ntk_kernel_logistic_log_marginal_likelihood")
public func ntk_kernel_logistic_log_marginal_likelihood(_ model: OpaquePointer?,
                                                        _ value: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_logistic_log_marginal_likelihood") {
        let model = try logistic(model)
        let value = try required(value, "value")
        value.pointee = try model.logMarginalLikelihood()
    }
}

@_cdecl("ntk_kernel_logistic_latent_covariance")
public func ntk_kernel_logistic_latent_covariance(_ model: OpaquePointer?, _ m: Int64,
                                                  _ kTest: UnsafePointer<Double>?, _ ldk: Int64,
                                                  _ diagonal: UnsafePointer<Double>?,
                                                  _ cov: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_logistic_latent_covariance") {
        let model = try logistic(model)
        let m = try size(m, "m")
        let kernel = try input(kTest, m, model.columns, ld: ldk, "K_test")
        let count = try Sizes.product(m, try Sizes.product(model.classes, model.classes, "k*k"), "m*k*k")
        let out = try outputVector(cov, count, "cov")
        try model.latentCovariance(kernel: kernel, diagonal: m == 0 ? nil : diagonal, into: out)
    }
}

@_cdecl("ntk_kernel_logistic_free")
public func ntk_kernel_logistic_free(_ model: OpaquePointer?) { HandleRegistry.shared.release(model) }
