// The exported kernel-tuning entry points: exact derivatives of the infinite-width kernels with
// respect to W_std, b_std and the input scales, their contraction with a weight matrix, and the
// LML / GCV / LOO objectives with gradients. Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_kernel_hyperparameters`, as `ntk_kernel_hyperparameters_init` writes them.
var hyperparameterDefaults: ntk_kernel_hyperparameters {
    ntk_kernel_hyperparameters(size: MemoryLayout<ntk_kernel_hyperparameters>.size, w_std: 1, b_std: 0,
                               input_scales: nil, ridge: 0.01, amplitude: 1)
}

@_cdecl("ntk_kernel_hyperparameters_init")
public func ntk_kernel_hyperparameters_init(_ hyper: UnsafeMutablePointer<ntk_kernel_hyperparameters>?) -> Int32 {
    boundary("ntk_kernel_hyperparameters_init") { try initialise(hyper, hyperparameterDefaults, "hyper") }
}

/// The core's hyperparameters: NULL means the architecture's W_std and b_std with scales 1.
func hyperparameters(_ p: UnsafePointer<ntk_kernel_hyperparameters>?,
                     _ a: MLPArchitecture) throws -> KernelHyperparameters {
    try hyperparametersAndObjective(p, a).kernel
}

/// The kernel's hyperparameters and the objective's ridge and amplitude (NULL: the defaults
/// with the architecture's W_std and b_std).
func hyperparametersAndObjective(_ p: UnsafePointer<ntk_kernel_hyperparameters>?, _ a: MLPArchitecture) throws
    -> (kernel: KernelHyperparameters, ridge: Double, amplitude: Double) {
    guard p != nil else {
        return (KernelHyperparameters(weightStd: a.weightStd, biasStd: a.biasStd,
                                      inputScales: Array(repeating: 1, count: a.inputDimension)),
                hyperparameterDefaults.ridge, hyperparameterDefaults.amplitude)
    }
    let h = try options(p, defaults: hyperparameterDefaults, "hyper")
    let scales = h.input_scales.map { Array(UnsafeBufferPointer(start: $0, count: a.inputDimension)) }
    for (name, v) in [("hyper->w_std", h.w_std), ("hyper->b_std", h.b_std)] where !(v.isFinite && v >= 0) {
        throw NTKError(.invalidArgument, "\(name) must be finite and >= 0, got \(v)")
    }
    return (KernelHyperparameters(weightStd: h.w_std, biasStd: h.b_std,
                                  inputScales: scales ?? Array(repeating: 1, count: a.inputDimension)),
            h.ridge, h.amplitude)
}

@_cdecl("ntk_infinite_width_gradient")
public func ntk_infinite_width_gradient(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                        _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                        _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
                                        _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                        _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64,
                                        _ dk: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_infinite_width_gradient") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let kind = try kernelKind(kind, "kind")
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        let n = try size(n, "n")
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let h = try hyperparameters(hyper, a)
        let count = try Sizes.product(try Sizes.product(n, n, "n*n"), h.count, "p*n*n")
        try KernelGradient.derivatives(a, kind: kind, xv, h, kernel: try optionalOutput(kernel, n, n, ld: ldk, "K"),
                                       derivatives: try outputVector(dk, count, "dK"),
                                       points: try quadraturePoints(o), progress: progress(o.progress, o.progress_user))
    }
}

@_cdecl("ntk_infinite_width_gradient_contract")
public func ntk_infinite_width_gradient_contract(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                                 _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                                 _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
                                                 _ g: UnsafePointer<Double>?, _ ldg: Int64,
                                                 _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                                 _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_infinite_width_gradient_contract") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let kind = try kernelKind(kind, "kind")
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        let n = try size(n, "n")
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let gv = try input(g, n, n, ld: ldg, "G")
        let h = try hyperparameters(hyper, a)
        let out = try outputVector(gradient, h.count, "gradient")
        let result = try KernelGradient.contract(a, kind: kind, xv, h, weights: gv, points: try quadraturePoints(o),
                                                 progress: progress(o.progress, o.progress_user))
        out.update(from: result, count: result.count)
    }
}

/// The core's criterion for a C enum value.
func tuningCriterion(_ c: ntk_tuning_criterion) throws -> TuningCriterion {
    switch c {
    case NTK_TUNING_LML: return .logMarginalLikelihood
    case NTK_TUNING_GCV: return .gcv
    case NTK_TUNING_LOO: return .leaveOneOut
    default: throw invalid("criterion", c.rawValue, "NTK_TUNING_LML, NTK_TUNING_GCV or NTK_TUNING_LOO")
    }
}

@_cdecl("ntk_kernel_objective")
public func ntk_kernel_objective(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                 _ x: UnsafePointer<Double>?, _ ldx: Int64, _ targetsIn: UnsafePointer<ntk_targets>?,
                                 _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
                                 _ criterion: ntk_tuning_criterion,
                                 _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                 _ value: UnsafeMutablePointer<Double>?,
                                 _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_objective") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let kind = try kernelKind(kind, "kind")
        let criterion = try tuningCriterion(criterion)
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        let n = try size(n, "n")
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let t = try targets(targetsIn, rows: n)
        let (h, ridge, amplitude) = try hyperparametersAndObjective(hyper, a)
        let valueOut = try required(value, "value")
        let (v, g) = try KernelObjective.evaluate(a, kind: kind, xv, targets: t, hyper: h, ridge: ridge,
                                                  amplitude: amplitude, criterion: criterion,
                                                  points: try quadraturePoints(o),
                                                  progress: progress(o.progress, o.progress_user))
        valueOut.pointee = v
        gradient?.update(from: g, count: g.count)
    }
}

@_cdecl("ntk_kernel_objective_nystrom")
public func ntk_kernel_objective_nystrom(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                         _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                         _ centersIn: UnsafePointer<ntk_points>?,
                                         _ targetsIn: UnsafePointer<ntk_targets>?,
                                         _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
                                         _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                         _ value: UnsafeMutablePointer<Double>?,
                                         _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_objective_nystrom") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let kind = try kernelKind(kind, "kind")
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        let n = try size(n, "n")
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let (centers, offsets) = try points(centersIn, d: a.inputDimension, k: 1, "centers")
        guard offsets == nil else {
            throw NTKError(.invalidArgument, "centers->f0 must be NULL (centres have no offsets)")
        }
        let t = try targets(targetsIn, rows: n)
        let (h, ridge, amplitude) = try hyperparametersAndObjective(hyper, a)
        let valueOut = try required(value, "value")
        let (v, g) = try KernelObjective.nystromGCV(a, kind: kind, xv, centers: centers, targets: t, hyper: h,
                                                    ridge: ridge, amplitude: amplitude, points: try quadraturePoints(o),
                                                    progress: progress(o.progress, o.progress_user))
        valueOut.pointee = v
        gradient?.update(from: g, count: g.count)
    }
}
