// The exported kernel-tuning entry points: exact derivatives of the infinite-width kernels with
// respect to W_std, b_std and the input scales, their contraction with a weight matrix, and the
// LML / GCV / LOO objectives (dense, and GCV for Nyström) with gradients. Validation and
// marshalling only.
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

/// What every tuning entry point reads first, validated: the architecture of `mlp`, the kernel,
/// the n rows X, the hyperparameters (NULL: the architecture's W_std and b_std, scales 1 and the
/// default ridge and amplitude) and the options' quadrature points and progress.
struct TuningArguments {
    let architecture: MLPArchitecture
    let kind: InfiniteWidthPointKernel.Kind
    let n: Int
    let x: MatrixView
    let hyper: KernelHyperparameters
    /// The objectives' ridge z and amplitude a (checked by the core).
    let ridge: Double, amplitude: Double
    let points: Int
    let progress: ProgressHandler

    init(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
         _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
         _ optionsIn: UnsafePointer<ntk_infinite_width_options>?) throws {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        architecture = a
        self.kind = try kernelKind(kind, "kind")
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        points = try quadraturePoints(o)
        progress = NTKC.progress(o.progress, o.progress_user)
        self.n = try size(n, "n")
        self.x = try input(x, self.n, a.inputDimension, ld: ldx, "X")
        let h = hyper == nil ? nil : try options(hyper, defaults: hyperparameterDefaults, "hyper")
        for (name, v) in [("hyper->w_std", h?.w_std ?? 0), ("hyper->b_std", h?.b_std ?? 0)]
        where !(v.isFinite && v >= 0) {
            throw NTKError(.invalidArgument, "\(name) must be finite and >= 0, got \(v)")
        }
        let scales = h?.input_scales.map { Array(UnsafeBufferPointer(start: $0, count: a.inputDimension)) }
        self.hyper = KernelHyperparameters(weightStd: h?.w_std ?? a.weightStd, biasStd: h?.b_std ?? a.biasStd,
                                           inputScales: scales ?? Array(repeating: 1, count: a.inputDimension))
        ridge = (h ?? hyperparameterDefaults).ridge
        amplitude = (h ?? hyperparameterDefaults).amplitude
    }

    /// An objective's value into `*value` (required) and its gradient into `gradient` (may be NULL).
    static func write(_ result: (value: Double, gradient: [Double]), _ value: UnsafeMutablePointer<Double>?,
                      _ gradient: UnsafeMutablePointer<Double>?) {
        value?.pointee = result.value
        gradient?.update(from: result.gradient, count: result.gradient.count)
    }
}

@_cdecl("ntk_infinite_width_gradient")
public func ntk_infinite_width_gradient(_ mlp: OpaquePointer?, _ kind: ntk_kernel_kind, _ n: Int64,
                                        _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                        _ hyper: UnsafePointer<ntk_kernel_hyperparameters>?,
                                        _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                        _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64,
                                        _ dk: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_infinite_width_gradient") {
        let t = try TuningArguments(mlp, kind, n, x, ldx, hyper, optionsIn)
        let count = try Sizes.product(try Sizes.product(t.n, t.n, "n*n"), t.hyper.count, "p*n*n")
        try KernelGradient.derivatives(t.architecture, kind: t.kind, t.x, t.hyper,
                                       kernel: try optionalOutput(kernel, t.n, t.n, ld: ldk, "K"),
                                       derivatives: try outputVector(dk, count, "dK"), points: t.points,
                                       progress: t.progress)
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
        let t = try TuningArguments(mlp, kind, n, x, ldx, hyper, optionsIn)
        let gv = try input(g, t.n, t.n, ld: ldg, "G")
        let out = try outputVector(gradient, t.hyper.count, "gradient")
        let result = try KernelGradient.contract(t.architecture, kind: t.kind, t.x, t.hyper, weights: gv,
                                                 points: t.points, progress: t.progress)
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
        let t = try TuningArguments(mlp, kind, n, x, ldx, hyper, optionsIn)
        let criterion = try tuningCriterion(criterion)
        let targets = try NTKC.targets(targetsIn, rows: t.n)
        _ = try required(value, "value")
        TuningArguments.write(try KernelObjective.evaluate(t.architecture, kind: t.kind, t.x, targets: targets,
                                                           hyper: t.hyper, ridge: t.ridge, amplitude: t.amplitude,
                                                           criterion: criterion, points: t.points,
                                                           progress: t.progress), value, gradient)
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
        let t = try TuningArguments(mlp, kind, n, x, ldx, hyper, optionsIn)
        let centers = try centerPoints(centersIn, d: t.architecture.inputDimension)
        let targets = try NTKC.targets(targetsIn, rows: t.n)
        _ = try required(value, "value")
        TuningArguments.write(try KernelObjective.nystromGCV(t.architecture, kind: t.kind, t.x, centers: centers,
                                                             targets: targets, hyper: t.hyper, ridge: t.ridge,
                                                             amplitude: t.amplitude, points: t.points,
                                                             progress: t.progress), value, gradient)
    }
}
