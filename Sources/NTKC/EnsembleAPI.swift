// The family of interpolators: ntk_ensemble_gradient_flow and ntk_gp_posterior.
import CNTK
import NTK

func ensembleRegime(_ r: ntk_ensemble_regime) throws -> EnsembleFlow.Regime {
    switch r {
    case NTK_REGIME_NTK: return .ntk
    case NTK_REGIME_NNGP: return .nngp
    default: throw invalid("options->regime", r.rawValue, "NTK_REGIME_NTK or NTK_REGIME_NNGP")
    }
}

func covarianceForm(_ c: ntk_covariance_form) throws -> EnsembleFlow.Covariance {
    switch c {
    case NTK_COVARIANCE_FULL: return .full
    case NTK_COVARIANCE_DIAGONAL: return .diagonal
    default: throw invalid("options->covariance", c.rawValue, "NTK_COVARIANCE_FULL or NTK_COVARIANCE_DIAGONAL")
    }
}

/// The defaults of `ntk_ensemble_options`, as `ntk_ensemble_options_init` writes them.
var ensembleDefaults: ntk_ensemble_options {
    ntk_ensemble_options(size: MemoryLayout<ntk_ensemble_options>.size, regime: NTK_REGIME_NTK, learning_rate: 1,
                         ridge: 0, progress: nil, progress_user: nil, covariance: NTK_COVARIANCE_FULL)
}

@_cdecl("ntk_ensemble_options_init")
public func ntk_ensemble_options_init(_ options: UnsafeMutablePointer<ntk_ensemble_options>?) -> Int32 {
    boundary("ntk_ensemble_options_init") { try initialise(options, ensembleDefaults, "options") }
}

@_cdecl("ntk_ensemble_gradient_flow")
public func ntk_ensemble_gradient_flow(_ n: Int64, _ nngpTrain: UnsafePointer<Double>?, _ ldNNGP: Int64,
                                       _ ntkTrain: UnsafePointer<Double>?, _ ldNTK: Int64,
                                       _ targets: UnsafePointer<ntk_targets>?,
                                       _ test: UnsafePointer<ntk_ensemble_test>?,
                                       _ count: Int64, _ times: UnsafePointer<Double>?,
                                       _ optionsIn: UnsafePointer<ntk_ensemble_options>?,
                                       _ mean: UnsafeMutablePointer<Double>?,
                                       _ cov: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_ensemble_gradient_flow") {
        let o = try options(optionsIn, defaults: ensembleDefaults, "options")
        let regime = try ensembleRegime(o.regime), form = try covarianceForm(o.covariance)
        let (n, count) = (try size(n, "n"), try size(count, "count"))
        let t = try NTKC.targets(targets, rows: n)
        guard t.offsets == nil else {
            throw NTKError(.invalidArgument,
                           "targets->f0 must be NULL: the ensemble starts from random networks (its mean offset is 0)")
        }
        let nngp = try input(nngpTrain, n, n, ld: ldNNGP, "nngp_train")
        let ntk = regime == .ntk ? try input(ntkTrain, n, n, ld: ldNTK, "ntk_train") : nil
        var testData: EnsembleFlow.Test?
        if let e = test?.pointee {
            let m = try size(e.m, "test->m")
            testData = EnsembleFlow.Test(
                nngpTestTrain: try input(e.nngp_test_train, m, n, ld: e.ld_nngp_test_train, "test->nngp_test_train"),
                ntkTestTrain: regime == .ntk ? try input(e.ntk_test_train, m, n, ld: e.ld_ntk_test_train,
                                                         "test->ntk_test_train") : nil,
                nngpTest: try input(e.nngp_test, m, form == .full ? m : 1, ld: e.ld_nngp_test, "test->nngp_test"))
        }
        let timeList = try inputVector(times, count, "times")
        // Arguments first, then the decomposition: a bad time fails before O(n³) work.
        for time in timeList where time.isNaN || time < 0 {
            throw NTKError(.invalidArgument, "times must be >= 0 (or INFINITY), got \(time)")
        }
        guard o.learning_rate.isFinite, o.learning_rate > 0 else {
            throw NTKError(.invalidArgument, "options->learning_rate must be > 0 and finite, got \(o.learning_rate)")
        }
        let flow = try EnsembleFlow(nngpTrain: nngp, ntkTrain: ntk, regime: regime, ridge: o.ridge,
                                    progress: progress(o.progress, o.progress_user))
        try flow.predict(y: t.y, times: timeList, learningRate: o.learning_rate, test: testData, meanOut: mean,
                         covariance: form, covOut: cov, progress: progress(o.progress, o.progress_user))
    }
}

/// The defaults of `ntk_gp_options`, as `ntk_gp_options_init` writes them.
var gpDefaults: ntk_gp_options {
    ntk_gp_options(size: MemoryLayout<ntk_gp_options>.size, ridge: 0, progress: nil, progress_user: nil)
}

@_cdecl("ntk_gp_options_init")
public func ntk_gp_options_init(_ options: UnsafeMutablePointer<ntk_gp_options>?) -> Int32 {
    boundary("ntk_gp_options_init") { try initialise(options, gpDefaults, "options") }
}

@_cdecl("ntk_gp_posterior")
public func ntk_gp_posterior(_ n: Int64, _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                             _ targets: UnsafePointer<ntk_targets>?, _ test: UnsafePointer<ntk_test_kernel>?,
                             _ kTest: UnsafePointer<Double>?, _ ldTest: Int64,
                             _ optionsIn: UnsafePointer<ntk_gp_options>?,
                             _ mean: UnsafeMutablePointer<Double>?, _ cov: UnsafeMutablePointer<Double>?,
                             _ logLikelihood: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_gp_posterior") {
        let o = try options(optionsIn, defaults: gpDefaults, "options")
        let n = try size(n, "n")
        let t = try NTKC.targets(targets, rows: n)
        let testData = try testKernel(try required(test, "test"), trainRows: n, outputs: t.outputs)
        let value = try GaussianProcess.posterior(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"), targets: t,
                                                  test: testData,
                                                  kTest: try input(kTest, testData.rows, testData.rows, ld: ldTest,
                                                                   "K_test"),
                                                  ridge: o.ridge, meanOut: mean, covOut: cov,
                                                  progress: progress(o.progress, o.progress_user))
        logLikelihood?.pointee = value
    }
}
