// The matrix-free empirical NTK: CG kernel ridge (a fitted handle) and Lanczos gradient flow.
// Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_empirical_solver_options`, as `ntk_empirical_solver_options_init` writes them.
var empiricalSolverDefaults: ntk_empirical_solver_options {
    ntk_empirical_solver_options(size: MemoryLayout<ntk_empirical_solver_options>.size, tol: 1e-8, max_iter: 500,
                            preconditioner_rank: 256,
                            seed: 0, learning_rate: 1, memory_limit: 0, progress: nil, progress_user: nil,
                            reduce: nil, reduce_user: nil, preconditioner_centers: nil, preconditioner_ldc: 0,
                            precision: Int64(NTK_PRECISION_DOUBLE.rawValue))
}

@_cdecl("ntk_empirical_solver_options_init")
public func ntk_empirical_solver_options_init(_ options: UnsafeMutablePointer<ntk_empirical_solver_options>?) -> Int32 {
    boundary("ntk_empirical_solver_options_init") { try initialise(options, empiricalSolverDefaults, "options") }
}

/// The shared checks of the options (each solver reads the fields it uses).
func checkEmpiricalSolver(_ o: ntk_empirical_solver_options) throws {
    guard o.tol.isFinite, o.tol > 0 else {
        throw NTKError(.invalidArgument, "options->tol must be > 0 and finite, got \(o.tol)")
    }
    guard o.max_iter >= 1 else { throw NTKError(.invalidArgument, "options->max_iter must be >= 1, got \(o.max_iter)") }
    guard o.preconditioner_rank >= 0 else {
        throw NTKError(.invalidArgument,
                       "options->preconditioner_rank must be >= 0 (0: none), got \(o.preconditioner_rank)")
    }
    _ = try memoryLimitOption(o.memory_limit)
    guard o.learning_rate.isFinite, o.learning_rate > 0 else {
        throw NTKError(.invalidArgument, "options->learning_rate must be > 0 and finite, got \(o.learning_rate)")
    }
    _ = try singlePrecision(o)
}

/// Whether `options->precision` asks for single-precision products.
/// - Throws: `invalidArgument` for a value that is not an `ntk_precision`.
func singlePrecision(_ o: ntk_empirical_solver_options) throws -> Bool {
    switch o.precision {
    case Int64(NTK_PRECISION_DOUBLE.rawValue): return false
    case Int64(NTK_PRECISION_SINGLE.rawValue): return true
    default:
        throw NTKError(.invalidArgument, "options->precision must be NTK_PRECISION_DOUBLE (0) or NTK_PRECISION_SINGLE "
                       + "(1), got \(o.precision)")
    }
}

/// Throws `invalidArgument` when `options->precision` asks for single precision from `solver`,
/// which runs in double only.
func requireDoublePrecision(_ o: ntk_empirical_solver_options, _ solver: String) throws {
    guard try !singlePrecision(o) else {
        throw NTKError(.invalidArgument, "options->precision = NTK_PRECISION_SINGLE is for the ridge fit of an MLP "
                       + "(ntk_empirical_ridge_fit); \(solver) runs in double precision")
    }
}

/// The CG ridge's settings from checked options; `inputDimension` is the network's d (nil for a
/// model's fit, which takes no centre points).
func empiricalRidgeSettings(_ o: ntk_empirical_solver_options,
                            inputDimension: Int?) throws -> EmpiricalNTKRidge.Options {
    try checkEmpiricalSolver(o)
    var settings = EmpiricalNTKRidge.Options()
    settings.tolerance = o.tol
    settings.maxIterations = Int(o.max_iter)
    settings.preconditionerRank = Int(o.preconditioner_rank)
    settings.seed = o.seed
    settings.singlePrecisionProducts = try singlePrecision(o)
    settings.memoryLimit = try memoryLimitOption(o.memory_limit)
    settings.partition = partition(o.reduce, o.reduce_user)
    if let centers = o.preconditioner_centers {
        guard let d = inputDimension else {
            throw NTKError(.invalidArgument, "options->preconditioner_centers must be NULL for a model's fit (its "
                           + "centres are rows: preconditioner_rank of them are drawn)")
        }
        let m = settings.preconditionerRank
        try MemoryBudget.require(try Sizes.product(m, d * 8, "the preconditioner's centres"),
                                 within: try MemoryBudget.resolve(settings.memoryLimit),
                                 for: "a copy of the preconditioner's \(m) centres")
        let view = try input(centers, m, d, ld: o.preconditioner_ldc, "options->preconditioner_centers")
        settings.preconditionerCenters = try Matrix(rows: m, cols: d,
                                                    elements: (0..<m * d).map { view[$0 / d, $0 % d] })
    }
    return settings
}

/// The Lanczos flow's settings from checked options (`reduce`: the rows are one part of the data).
func flowSettings(_ o: ntk_empirical_solver_options) throws -> EmpiricalGradientFlow.Options {
    try checkEmpiricalSolver(o)
    try requireDoublePrecision(o, "the gradient flow")
    var settings = EmpiricalGradientFlow.Options()
    settings.learningRate = o.learning_rate
    settings.tolerance = o.tol
    settings.maxIterations = Int(o.max_iter)
    settings.memoryLimit = try memoryLimitOption(o.memory_limit)
    settings.partition = partition(o.reduce, o.reduce_user)
    return settings
}

/// The rows and offsets of an `ntk_points *` for a network with input dimension d and k outputs.
func points(_ p: UnsafePointer<ntk_points>?, d: Int, k: Int, _ name: String) throws -> (MatrixView, MatrixView?) {
    let t = try required(p, name)
    let m = try size(t.m, "\(name)->m")
    return (try input(t.X, m, d, ld: t.ldx, "\(name)->X"), try optionalInput(t.f0, m, k, ld: t.ldf0, "\(name)->f0"))
}

/// The rows of an `ntk_points *` of Nyström centres (input dimension d): centres have no
/// offsets, so `centers->f0` must be NULL.
func centerPoints(_ p: UnsafePointer<ntk_points>?, d: Int) throws -> MatrixView {
    let (centers, offsets) = try points(p, d: d, k: 1, "centers")
    guard offsets == nil else {
        throw NTKError(.invalidArgument, "centers->f0 must be NULL (centres have no offsets)")
    }
    return centers
}

@_cdecl("ntk_empirical_ridge_fit")
public func ntk_empirical_ridge_fit(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                    _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double,
                                    _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_empirical_ridge_fit") {
        let net = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        try fitRidge(d: net.architecture.inputDimension, n, x, ldx, targets, optionsIn, out) {
            try EmpiricalNTKRidge(mlp: net, x: $0, targets: $1, ridge: ridge, options: $2, progress: $3)
        }
    }
}

@_cdecl("ntk_network_ridge_fit")
public func ntk_network_ridge_fit(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                  _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double,
                                  _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_network_ridge_fit") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        try fitRidge(d: net.architecture.inputDimension, n, x, ldx, targets, optionsIn, out) {
            try EmpiricalNTKRidge(network: net, x: $0, targets: $1, ridge: ridge, options: $2, progress: $3)
        }
    }
}

/// The shared body of the network fits: arguments checked, `fit(X, targets, settings,
/// progress)` run, the fitted ridge registered in `*out`.
private func fitRidge(d: Int, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                      _ targets: UnsafePointer<ntk_targets>?,
                      _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                      _ out: UnsafeMutablePointer<OpaquePointer?>?,
                      _ fit: (MatrixView, Targets, EmpiricalNTKRidge.Options, ProgressHandler) throws
                          -> EmpiricalNTKRidge) throws {
    let out = try required(out, "out")
    let o = try options(optionsIn, defaults: empiricalSolverDefaults, "options")
    let n = try size(n, "n")
    let model = try fit(try input(x, n, d, ld: ldx, "X"), try NTKC.targets(targets, rows: n),
                        try empiricalRidgeSettings(o, inputDimension: d), progress(o.progress, o.progress_user))
    out.pointee = HandleRegistry.shared.register(model)
}

@_cdecl("ntk_empirical_ridge_predict")
public func ntk_empirical_ridge_predict(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_points>?,
                                        _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64,
                                        _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_empirical_ridge_predict") {
        let model = try HandleRegistry.shared.lookup(model, as: EmpiricalNTKRidge.self, "model")
        guard let d = model.inputDimension else {
            throw NTKError(.invalidArgument, "the model was fitted on a model's callbacks (ntk_model_ridge_fit): "
                           + "predict at row indices with ntk_empirical_ridge_predict_rows")
        }
        let (x, f0) = try points(test, d: d, k: model.outputs, "test")
        try model.predict(x: x, offsets: f0, into: try output(pred, x.rows, model.outputs, ld: ldp, "pred"),
                          progress: progress(callback, user))
    }
}

@_cdecl("ntk_empirical_ridge_info")
public func ntk_empirical_ridge_info(_ model: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                                     _ k: UnsafeMutablePointer<Int64>?,
                                     _ iterations: UnsafeMutablePointer<Int64>?,
                                     _ residual: UnsafeMutablePointer<Double>?,
                                     _ converged: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary("ntk_empirical_ridge_info") {
        let model = try HandleRegistry.shared.lookup(model, as: EmpiricalNTKRidge.self, "model")
        n?.pointee = Int64(model.n)
        k?.pointee = Int64(model.outputs)
        iterations?.pointee = Int64(model.iterations)
        residual?.pointee = model.residuals.last ?? 0
        converged?.pointee = model.converged ? 1 : 0
    }
}

@_cdecl("ntk_empirical_ridge_residuals")
public func ntk_empirical_ridge_residuals(_ model: OpaquePointer?, _ history: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_empirical_ridge_residuals") {
        let model = try HandleRegistry.shared.lookup(model, as: EmpiricalNTKRidge.self, "model")
        let out = try outputVector(history, model.residuals.count, "history")
        for (i, r) in model.residuals.enumerated() { out[i] = r }
    }
}

@_cdecl("ntk_empirical_ridge_dual_coefficients")
public func ntk_empirical_ridge_dual_coefficients(_ model: OpaquePointer?, _ alpha: UnsafeMutablePointer<Double>?,
                                                  _ lda: Int64) -> Int32 {
    boundary("ntk_empirical_ridge_dual_coefficients") {
        let model = try HandleRegistry.shared.lookup(model, as: EmpiricalNTKRidge.self, "model")
        try model.copyDualCoefficients(into: try output(alpha, model.n, model.outputs, ld: lda, "alpha"))
    }
}

@_cdecl("ntk_empirical_ridge_free")
public func ntk_empirical_ridge_free(_ model: OpaquePointer?) { HandleRegistry.shared.release(model) }

@_cdecl("ntk_empirical_gradient_flow")
public func ntk_empirical_gradient_flow(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                        _ targets: UnsafePointer<ntk_targets>?, _ count: Int64,
                                        _ times: UnsafePointer<Double>?,
                                        _ test: UnsafePointer<ntk_points>?,
                                        _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                        _ predTrain: UnsafeMutablePointer<Double>?,
                                        _ predTest: UnsafeMutablePointer<Double>?,
                                        _ errorEstimate: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_empirical_gradient_flow") {
        let net = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        try flow(d: net.architecture.inputDimension, n, x, ldx, targets, count, times, test, optionsIn, predTrain,
                 predTest, errorEstimate) {
            try EmpiricalGradientFlow.predict(mlp: net, x: $0, targets: $1, times: $2, options: $3, test: $4,
                                              testOffsets: $5, trainOut: $6, testOut: $7, progress: $8)
        }
    }
}

@_cdecl("ntk_network_gradient_flow")
public func ntk_network_gradient_flow(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?,
                                      _ ldx: Int64, _ targets: UnsafePointer<ntk_targets>?, _ count: Int64,
                                      _ times: UnsafePointer<Double>?, _ test: UnsafePointer<ntk_points>?,
                                      _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                      _ predTrain: UnsafeMutablePointer<Double>?,
                                      _ predTest: UnsafeMutablePointer<Double>?,
                                      _ errorEstimate: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_network_gradient_flow") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        try flow(d: net.architecture.inputDimension, n, x, ldx, targets, count, times, test, optionsIn, predTrain,
                 predTest, errorEstimate) {
            try EmpiricalGradientFlow.predict(network: net, x: $0, targets: $1, times: $2, options: $3, test: $4,
                                              testOffsets: $5, trainOut: $6, testOut: $7, progress: $8)
        }
    }
}

/// The flow's arguments checked and handed to `run(X, targets, times, settings, X_test,
/// f0_test, pred_train, pred_test, progress)`, its error estimate written.
private func flow(d: Int, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                  _ targets: UnsafePointer<ntk_targets>?, _ count: Int64, _ times: UnsafePointer<Double>?,
                  _ test: UnsafePointer<ntk_points>?, _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                  _ predTrain: UnsafeMutablePointer<Double>?, _ predTest: UnsafeMutablePointer<Double>?,
                  _ errorEstimate: UnsafeMutablePointer<Double>?,
                  _ run: (MatrixView, Targets, [Double], EmpiricalGradientFlow.Options, MatrixView?, MatrixView?,
                          UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?, ProgressHandler) throws
                      -> EmpiricalGradientFlow.Diagnostics) throws {
    let o = try options(optionsIn, defaults: empiricalSolverDefaults, "options")
    let n = try size(n, "n")
    let t = try NTKC.targets(targets, rows: n)
    let timeList = try inputVector(times, try size(count, "count"), "times")
    let testData = try test.map { try points($0, d: d, k: t.outputs, "test") }
    if predTest != nil && testData == nil { throw NTKError(.invalidArgument, "pred_test needs test (the test points)") }
    let result = try run(try input(x, n, d, ld: ldx, "X"), t, timeList, try flowSettings(o), testData?.0,
                         testData?.1, predTrain, testData == nil ? nil : predTest,
                         progress(o.progress, o.progress_user))
    errorEstimate?.pointee = result.errorEstimate
}
