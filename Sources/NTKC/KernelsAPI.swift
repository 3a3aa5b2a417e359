// The exported kernels of networks: the empirical NTK of an MLP (structured or by Jacobian
// contraction, three output forms, double or single precision, diagonal), the tangent kernel of
// any model from its Jacobian, and the infinite-width NNGP and NTK of the same architectures
// (double or single precision).
// Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_empirical_ntk_options`, as `ntk_empirical_ntk_options_init` writes them.
var empiricalDefaults: ntk_empirical_ntk_options {
    ntk_empirical_ntk_options(
        size: MemoryLayout<ntk_empirical_ntk_options>.size, method: NTK_METHOD_STRUCTURED, memory_limit: 0,
        progress: nil, progress_user: nil)
}

@_cdecl("ntk_empirical_ntk_options_init")
public func ntk_empirical_ntk_options_init(_ options: UnsafeMutablePointer<ntk_empirical_ntk_options>?) -> Int32 {
    boundary("ntk_empirical_ntk_options_init") { try initialise(options, empiricalDefaults, "options") }
}

@_cdecl("ntk_empirical_ntk")
public func ntk_empirical_ntk(_ mlp: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?, _ ld1: Int64,
                              _ n2: Int64, _ x2: UnsafePointer<Double>?, _ ld2: Int64,
                              _ outputIn: ntk_output_form, _ optionsIn: UnsafePointer<ntk_empirical_ntk_options>?,
                              _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64) -> Int32 {
    boundary("ntk_empirical_ntk") {
        let c = try EmpiricalCall(mlp, n1, x1, ld1, n2, x2, ld2, outputIn, optionsIn, kernel, ldk)
        try EmpiricalKernel.compute(c.mlp, c.x1, c.x2, output: c.form, method: c.method, into: c.kernel,
                                    memoryLimit: c.limit, progress: c.progress)
    }
}

@_cdecl("ntk_empirical_ntk_f32")
public func ntk_empirical_ntk_f32(_ mlp: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Float>?, _ ld1: Int64,
                                  _ n2: Int64, _ x2: UnsafePointer<Float>?, _ ld2: Int64,
                                  _ outputIn: ntk_output_form,
                                  _ optionsIn: UnsafePointer<ntk_empirical_ntk_options>?,
                                  _ kernel: UnsafeMutablePointer<Float>?, _ ldk: Int64) -> Int32 {
    boundary("ntk_empirical_ntk_f32") {
        let c = try EmpiricalCall(mlp, n1, x1, ld1, n2, x2, ld2, outputIn, optionsIn, kernel, ldk)
        try EmpiricalKernel.compute(c.mlp, c.x1, c.x2, output: c.form, method: c.method, into: c.kernel,
                                    memoryLimit: c.limit, progress: c.progress)
    }
}

/// The validated arguments of `ntk_empirical_ntk` (doubles) and `ntk_empirical_ntk_f32` (floats).
private struct EmpiricalCall<S> {
    let mlp: MLP
    let x1: RowMajorView<S>, x2: RowMajorView<S>?
    let kernel: MutableRowMajorView<S>
    let form: EmpiricalKernel.Output, method: EmpiricalKernel.Method
    let limit: Int?
    let progress: ProgressHandler

    init(_ handle: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<S>?, _ ld1: Int64, _ n2: Int64,
         _ x2: UnsafePointer<S>?, _ ld2: Int64, _ outputIn: ntk_output_form,
         _ optionsIn: UnsafePointer<ntk_empirical_ntk_options>?, _ kernel: UnsafeMutablePointer<S>?,
         _ ldk: Int64) throws {
        mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture
        let o = try options(optionsIn, defaults: empiricalDefaults, "options")
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        form = try outputForm(outputIn)
        method = try kernelMethod(o.method)
        limit = try memoryLimitOption(o.memory_limit)
        self.x1 = try input(x1, n1, a.inputDimension, ld: ld1, "X1")
        self.x2 = try secondSet(x2, n1: n1, n2: n2, d: a.inputDimension, ld: ld2)
        let cols = try Sizes.product(n2, form.entries(a.outputDimension), "n2*e")
        self.kernel = try output(kernel, n1, cols, ld: ldk, "K")
        progress = NTKC.progress(o.progress, o.progress_user)
    }
}

@_cdecl("ntk_empirical_ntk_diagonal")
public func ntk_empirical_ntk_diagonal(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                       _ outputIn: ntk_output_form, _ diag: UnsafeMutablePointer<Double>?,
                                       _ ldd: Int64) -> Int32 {
    boundary("ntk_empirical_ntk_diagonal") {
        let mlp = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        let form = try outputForm(outputIn)
        guard form != .full else {
            throw NTKError(.invalidArgument, "output must be NTK_OUTPUT_MEAN or NTK_OUTPUT_PER_OUTPUT for the diagonal")
        }
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        try EmpiricalKernel.diagonal(mlp, xv, output: form,
                                     into: try output(diag, n, form.entries(a.outputDimension), ld: ldd, "diag"))
    }
}

@_cdecl("ntk_jacobian_ntk")
public func ntk_jacobian_ntk(_ n1: Int64, _ n2: Int64, _ k: Int64, _ p: Int64,
                             _ j1: UnsafePointer<Double>?, _ j2: UnsafePointer<Double>?,
                             _ outputIn: ntk_output_form, _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64,
                             _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_jacobian_ntk") {
        let (n1, n2, k, p) = (try size(n1, "n1"), try size(n2, "n2"), try size(k, "k"), try size(p, "p"))
        let form = try outputForm(outputIn)
        guard k >= 1 else { throw NTKError(.invalidArgument, "k must be >= 1") }
        let width = try Sizes.product(k, p, "k*p")
        let a = try input(j1, n1, width, ld: Int64(max(width, 1)), "J1")
        let b = try j2.map { try input($0, n2, width, ld: Int64(max(width, 1)), "J2") }
        if j2 == nil && n2 != n1 {
            throw NTKError(.dimensionMismatch,
                           "J2 is NULL (the kernel of J1 with itself) so n2 must equal n1 = \(n1), got \(n2)")
        }
        let cols = try Sizes.product(n2, form.entries(k), "n2*e")
        try JacobianKernel.compute(a.base, n1: n1, b?.base, n2: n2, outputs: k, parameters: p, output: form,
                                   into: try output(kernel, n1, cols, ld: ldk, "K"), progress: progress(callback, user))
    }
}

// MARK: infinite width

/// The defaults of `ntk_infinite_width_options`, as `ntk_infinite_width_options_init` writes them.
var infiniteWidthDefaults: ntk_infinite_width_options {
    ntk_infinite_width_options(
        size: MemoryLayout<ntk_infinite_width_options>.size, quadrature_points: 0, progress: nil, progress_user: nil)
}

/// The infinite-width options' quadrature points, checked.
func quadraturePoints(_ o: ntk_infinite_width_options) throws -> Int {
    guard o.quadrature_points >= 0, o.quadrature_points <= 64 else {
        throw NTKError(.invalidArgument,
                       "options->quadrature_points must be in 0...64 (0: automatic), got \(o.quadrature_points)")
    }
    return Int(o.quadrature_points)
}

@_cdecl("ntk_infinite_width_options_init")
public func ntk_infinite_width_options_init(_ options: UnsafeMutablePointer<ntk_infinite_width_options>?) -> Int32 {
    boundary("ntk_infinite_width_options_init") { try initialise(options, infiniteWidthDefaults, "options") }
}

@_cdecl("ntk_infinite_width_kernels")
public func ntk_infinite_width_kernels(_ mlp: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?, _ ld1: Int64,
                                       _ n2: Int64, _ x2: UnsafePointer<Double>?, _ ld2: Int64,
                                       _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                       _ nngp: UnsafeMutablePointer<Double>?, _ ldNNGP: Int64,
                                       _ ntk: UnsafeMutablePointer<Double>?, _ ldNTK: Int64) -> Int32 {
    boundary("ntk_infinite_width_kernels") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let c = try InfiniteWidthCall(a.inputDimension, n1, x1, ld1, n2, x2, ld2, optionsIn, nngp, ldNNGP, ntk, ldNTK)
        try InfiniteWidthKernel.compute(a, c.x1, c.x2, nngp: c.nngp, ntk: c.ntk, points: c.points,
                                        progress: c.progress)
    }
}

@_cdecl("ntk_infinite_width_kernels_f32")
public func ntk_infinite_width_kernels_f32(_ mlp: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Float>?,
                                           _ ld1: Int64, _ n2: Int64, _ x2: UnsafePointer<Float>?, _ ld2: Int64,
                                           _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
                                           _ nngp: UnsafeMutablePointer<Float>?, _ ldNNGP: Int64,
                                           _ ntk: UnsafeMutablePointer<Float>?, _ ldNTK: Int64) -> Int32 {
    boundary("ntk_infinite_width_kernels_f32") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let c = try InfiniteWidthCall(a.inputDimension, n1, x1, ld1, n2, x2, ld2, optionsIn, nngp, ldNNGP, ntk, ldNTK)
        try InfiniteWidthKernel.compute(a, c.x1, c.x2, nngp: c.nngp, ntk: c.ntk, points: c.points,
                                        progress: c.progress)
    }
}

/// The validated arguments of the infinite-width kernel entry points (MLP and network, double
/// and single precision) for inputs of `d` columns. The entry points call the public
/// non-generic `compute` of their precision: a generic call across the module boundary would
/// run unspecialised.
struct InfiniteWidthCall<S> {
    let x1: RowMajorView<S>, x2: RowMajorView<S>?
    let nngp: MutableRowMajorView<S>?, ntk: MutableRowMajorView<S>?
    let points: Int
    let progress: ProgressHandler

    init(_ d: Int, _ n1: Int64, _ x1: UnsafePointer<S>?, _ ld1: Int64, _ n2: Int64, _ x2: UnsafePointer<S>?,
         _ ld2: Int64, _ optionsIn: UnsafePointer<ntk_infinite_width_options>?, _ nngp: UnsafeMutablePointer<S>?,
         _ ldNNGP: Int64, _ ntk: UnsafeMutablePointer<S>?, _ ldNTK: Int64) throws {
        let o = try options(optionsIn, defaults: infiniteWidthDefaults, "options")
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        self.x1 = try input(x1, n1, d, ld: ld1, "X1")
        self.x2 = try secondSet(x2, n1: n1, n2: n2, d: d, ld: ld2)
        if nngp == nil && ntk == nil {
            throw NTKError(.invalidArgument, "K_nngp and K_ntk are both NULL: nothing to compute")
        }
        self.nngp = try optionalOutput(nngp, n1, n2, ld: ldNNGP, "K_nngp")
        self.ntk = try optionalOutput(ntk, n1, n2, ld: ldNTK, "K_ntk")
        points = try quadraturePoints(o)
        progress = NTKC.progress(o.progress, o.progress_user)
    }
}

@_cdecl("ntk_infinite_width_diagonal")
public func ntk_infinite_width_diagonal(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                        _ nngp: UnsafeMutablePointer<Double>?,
                                        _ ntk: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_infinite_width_diagonal") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        let n = try size(n, "n")
        if nngp == nil && ntk == nil { throw NTKError(.invalidArgument,
                                                      "nngp and ntk are both NULL: nothing to compute") }
        try InfiniteWidthKernel.diagonal(a, try input(x, n, a.inputDimension, ld: ldx, "X"), nngp: nngp, ntk: ntk)
    }
}
