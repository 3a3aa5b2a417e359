// The exported kernel-regression solvers: kernel ridge with offsets (a fitted handle), ridge on
// explicit features (primal/dual), and the spectral solver (gradient flow at any time, ridge
// paths, filters, ridge selection, critical learning rate). Validation and marshalling only.
import CNTK
import NTK

// MARK: kernel ridge

/// The defaults of `ntk_kernel_ridge_options`, as `ntk_kernel_ridge_options_init` writes them.
var kernelRidgeDefaults: ntk_kernel_ridge_options {
    ntk_kernel_ridge_options(
        size: MemoryLayout<ntk_kernel_ridge_options>.size, ridge_scale: NTK_RIDGE_ABSOLUTE, max_jitter: 0,
        progress: nil, progress_user: nil)
}

@_cdecl("ntk_kernel_ridge_options_init")
public func ntk_kernel_ridge_options_init(_ options: UnsafeMutablePointer<ntk_kernel_ridge_options>?) -> Int32 {
    boundary("ntk_kernel_ridge_options_init") { try initialise(options, kernelRidgeDefaults, "options") }
}

@_cdecl("ntk_kernel_ridge_fit")
public func ntk_kernel_ridge_fit(_ n: Int64, _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                                 _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double,
                                 _ optionsIn: UnsafePointer<ntk_kernel_ridge_options>?,
                                 _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_kernel_ridge_fit") {
        let out = try required(out, "out")
        let o = try options(optionsIn, defaults: kernelRidgeDefaults, "options")
        let n = try size(n, "n")
        let model = try KernelRidge(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"),
                                    targets: try NTKC.targets(targets, rows: n),
                                    ridge: ridge, ridgeRelative: try ridgeRelative(o.ridge_scale),
                                    maxJitter: o.max_jitter,
                                    progress: progress(o.progress, o.progress_user))
        out.pointee = HandleRegistry.shared.register(model)
    }
}

@_cdecl("ntk_kernel_ridge_predict")
public func ntk_kernel_ridge_predict(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_test_kernel>?,
                                     _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_predict") {
        let model = try HandleRegistry.shared.lookup(model, as: KernelRidge.self, "model")
        let t = try testKernel(try required(test, "test"), trainRows: model.n, outputs: model.outputs)
        try model.predict(test: t, into: try output(pred, t.rows, model.outputs, ld: ldp, "pred"))
    }
}

@_cdecl("ntk_kernel_ridge_train_predictions")
public func ntk_kernel_ridge_train_predictions(_ model: OpaquePointer?, _ pred: UnsafeMutablePointer<Double>?,
                                               _ ldp: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_train_predictions") {
        let model = try HandleRegistry.shared.lookup(model, as: KernelRidge.self, "model")
        try model.copyTrainPredictions(into: try output(pred, model.n, model.outputs, ld: ldp, "pred"))
    }
}

@_cdecl("ntk_kernel_ridge_dual_coefficients")
public func ntk_kernel_ridge_dual_coefficients(_ model: OpaquePointer?, _ alpha: UnsafeMutablePointer<Double>?,
                                               _ lda: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_dual_coefficients") {
        let model = try HandleRegistry.shared.lookup(model, as: KernelRidge.self, "model")
        try model.copyDualCoefficients(into: try output(alpha, model.n, model.outputs, ld: lda, "alpha"))
    }
}

@_cdecl("ntk_kernel_ridge_info")
public func ntk_kernel_ridge_info(_ model: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                                  _ k: UnsafeMutablePointer<Int64>?,
                                  _ ridge: UnsafeMutablePointer<Double>?,
                                  _ jitter: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_ridge_info") {
        let model = try HandleRegistry.shared.lookup(model, as: KernelRidge.self, "model")
        n?.pointee = Int64(model.n)
        k?.pointee = Int64(model.outputs)
        ridge?.pointee = model.ridge
        jitter?.pointee = model.jitter
    }
}

@_cdecl("ntk_kernel_ridge_free")
public func ntk_kernel_ridge_free(_ model: OpaquePointer?) { HandleRegistry.shared.release(model) }

// MARK: features ridge

/// The defaults of `ntk_features_ridge_options`, as `ntk_features_ridge_options_init` writes them.
var featuresRidgeDefaults: ntk_features_ridge_options {
    ntk_features_ridge_options(
        size: MemoryLayout<ntk_features_ridge_options>.size, form: NTK_FORM_AUTO, progress: nil, progress_user: nil)
}

@_cdecl("ntk_features_ridge_options_init")
public func ntk_features_ridge_options_init(_ options: UnsafeMutablePointer<ntk_features_ridge_options>?) -> Int32 {
    boundary("ntk_features_ridge_options_init") { try initialise(options, featuresRidgeDefaults, "options") }
}

@_cdecl("ntk_features_ridge")
public func ntk_features_ridge(_ n: Int64, _ p: Int64, _ k: Int64,
                               _ s: UnsafePointer<Double>?, _ lds: Int64,
                               _ y: UnsafePointer<Double>?, _ ldy: Int64,
                               _ ridge: Double, _ optionsIn: UnsafePointer<ntk_features_ridge_options>?,
                               _ w: UnsafeMutablePointer<Double>?, _ ldw: Int64) -> Int32 {
    boundary("ntk_features_ridge") {
        let o = try options(optionsIn, defaults: featuresRidgeDefaults, "options")
        let (n, p, k) = (try size(n, "n"), try size(p, "p"), try size(k, "k"))
        try FeatureRidge.fit(s: try input(s, n, p, ld: lds, "S"), y: try input(y, n, k, ld: ldy, "Y"),
                             ridge: ridge, form: try featuresForm(o.form),
                             weights: try output(w, p, k, ld: ldw, "W"),
                             progress: progress(o.progress, o.progress_user))
    }
}

// MARK: spectral solver

@_cdecl("ntk_spectral_create")
public func ntk_spectral_create(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64,
                                _ policy: ntk_negative_eigenvalues,
                                _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_spectral_create") {
        let out = try required(out, "out")
        let n = try size(n, "n")
        let solver = try SpectralSolver(try input(k, n, n, ld: ldk, "K"),
                                        negativeEigenvalues: try negativePolicy(policy),
                                        progress: progress(callback, user))
        out.pointee = HandleRegistry.shared.register(solver)
    }
}

@_cdecl("ntk_spectral_info")
public func ntk_spectral_info(_ solver: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                              _ minRaw: UnsafeMutablePointer<Double>?, _ clamped: UnsafeMutablePointer<Int64>?,
                              _ nullCount: UnsafeMutablePointer<Int64>?,
                              _ cutoff: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_info") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        n?.pointee = Int64(solver.n)
        minRaw?.pointee = solver.minimumRawEigenvalue
        clamped?.pointee = Int64(solver.clampedCount)
        nullCount?.pointee = Int64(solver.nullCount)
        cutoff?.pointee = solver.cutoff
    }
}

@_cdecl("ntk_spectral_eigenvalues")
public func ntk_spectral_eigenvalues(_ solver: OpaquePointer?, _ w: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_eigenvalues") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let w = try outputVector(w, solver.n, "w")
        for (i, v) in solver.eigenvalues.enumerated() { w[i] = v }
    }
}

/// The filters of an `ntk_grid *` for `nTargets` target entries: `times` NULL means all +inf,
/// `ridges` NULL all 0.
func filterGrid(_ p: UnsafePointer<ntk_grid>?, _ nTargets: Int) throws -> [SpectralFilter] {
    let grid = try required(p, "grid")
    let count = try size(grid.count, "grid->count")
    // The grid is copied into Swift arrays: bound it before allocating (2^28 points is far
    // beyond any useful grid and keeps the copy under 2 GiB).
    guard count <= 1 << 28 else {
        throw NTKError(.tooLarge, "grid->count = \(count) grid points exceeds the limit 2^28")
    }
    _ = try SpectralFilter(learningRate: grid.learning_rate)  // checks it even for an empty grid
    let t = grid.times == nil ? [Double](repeating: .infinity, count: count)
        : try inputVector(grid.times, count, "grid->times")
    let z = grid.ridges == nil ? [Double](repeating: 0, count: count)
        : try inputVector(grid.ridges, count, "grid->ridges")
    return try (0..<count).map {
        try SpectralFilter(time: t[$0], ridge: z[$0], learningRate: grid.learning_rate, nTargets: max(nTargets, 1))
    }
}

@_cdecl("ntk_spectral_predict")
public func ntk_spectral_predict(_ solver: OpaquePointer?, _ targets: UnsafePointer<ntk_targets>?,
                                 _ grid: UnsafePointer<ntk_grid>?, _ test: UnsafePointer<ntk_test_kernel>?,
                                 _ predTrain: UnsafeMutablePointer<Double>?,
                                 _ predTest: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_predict") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let t = try NTKC.targets(targets, rows: solver.n)
        let testData = try optionalTestKernel(test, trainRows: solver.n, outputs: t.outputs)
        if predTest != nil && testData == nil { throw NTKError(.invalidArgument,
                                                               "pred_test needs test (a test kernel)") }
        let filters = try filterGrid(grid, try Sizes.product(solver.n, t.outputs, "n*k"))
        try solver.predict(targets: t, filters: filters, test: testData, trainOut: predTrain,
                           testOut: testData == nil ? nil : predTest)
    }
}

@_cdecl("ntk_spectral_dual_coefficients")
public func ntk_spectral_dual_coefficients(_ solver: OpaquePointer?, _ targets: UnsafePointer<ntk_targets>?,
                                           _ grid: UnsafePointer<ntk_grid>?,
                                           _ coef: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_dual_coefficients") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let t = try NTKC.targets(targets, rows: solver.n)
        let filters = try filterGrid(grid, try Sizes.product(solver.n, t.outputs, "n*k"))
        let each = try Sizes.product(solver.n, t.outputs, "n*k")
        let out = try outputVector(coef, try Sizes.product(filters.count, each, "count*n*k"), "coef")
        try solver.dualCoefficients(targets: t, filters: filters, into: out)
    }
}

@_cdecl("ntk_spectral_filters")
public func ntk_spectral_filters(_ solver: OpaquePointer?, _ grid: UnsafePointer<ntk_grid>?, _ nTargets: Int64,
                                 _ values: UnsafeMutablePointer<Double>?, _ shrinkage: UnsafeMutablePointer<Double>?,
                                 _ dof: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_filters") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let nTargets = try size(nTargets, "n_targets")
        guard nTargets >= 1 else { throw NTKError(.invalidArgument, "n_targets must be >= 1") }
        let filters = try filterGrid(grid, nTargets)
        _ = try Sizes.product(filters.count, solver.n, "filters x eigenvalues")
        solver.filterValues(filters, values: values, shrinkage: shrinkage, degreesOfFreedom: dof)
    }
}

@_cdecl("ntk_spectral_select_ridge")
public func ntk_spectral_select_ridge(_ solver: OpaquePointer?, _ targets: UnsafePointer<ntk_targets>?,
                                      _ count: Int64, _ ridges: UnsafePointer<Double>?,
                                      _ criterionIn: ntk_ridge_criterion,
                                      _ scores: UnsafeMutablePointer<Double>?,
                                      _ best: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_spectral_select_ridge") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let t = try NTKC.targets(targets, rows: solver.n)
        let rule = try criterion(criterionIn)
        let count = try size(count, "count")
        let grid = try inputVector(ridges, count, "ridges")
        let scoresOut = try outputVector(scores, count, "scores")
        let result = try solver.selectRidge(targets: t, ridges: grid, criterion: rule)
        for (i, s) in result.scores.enumerated() { scoresOut[i] = s }
        best?.pointee = Int64(result.index)
    }
}

@_cdecl("ntk_spectral_select_time")
public func ntk_spectral_select_time(_ solver: OpaquePointer?, _ targets: UnsafePointer<ntk_targets>?,
                                     _ ridge: Double, _ learningRate: Double,
                                     _ time: UnsafeMutablePointer<Double>?,
                                     _ score: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_select_time") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let t = try NTKC.targets(targets, rows: solver.n)
        let timeOut = try required(time, "time")
        let result = try solver.selectTime(targets: t, ridge: ridge, learningRate: learningRate)
        timeOut.pointee = result.time
        score?.pointee = result.score
    }
}

@_cdecl("ntk_spectral_max_learning_rate")
public func ntk_spectral_max_learning_rate(_ solver: OpaquePointer?, _ nTargets: Int64,
                                           _ eta: UnsafeMutablePointer<Double>?,
                                           _ lambdaMax: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_max_learning_rate") {
        let solver = try HandleRegistry.shared.lookup(solver, as: SpectralSolver.self, "solver")
        let rate = try solver.maxLearningRate(nTargets: try size(nTargets, "n_targets"))
        eta?.pointee = rate
        lambdaMax?.pointee = solver.maxEigenvalue
    }
}

@_cdecl("ntk_spectral_free")
public func ntk_spectral_free(_ solver: OpaquePointer?) { HandleRegistry.shared.release(solver) }

@_cdecl("ntk_max_learning_rate")
public func ntk_max_learning_rate(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64, _ nTargets: Int64,
                                  _ eta: UnsafeMutablePointer<Double>?, _ lambdaMax: UnsafeMutablePointer<Double>?,
                                  _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_max_learning_rate") {
        let n = try size(n, "n")
        let nTargets = try size(nTargets, "n_targets")
        guard nTargets >= 1 else { throw NTKError(.invalidArgument, "n_targets must be >= 1, got \(nTargets)") }
        let largest = try SymmetricEigen.largestEigenvalue(try input(k, n, n, ld: ldk, "K"),
                                                           progress: progress(callback, user))
        eta?.pointee = try SpectralSolver.maxLearningRate(lambdaMax: largest, nTargets: nTargets)
        lambdaMax?.pointee = largest
    }
}
