// The exported dense-network functions: MLP handles (create, parameters, forward, Jacobian).
// Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_mlp_options`, as `ntk_mlp_options_init` writes them.
var mlpDefaults: ntk_mlp_options {
    ntk_mlp_options(
        size: MemoryLayout<ntk_mlp_options>.size, activation_parameter: 0.01, w_std: 1, b_std: 0, bias: 1,
        parameterization: NTK_PARAMETERIZATION_NTK, seed: 0)
}

@_cdecl("ntk_mlp_options_init")
public func ntk_mlp_options_init(_ options: UnsafeMutablePointer<ntk_mlp_options>?) -> Int32 {
    boundary("ntk_mlp_options_init") { try initialise(options, mlpDefaults, "options") }
}

@_cdecl("ntk_mlp_create")
public func ntk_mlp_create(_ d: Int64, _ hiddenCount: Int64, _ widths: UnsafePointer<Int64>?, _ k: Int64,
                           _ activationIn: ntk_activation, _ optionsIn: UnsafePointer<ntk_mlp_options>?,
                           _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_mlp_create") {
        let out = try required(out, "out")
        let o = try options(optionsIn, defaults: mlpDefaults, "options")
        let count = try size(hiddenCount, "num_hidden")
        guard count <= 4096 else { throw NTKError(.tooLarge, "num_hidden = \(count) exceeds 4096 layers") }
        let hidden: [Int]
        if let widths {
            hidden = (0..<count).map { Int(widths[$0]) }
        } else if count == 0 {
            hidden = []
        } else {
            throw NTKError(.invalidArgument, "widths is NULL")
        }
        guard o.bias == 0 || o.bias == 1 else {
            throw NTKError(.invalidArgument, "options->bias must be 0 or 1, got \(o.bias)")
        }
        let architecture = try MLPArchitecture(
            inputDimension: Int(d), hiddenWidths: hidden, outputDimension: Int(k),
            activation: try activation(activationIn, slope: o.activation_parameter),
            weightStd: o.w_std, biasStd: o.b_std, hasBias: o.bias == 1,
            parameterization: try parameterization(o.parameterization))
        out.pointee = HandleRegistry.shared.register(try MLP(architecture, seed: o.seed))
    }
}

@_cdecl("ntk_mlp_info")
public func ntk_mlp_info(_ mlp: OpaquePointer?, _ d: UnsafeMutablePointer<Int64>?,
                         _ k: UnsafeMutablePointer<Int64>?, _ hiddenCount: UnsafeMutablePointer<Int64>?,
                         _ p: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_mlp_info") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        d?.pointee = Int64(a.inputDimension)
        k?.pointee = Int64(a.outputDimension)
        hiddenCount?.pointee = Int64(a.hiddenWidths.count)
        p?.pointee = Int64(a.parameterCount)
    }
}

@_cdecl("ntk_mlp_widths")
public func ntk_mlp_widths(_ mlp: OpaquePointer?, _ widths: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_mlp_widths") {
        let a = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp").architecture
        if a.hiddenWidths.isEmpty { return }
        let widths = try required(widths, "widths")
        for (i, w) in a.hiddenWidths.enumerated() { widths[i] = Int64(w) }
    }
}

@_cdecl("ntk_mlp_get_parameters")
public func ntk_mlp_get_parameters(_ mlp: OpaquePointer?, _ theta: UnsafeMutablePointer<Double>?,
                                   _ count: Int64) -> Int32 {
    boundary("ntk_mlp_get_parameters") {
        let mlp = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        mlp.copyParameters(into: try parametersOut(theta, count: count, mlp.architecture.parameterCount))
    }
}

@_cdecl("ntk_mlp_set_parameters")
public func ntk_mlp_set_parameters(_ mlp: OpaquePointer?, _ theta: UnsafePointer<Double>?, _ count: Int64) -> Int32 {
    boundary("ntk_mlp_set_parameters") {
        let mlp = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        let p = mlp.architecture.parameterCount
        try mlp.setParameters(try parametersIn(theta, count: count, p), count: p)
    }
}

@_cdecl("ntk_mlp_forward")
public func ntk_mlp_forward(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                            _ f: UnsafeMutablePointer<Double>?, _ ldf: Int64) -> Int32 {
    boundary("ntk_mlp_forward") {
        let mlp = try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        try mlp.forward(try input(x, n, a.inputDimension, ld: ldx, "X"),
                        into: try output(f, n, a.outputDimension, ld: ldf, "F"))
    }
}

@_cdecl("ntk_mlp_jacobian")
public func ntk_mlp_jacobian(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                             _ jac: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_mlp_jacobian") {
        let c = try JacobianCall(mlp, n, x, ldx, jac)
        try c.mlp.jacobian(c.x, into: c.out)
    }
}

@_cdecl("ntk_mlp_jacobian_f32")
public func ntk_mlp_jacobian_f32(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Float>?, _ ldx: Int64,
                                 _ jac: UnsafeMutablePointer<Float>?) -> Int32 {
    boundary("ntk_mlp_jacobian_f32") {
        let c = try JacobianCall(mlp, n, x, ldx, jac)
        try c.mlp.jacobian(c.x, into: c.out)
    }
}

/// The validated arguments of `ntk_mlp_jacobian` in either precision. The entry points call the
/// concrete `MLP.jacobian` of their precision (a generic call into NTK would run unspecialised).
private struct JacobianCall<S> {
    let mlp: MLP
    let x: RowMajorView<S>
    let out: UnsafeMutablePointer<S>

    init(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<S>?, _ ldx: Int64,
         _ jac: UnsafeMutablePointer<S>?) throws {
        mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        self.x = try input(x, n, a.inputDimension, ld: ldx, "X")
        let count = try Sizes.product(try Sizes.product(n, a.outputDimension, "n*k"), a.parameterCount,
                                      "Jacobian size")
        out = try outputVector(jac, count, "J")
    }
}

@_cdecl("ntk_mlp_free")
public func ntk_mlp_free(_ mlp: OpaquePointer?) { HandleRegistry.shared.release(mlp) }
