// The exported kernel-regression solvers: kernel ridge with offsets (a fitted handle), ridge on
// explicit features (primal/dual), and the spectral solver (gradient flow at any time, ridge
// paths, filters, ridge selection, critical learning rate). Validation and marshalling only.
import NTK

/// An optional input matrix: NULL means "absent".
func optionalInput(_ p: UnsafePointer<Double>?, _ rows: Int, _ cols: Int, ld: Int64, _ name: String) throws -> MatrixView? {
    guard p != nil else { return nil }
    return try input(p, rows, cols, ld: ld, name)
}

/// An optional output matrix: NULL means "not wanted".
func optionalOutput(_ p: UnsafeMutablePointer<Double>?, _ rows: Int, _ cols: Int, ld: Int64, _ name: String) throws -> MutableMatrixView? {
    guard p != nil else { return nil }
    return try output(p, rows, cols, ld: ld, name)
}

/// A required input vector of `count` doubles, as an array (at most 2^28 entries).
func inputVector(_ p: UnsafePointer<Double>?, _ count: Int, _ name: String) throws -> [Double] {
    if count == 0 { return [] }
    guard let p else { throw NTKError(.invalidArgument, "\(name) is NULL") }
    guard count <= 1 << 28 else { throw NTKError(.tooLarge, "\(name) has \(count) entries, beyond the limit 2^28") }
    return Array(UnsafeBufferPointer(start: p, count: count))
}

// MARK: kernel ridge

@_cdecl("ntk_kernel_ridge_fit")
public func ntk_kernel_ridge_fit(_ n: Int64, _ k: Int64,
                                 _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                                 _ y: UnsafePointer<Double>?, _ ldy: Int64,
                                 _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                 _ ridge: Double, _ flags: Int32, _ maxJitter: Double,
                                 _ callback: CProgress?, _ user: UnsafeMutableRawPointer?,
                                 _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_kernel_ridge_fit") {
        let out = try outPointer(out, "out")
        let (n, k) = (try size(n, "n"), try size(k, "k"))
        guard flags & ~1 == 0 else { throw NTKError(.invalidArgument, "unknown flags \(flags); only NTK_RIDGE_RELATIVE is defined") }
        let model = try KernelRidge(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"),
                                    y: try input(y, n, k, ld: ldy, "Y"),
                                    f0Train: try optionalInput(f0, n, k, ld: ldf0, "f0_train"),
                                    ridge: ridge, ridgeRelative: flags & 1 != 0, maxJitter: maxJitter,
                                    progress: progress(callback, user))
        out.pointee = HandleRegistry.shared.register(model)
    }
}

@_cdecl("ntk_kernel_ridge_predict")
public func ntk_kernel_ridge_predict(_ handle: OpaquePointer?, _ m: Int64,
                                     _ kTest: UnsafePointer<Double>?, _ ldkt: Int64,
                                     _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                     _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_predict") {
        let model = try HandleRegistry.shared.lookup(handle, as: KernelRidge.self, "model")
        let m = try size(m, "m")
        try model.predict(kTestTrain: try input(kTest, m, model.n, ld: ldkt, "K_test_train"),
                          f0Test: try optionalInput(f0, m, model.outputs, ld: ldf0, "f0_test"),
                          into: try output(pred, m, model.outputs, ld: ldp, "pred"))
    }
}

@_cdecl("ntk_kernel_ridge_train_predictions")
public func ntk_kernel_ridge_train_predictions(_ handle: OpaquePointer?, _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_train_predictions") {
        let model = try HandleRegistry.shared.lookup(handle, as: KernelRidge.self, "model")
        try model.copyTrainPredictions(into: try output(pred, model.n, model.outputs, ld: ldp, "pred"))
    }
}

@_cdecl("ntk_kernel_ridge_dual_coefficients")
public func ntk_kernel_ridge_dual_coefficients(_ handle: OpaquePointer?, _ alpha: UnsafeMutablePointer<Double>?, _ lda: Int64) -> Int32 {
    boundary("ntk_kernel_ridge_dual_coefficients") {
        let model = try HandleRegistry.shared.lookup(handle, as: KernelRidge.self, "model")
        try model.copyDualCoefficients(into: try output(alpha, model.n, model.outputs, ld: lda, "alpha"))
    }
}

@_cdecl("ntk_kernel_ridge_info")
public func ntk_kernel_ridge_info(_ handle: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?, _ k: UnsafeMutablePointer<Int64>?,
                                  _ ridge: UnsafeMutablePointer<Double>?, _ jitter: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_ridge_info") {
        let model = try HandleRegistry.shared.lookup(handle, as: KernelRidge.self, "model")
        n?.pointee = Int64(model.n)
        k?.pointee = Int64(model.outputs)
        ridge?.pointee = model.ridge
        jitter?.pointee = model.jitter
    }
}

@_cdecl("ntk_kernel_ridge_free")
public func ntk_kernel_ridge_free(_ handle: OpaquePointer?) { HandleRegistry.shared.release(handle) }

// MARK: features ridge

@_cdecl("ntk_features_ridge")
public func ntk_features_ridge(_ n: Int64, _ p: Int64, _ k: Int64,
                               _ s: UnsafePointer<Double>?, _ lds: Int64,
                               _ y: UnsafePointer<Double>?, _ ldy: Int64,
                               _ ridge: Double, _ form: Int32,
                               _ m: Int64, _ sTest: UnsafePointer<Double>?, _ ldst: Int64,
                               _ weights: UnsafeMutablePointer<Double>?, _ ldw: Int64,
                               _ predTrain: UnsafeMutablePointer<Double>?, _ ldpt: Int64,
                               _ predTest: UnsafeMutablePointer<Double>?, _ ldpe: Int64,
                               _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_features_ridge") {
        let (n, p, k, m) = (try size(n, "n"), try size(p, "p"), try size(k, "k"), try size(m, "m"))
        guard let form = FeatureRidge.Form(rawValue: form) else {
            throw NTKError(.invalidArgument, "form must be NTK_FORM_AUTO, NTK_FORM_PRIMAL or NTK_FORM_DUAL, got \(form)")
        }
        try FeatureRidge.fit(s: try input(s, n, p, ld: lds, "S"), y: try input(y, n, k, ld: ldy, "Y"),
                             ridge: ridge, form: form,
                             sTest: try optionalInput(sTest, m, p, ld: ldst, "S_test"),
                             weights: try optionalOutput(weights, p, k, ld: ldw, "weights"),
                             trainOut: try optionalOutput(predTrain, n, k, ld: ldpt, "pred_train"),
                             testOut: try optionalOutput(predTest, m, k, ld: ldpe, "pred_test"),
                             progress: progress(callback, user))
    }
}

// MARK: spectral solver

@_cdecl("ntk_spectral_create")
public func ntk_spectral_create(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64, _ policy: Int32,
                                _ callback: CProgress?, _ user: UnsafeMutableRawPointer?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_spectral_create") {
        let out = try outPointer(out, "out")
        let n = try size(n, "n")
        guard let policy = SpectralSolver.NegativeEigenvaluePolicy(rawValue: policy) else {
            throw NTKError(.invalidArgument, "negative_policy must be NTK_NEGATIVE_CLAMP or NTK_NEGATIVE_ERROR, got \(policy)")
        }
        let solver = try SpectralSolver(try input(k, n, n, ld: ldk, "K"), negativeEigenvalues: policy,
                                        progress: progress(callback, user))
        out.pointee = HandleRegistry.shared.register(solver)
    }
}

@_cdecl("ntk_spectral_info")
public func ntk_spectral_info(_ handle: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?,
                              _ minRaw: UnsafeMutablePointer<Double>?, _ clamped: UnsafeMutablePointer<Int64>?,
                              _ nullCount: UnsafeMutablePointer<Int64>?, _ cutoff: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_info") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        n?.pointee = Int64(solver.n)
        minRaw?.pointee = solver.minimumRawEigenvalue
        clamped?.pointee = Int64(solver.clampedCount)
        nullCount?.pointee = Int64(solver.nullCount)
        cutoff?.pointee = solver.cutoff
    }
}

@_cdecl("ntk_spectral_eigenvalues")
public func ntk_spectral_eigenvalues(_ handle: OpaquePointer?, _ w: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_eigenvalues") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let w = try outputVector(w, solver.n, "w")
        for (i, v) in solver.eigenvalues.enumerated() { w[i] = v }
    }
}

/// The filter grid of a C call: `times` (NULL: all +inf) and `ridges` (NULL: all 0).
func filterGrid(_ count: Int64, _ times: UnsafePointer<Double>?, _ ridges: UnsafePointer<Double>?,
                _ learningRate: Double, _ nTargets: Int) throws -> [SpectralFilter] {
    let count = try size(count, "count")
    // The grid is copied into Swift arrays: bound it before allocating (2^28 points is far
    // beyond any useful grid and keeps the copy under 2 GiB).
    guard count <= 1 << 28 else { throw NTKError(.tooLarge, "count = \(count) grid points exceeds the limit 2^28") }
    let t = times == nil ? [Double](repeating: .infinity, count: count) : try inputVector(times, count, "times")
    let z = ridges == nil ? [Double](repeating: 0, count: count) : try inputVector(ridges, count, "ridges")
    return try (0..<count).map {
        try SpectralFilter(time: t[$0], ridge: z[$0], learningRate: learningRate, nTargets: max(nTargets, 1))
    }
}

@_cdecl("ntk_spectral_predict")
public func ntk_spectral_predict(_ handle: OpaquePointer?, _ k: Int64,
                                 _ y: UnsafePointer<Double>?, _ ldy: Int64,
                                 _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                 _ count: Int64, _ times: UnsafePointer<Double>?, _ ridges: UnsafePointer<Double>?,
                                 _ learningRate: Double,
                                 _ m: Int64, _ kTest: UnsafePointer<Double>?, _ ldkt: Int64,
                                 _ f0Test: UnsafePointer<Double>?, _ ldf0t: Int64,
                                 _ predTrain: UnsafeMutablePointer<Double>?, _ predTest: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_predict") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let (k, m) = (try size(k, "k"), try size(m, "m"))
        let n = solver.n
        let filters = try filterGrid(count, times, ridges, learningRate, try Sizes.product(n, k, "n·k"))
        let kt = try optionalInput(kTest, m, n, ld: ldkt, "K_test_train")
        if predTest != nil && kt == nil { throw NTKError(.invalidArgument, "pred_test needs K_test_train") }
        try solver.predict(y: try input(y, n, k, ld: ldy, "Y"),
                           f0Train: try optionalInput(f0, n, k, ld: ldf0, "f0_train"),
                           filters: filters, kTestTrain: kt,
                           f0Test: try optionalInput(f0Test, m, k, ld: ldf0t, "f0_test"),
                           trainOut: predTrain, testOut: kt == nil ? nil : predTest)
    }
}

@_cdecl("ntk_spectral_dual_coefficients")
public func ntk_spectral_dual_coefficients(_ handle: OpaquePointer?, _ k: Int64,
                                           _ y: UnsafePointer<Double>?, _ ldy: Int64,
                                           _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                           _ time: Double, _ ridge: Double, _ learningRate: Double,
                                           _ coef: UnsafeMutablePointer<Double>?, _ ldc: Int64) -> Int32 {
    boundary("ntk_spectral_dual_coefficients") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let k = try size(k, "k")
        let n = solver.n
        let filter = try solver.filter(time: time, ridge: ridge, learningRate: learningRate, outputs: k)
        try solver.dualCoefficients(y: try input(y, n, k, ld: ldy, "Y"),
                                    f0Train: try optionalInput(f0, n, k, ld: ldf0, "f0_train"),
                                    filter: filter, into: try output(coef, n, k, ld: ldc, "coef"))
    }
}

@_cdecl("ntk_spectral_filters")
public func ntk_spectral_filters(_ handle: OpaquePointer?, _ count: Int64,
                                 _ times: UnsafePointer<Double>?, _ ridges: UnsafePointer<Double>?,
                                 _ learningRate: Double, _ nTargets: Int64,
                                 _ values: UnsafeMutablePointer<Double>?, _ shrinkage: UnsafeMutablePointer<Double>?,
                                 _ dof: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_filters") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let nTargets = try size(nTargets, "n_targets")
        guard nTargets >= 1 else { throw NTKError(.invalidArgument, "n_targets must be ≥ 1") }
        let filters = try filterGrid(count, times, ridges, learningRate, nTargets)
        _ = try Sizes.product(filters.count, solver.n, "filters × eigenvalues")
        solver.filterValues(filters, values: values, shrinkage: shrinkage, degreesOfFreedom: dof)
    }
}

@_cdecl("ntk_spectral_select_ridge")
public func ntk_spectral_select_ridge(_ handle: OpaquePointer?, _ k: Int64,
                                      _ y: UnsafePointer<Double>?, _ ldy: Int64,
                                      _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                      _ count: Int64, _ ridges: UnsafePointer<Double>?, _ criterion: Int32,
                                      _ scores: UnsafeMutablePointer<Double>?, _ best: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_spectral_select_ridge") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let k = try size(k, "k")
        guard let criterion = SpectralSolver.SelectionCriterion(rawValue: criterion) else {
            throw NTKError(.invalidArgument, "criterion must be NTK_CRITERION_GCV or NTK_CRITERION_LOO, got \(criterion)")
        }
        let count = try size(count, "count")
        let grid = try inputVector(ridges, count, "ridges")
        let scoresOut = try outputVector(scores, count, "scores")
        let result = try solver.selectRidge(y: try input(y, solver.n, k, ld: ldy, "Y"),
                                            f0Train: try optionalInput(f0, solver.n, k, ld: ldf0, "f0_train"),
                                            ridges: grid, criterion: criterion)
        for (i, s) in result.scores.enumerated() { scoresOut[i] = s }
        best?.pointee = Int64(result.best)
    }
}

@_cdecl("ntk_spectral_max_learning_rate")
public func ntk_spectral_max_learning_rate(_ handle: OpaquePointer?, _ nTargets: Int64,
                                           _ eta: UnsafeMutablePointer<Double>?, _ lambdaMax: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_spectral_max_learning_rate") {
        let solver = try HandleRegistry.shared.lookup(handle, as: SpectralSolver.self, "solver")
        let rate = try solver.maxLearningRate(nTargets: try size(nTargets, "n_targets"))
        eta?.pointee = rate
        lambdaMax?.pointee = solver.maxEigenvalue
    }
}

@_cdecl("ntk_spectral_free")
public func ntk_spectral_free(_ handle: OpaquePointer?) { HandleRegistry.shared.release(handle) }

@_cdecl("ntk_max_learning_rate")
public func ntk_max_learning_rate(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64, _ nTargets: Int64,
                                  _ eta: UnsafeMutablePointer<Double>?, _ lambdaMax: UnsafeMutablePointer<Double>?,
                                  _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_max_learning_rate") {
        let n = try size(n, "n")
        let nTargets = try size(nTargets, "n_targets")
        guard nTargets >= 1 else { throw NTKError(.invalidArgument, "n_targets must be ≥ 1, got \(nTargets)") }
        let largest = try SymmetricEigen.largestEigenvalue(try input(k, n, n, ld: ldk, "K"), progress: progress(callback, user))
        eta?.pointee = try SpectralSolver.maxLearningRate(lambdaMax: largest, nTargets: nTargets)
        lambdaMax?.pointee = largest
    }
}
