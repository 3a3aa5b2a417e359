// Nyström kernel ridge regression and Falkon: fitted handles, predictions, paths, GCV.
// Validation and marshalling only.
import CNTK
import NTK

func nystromSolver(_ s: ntk_nystrom_solver) throws -> NystromRidge.Solver {
    switch s {
    case NTK_NYSTROM_DIRECT: return .direct
    case NTK_NYSTROM_CG: return .conjugateGradient
    default: throw invalid("options->solver", s.rawValue, "NTK_NYSTROM_DIRECT or NTK_NYSTROM_CG")
    }
}

func centerSelection(_ s: ntk_center_selection) throws -> NystromCenters.Selection {
    switch s {
    case NTK_CENTERS_UNIFORM: return .uniform
    case NTK_CENTERS_PIVOTED_CHOLESKY: return .pivotedCholesky
    default: throw invalid("options->centers", s.rawValue, "NTK_CENTERS_UNIFORM or NTK_CENTERS_PIVOTED_CHOLESKY")
    }
}

func kernelKind(_ k: ntk_kernel_kind, _ name: String = "options->kernel") throws -> InfiniteWidthPointKernel.Kind {
    switch k {
    case NTK_KERNEL_NTK: return .ntk
    case NTK_KERNEL_NNGP: return .nngp
    default: throw invalid(name, k.rawValue, "NTK_KERNEL_NTK or NTK_KERNEL_NNGP")
    }
}

/// The defaults of `ntk_nystrom_options`, as `ntk_nystrom_options_init` writes them.
var nystromDefaults: ntk_nystrom_options {
    ntk_nystrom_options(size: MemoryLayout<ntk_nystrom_options>.size, solver: NTK_NYSTROM_DIRECT,
                        centers: NTK_CENTERS_UNIFORM,
                        kernel: NTK_KERNEL_NTK, preconditioned: 1, seed: 0, tol: 1e-8, max_iter: 100,
                        quadrature_points: 0,
                        memory_limit: 0, progress: nil, progress_user: nil, reduce: nil, reduce_user: nil,
                        preconditioner_rows: 0)
}

@_cdecl("ntk_nystrom_options_init")
public func ntk_nystrom_options_init(_ options: UnsafeMutablePointer<ntk_nystrom_options>?) -> Int32 {
    boundary("ntk_nystrom_options_init") { try initialise(options, nystromDefaults, "options") }
}

/// The core's options of a C options struct (solver, tolerances, memory).
func nystromOptions(_ o: ntk_nystrom_options) throws -> NystromRidge.Options {
    var options = NystromRidge.Options()
    options.solver = try nystromSolver(o.solver)
    guard o.tol.isFinite, o.tol > 0 else {
        throw NTKError(.invalidArgument, "options->tol must be > 0 and finite, got \(o.tol)")
    }
    guard o.max_iter >= 1 else { throw NTKError(.invalidArgument, "options->max_iter must be >= 1, got \(o.max_iter)") }
    let limit = try memoryLimitOption(o.memory_limit)
    guard o.preconditioned == 0 || o.preconditioned == 1 else {
        throw NTKError(.invalidArgument, "options->preconditioned must be 0 or 1, got \(o.preconditioned)")
    }
    guard o.preconditioner_rows >= -1 else {
        throw NTKError(.invalidArgument, "options->preconditioner_rows must be >= -1 (0: automatic, -1: the "
                       + "centres), got \(o.preconditioner_rows)")
    }
    options.tolerance = o.tol
    options.maxIterations = Int(o.max_iter)
    options.preconditioned = o.preconditioned == 1
    options.preconditionerRows = o.preconditioner_rows == 0 ? nil : max(0, Int(o.preconditioner_rows))
    options.memoryLimit = limit
    options.partition = partition(o.reduce, o.reduce_user)
    return options
}

/// The infinite-width kernel of a fit on points (options->kernel, options->quadrature_points) of
/// an MLP's or a layered network's architecture.
func nystromKernel(_ o: ntk_nystrom_options, _ make: (InfiniteWidthPointKernel.Kind, Int) throws -> PointKernel)
    throws -> PointKernel {
    let points = o.quadrature_points
    guard points >= 0, points <= 64 else {
        throw NTKError(.invalidArgument, "options->quadrature_points must be in 0...64 (0: automatic), got \(points)")
    }
    return try make(try kernelKind(o.kernel), Int(points))
}

/// The infinite-width kernel of an `ntk_mlp`'s architecture for a Nyström fit.
private func mlpKernel(_ mlp: OpaquePointer?, _ o: ntk_nystrom_options) throws -> PointKernel {
    let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
    return try nystromKernel(o) { InfiniteWidthPointKernel(a, kind: $0, points: $1) }
}

/// The infinite-width kernel of an `ntk_network`'s architecture for a Nyström fit.
private func networkKernel(_ network: OpaquePointer?, _ o: ntk_nystrom_options) throws -> PointKernel {
    let a = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
    return try nystromKernel(o) { try NetworkInfiniteWidthPointKernel(a, kind: $0, points: $1) }
}

@_cdecl("ntk_nystrom_fit")
public func ntk_nystrom_fit(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                            _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double, _ centers: Int64,
                            _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_nystrom_fit") {
        try nystromFit({ try mlpKernel(mlp, $0) }, n, x, ldx, targets, ridge, centers, optionsIn, out)
    }
}

@_cdecl("ntk_network_nystrom_fit")
public func ntk_network_nystrom_fit(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                    _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double, _ centers: Int64,
                                    _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_network_nystrom_fit") {
        try nystromFit({ try networkKernel(network, $0) }, n, x, ldx, targets, ridge, centers, optionsIn, out)
    }
}

/// The body of the fits with centres chosen among the rows (`kernel` from the checked options).
private func nystromFit(_ kernel: (ntk_nystrom_options) throws -> PointKernel, _ n: Int64,
                        _ x: UnsafePointer<Double>?, _ ldx: Int64, _ targets: UnsafePointer<ntk_targets>?,
                        _ ridge: Double, _ centers: Int64, _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                        _ out: UnsafeMutablePointer<OpaquePointer?>?) throws {
    let out = try required(out, "out")
    let o = try options(optionsIn, defaults: nystromDefaults, "options")
    let kernel = try kernel(o)
    let n = try size(n, "n")
    guard o.reduce == nil else {
        throw NTKError(.invalidArgument,
                       "options->reduce needs the same centres on every process: use ntk_nystrom_fit_centers")
    }
    let model = try NystromRidge.fit(kernel: kernel, x: try input(x, n, kernel.inputDimension, ld: ldx, "X"),
                                     targets: try NTKC.targets(targets, rows: n), ridge: ridge,
                                     centers: try size(centers, "n_centers"), selection: try centerSelection(o.centers),
                                     seed: o.seed, options: try nystromOptions(o),
                                     progress: progress(o.progress, o.progress_user))
    out.pointee = HandleRegistry.shared.register(model)
}

@_cdecl("ntk_nystrom_fit_centers")
public func ntk_nystrom_fit_centers(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                    _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double, _ c: Int64,
                                    _ centers: UnsafePointer<Double>?, _ ldc: Int64,
                                    _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_nystrom_fit_centers") {
        try nystromFitCenters({ try mlpKernel(mlp, $0) }, n, x, ldx, targets, ridge, c, centers, ldc, optionsIn, out)
    }
}

@_cdecl("ntk_network_nystrom_fit_centers")
public func ntk_network_nystrom_fit_centers(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?,
                                            _ ldx: Int64, _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double,
                                            _ c: Int64, _ centers: UnsafePointer<Double>?, _ ldc: Int64,
                                            _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_network_nystrom_fit_centers") {
        try nystromFitCenters({ try networkKernel(network, $0) }, n, x, ldx, targets, ridge, c, centers, ldc,
                              optionsIn, out)
    }
}

/// The body of the fits on given centres.
private func nystromFitCenters(_ kernel: (ntk_nystrom_options) throws -> PointKernel, _ n: Int64,
                               _ x: UnsafePointer<Double>?, _ ldx: Int64, _ targets: UnsafePointer<ntk_targets>?,
                               _ ridge: Double, _ c: Int64, _ centers: UnsafePointer<Double>?, _ ldc: Int64,
                               _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) throws {
    let out = try required(out, "out")
    let o = try options(optionsIn, defaults: nystromDefaults, "options")
    let kernel = try kernel(o)
    let n = try size(n, "n"), c = try size(c, "c"), d = kernel.inputDimension
    guard c >= 1 else { throw NTKError(.invalidArgument, "c (the number of centres) must be >= 1, got \(c)") }
    let model = try NystromRidge.fit(kernel: kernel, x: try input(x, n, d, ld: ldx, "X"),
                                     targets: try NTKC.targets(targets, rows: n), ridge: ridge,
                                     centers: try input(centers, c, d, ld: ldc, "C"), options: try nystromOptions(o),
                                     progress: progress(o.progress, o.progress_user))
    out.pointee = HandleRegistry.shared.register(model)
}

@_cdecl("ntk_nystrom_fit_kernel")
public func ntk_nystrom_fit_kernel(_ n: Int64, _ c: Int64, _ knm: UnsafePointer<Double>?, _ ldnm: Int64,
                                   _ kmm: UnsafePointer<Double>?, _ ldmm: Int64, _ targets: UnsafePointer<ntk_targets>?,
                                   _ ridge: Double, _ optionsIn: UnsafePointer<ntk_nystrom_options>?,
                                   _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_nystrom_fit_kernel") {
        let out = try required(out, "out")
        let o = try options(optionsIn, defaults: nystromDefaults, "options")
        let (n, c) = (try size(n, "n"), try size(c, "c"))
        guard c >= 1, c <= n else {
            throw NTKError(.invalidArgument, "c (the number of centres) must be in 1...n = \(n), got \(c)")
        }
        let cross = try StoredCrossKernel(try input(knm, n, c, ld: ldnm, "K_nm"))
        let model = try NystromRidge(cross: cross, kCenters: try input(kmm, c, c, ld: ldmm, "K_mm"),
                                     targets: try NTKC.targets(targets, rows: n), ridge: ridge,
                                     options: try nystromOptions(o),
                                     progress: progress(o.progress, o.progress_user))
        out.pointee = HandleRegistry.shared.register(model)
    }
}

/// The test set of a Nyström call as the core's cross-kernel and offsets.
func nystromTest(_ p: UnsafePointer<ntk_nystrom_test>?, _ model: NystromRidge) throws -> (CrossKernel, MatrixView?) {
    let t = try required(p, "test")
    let rows = try size(t.m, "test->m")
    let offsets = try optionalInput(t.f0, rows, model.outputs, ld: t.ldf0, "test->f0")
    switch (t.X, t.K_test_centers) {
    case (let x?, nil):
        guard let kernel = model.kernel else {
            throw NTKError(.invalidArgument,
                           "this model was fitted on a kernel (ntk_nystrom_fit_kernel): give test->K_test_centers, "
                               + "not test->X")
        }
        let xv = try input(x, rows, kernel.inputDimension, ld: t.ldx, "test->X")
        return (try model.crossKernel(x: xv), offsets)
    case (nil, let k?):
        guard model.kernel == nil else {
            throw NTKError(.invalidArgument,
                           "this model was fitted on points (ntk_nystrom_fit): give test->X, not test->K_test_centers")
        }
        let kv = try input(k, rows, model.centerCount, ld: t.ldk, "test->K_test_centers")
        return (try StoredCrossKernel(kv, name: "test->K_test_centers"), offsets)
    case (nil, nil): throw NTKError(.invalidArgument, "test->X and test->K_test_centers are both NULL: give one")
    default: throw NTKError(.invalidArgument, "test->X and test->K_test_centers are both set: give one")
    }
}

@_cdecl("ntk_nystrom_predict")
public func ntk_nystrom_predict(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_nystrom_test>?,
                                _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64,
                                _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_nystrom_predict") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        let (cross, offsets) = try nystromTest(test, model)
        try model.predict(cross: cross, offsets: offsets,
                          into: try output(pred, cross.rows, model.outputs, ld: ldp, "pred"),
                          progress: progress(callback, user))
    }
}

@_cdecl("ntk_nystrom_path")
public func ntk_nystrom_path(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_nystrom_test>?,
                             _ grid: UnsafePointer<ntk_grid>?, _ pred: UnsafeMutablePointer<Double>?,
                             _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_nystrom_path") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        let (cross, offsets) = try nystromTest(test, model)
        let filters = try filterGrid(grid, try Sizes.product(model.n, model.outputs, "n*k"))
        let total = try Sizes.product(try Sizes.product(filters.count, cross.rows, "count*t"), model.outputs,
                                      "count*t*k")
        try model.predictPath(cross: cross, offsets: offsets, filters: filters,
                              into: try outputVector(pred, total, "pred"),
                              progress: progress(callback, user))
    }
}

@_cdecl("ntk_nystrom_path_coefficients")
public func ntk_nystrom_path_coefficients(_ model: OpaquePointer?, _ grid: UnsafePointer<ntk_grid>?,
                                          _ coef: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_nystrom_path_coefficients") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        let filters = try filterGrid(grid, try Sizes.product(model.n, model.outputs, "n*k"))
        let total = try Sizes.product(try Sizes.product(filters.count, model.centerCount, "count*m"), model.outputs,
                                      "count*m*k")
        try model.pathCoefficients(filters: filters, into: try outputVector(coef, total, "coef"))
    }
}

@_cdecl("ntk_nystrom_select_ridge")
public func ntk_nystrom_select_ridge(_ model: OpaquePointer?, _ count: Int64, _ ridges: UnsafePointer<Double>?,
                                     _ scores: UnsafeMutablePointer<Double>?,
                                     _ best: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_nystrom_select_ridge") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        let count = try size(count, "count")
        let grid = try inputVector(ridges, count, "ridges")
        let out = try outputVector(scores, count, "scores")
        let result = try model.selectRidge(ridges: grid)
        for (i, s) in result.scores.enumerated() { out[i] = s }
        best?.pointee = Int64(result.index)
    }
}

@_cdecl("ntk_nystrom_info")
public func ntk_nystrom_info(_ model: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                             _ c: UnsafeMutablePointer<Int64>?,
                             _ k: UnsafeMutablePointer<Int64>?, _ iterations: UnsafeMutablePointer<Int64>?,
                             _ residual: UnsafeMutablePointer<Double>?, _ converged: UnsafeMutablePointer<Int32>?,
                             _ jitter: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_nystrom_info") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        n?.pointee = Int64(model.n)
        c?.pointee = Int64(model.centerCount)
        k?.pointee = Int64(model.outputs)
        iterations?.pointee = Int64(model.iterations)
        residual?.pointee = model.residuals.last ?? 0
        converged?.pointee = model.converged ? 1 : 0
        jitter?.pointee = model.jitter
    }
}

@_cdecl("ntk_nystrom_residuals")
public func ntk_nystrom_residuals(_ model: OpaquePointer?, _ history: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_nystrom_residuals") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        let out = try outputVector(history, model.residuals.count, "history")
        for (i, r) in model.residuals.enumerated() { out[i] = r }
    }
}

@_cdecl("ntk_nystrom_centers")
public func ntk_nystrom_centers(_ model: OpaquePointer?, _ indices: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_nystrom_centers") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        guard model.kernel != nil else {
            throw NTKError(.invalidArgument,
                           "this model was fitted on a kernel (ntk_nystrom_fit_kernel): its centres are the caller's")
        }
        guard model.centerIndices.count == model.centerCount else {
            throw NTKError(.invalidArgument,
                           "this model was fitted on the caller's centre points (ntk_nystrom_fit_centers): they have "
                               + "no indices")
        }
        let out = try required(indices, "indices")
        for (i, c) in model.centerIndices.enumerated() { out[i] = Int64(c) }
    }
}

@_cdecl("ntk_nystrom_coefficients")
public func ntk_nystrom_coefficients(_ model: OpaquePointer?, _ coef: UnsafeMutablePointer<Double>?,
                                     _ ldc: Int64) -> Int32 {
    boundary("ntk_nystrom_coefficients") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        try model.copyCoefficients(into: try output(coef, model.centerCount, model.outputs, ld: ldc, "coef"))
    }
}

@_cdecl("ntk_nystrom_eigenvalues")
public func ntk_nystrom_eigenvalues(_ model: OpaquePointer?, _ w: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_nystrom_eigenvalues") {
        let model = try HandleRegistry.shared.lookup(model, as: NystromRidge.self, "model")
        guard let values = model.eigenvalues else {
            throw NTKError(.invalidArgument,
                           "eigenvalues need the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        let out = try outputVector(w, values.count, "w")
        for (i, v) in values.enumerated() { out[i] = v }
    }
}

@_cdecl("ntk_nystrom_free")
public func ntk_nystrom_free(_ model: OpaquePointer?) { HandleRegistry.shared.release(model) }
