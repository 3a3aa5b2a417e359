// The exported dense-network functions: MLP handles (create, parameters, forward, Jacobian),
// the empirical NTK (structured or by Jacobian contraction, three output forms, diagonal) and
// the tangent kernel of any model from its Jacobian. Validation and marshalling only.
import NTK

@_cdecl("ntk_mlp_create")
public func ntk_mlp_create(_ inputDim: Int64, _ hiddenCount: Int64, _ widths: UnsafePointer<Int64>?,
                           _ outputDim: Int64, _ activation: Int32, _ activationParameter: Double,
                           _ wStd: Double, _ bStd: Double, _ bias: Int32, _ parameterization: Int32,
                           _ seed: UInt64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_mlp_create") {
        let out = try outPointer(out, "out")
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
        guard bias == 0 || bias == 1 else { throw NTKError(.invalidArgument, "bias must be 0 or 1, got \(bias)") }
        guard let param = Parameterization(rawValue: parameterization) else {
            throw NTKError(.invalidArgument, "parameterization must be NTK_PARAMETERIZATION_NTK or _STANDARD, got \(parameterization)")
        }
        let architecture = try MLPArchitecture(
            inputDimension: Int(inputDim), hiddenWidths: hidden, outputDimension: Int(outputDim),
            activation: try Activation(code: activation, parameter: activationParameter),
            weightStd: wStd, biasStd: bStd, hasBias: bias == 1, parameterization: param)
        out.pointee = HandleRegistry.shared.register(try MLP(architecture, seed: seed))
    }
}

@_cdecl("ntk_mlp_info")
public func ntk_mlp_info(_ handle: OpaquePointer?, _ inputDim: UnsafeMutablePointer<Int64>?,
                         _ outputDim: UnsafeMutablePointer<Int64>?, _ hiddenCount: UnsafeMutablePointer<Int64>?,
                         _ parameterCount: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_mlp_info") {
        let a = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp").architecture
        inputDim?.pointee = Int64(a.inputDimension)
        outputDim?.pointee = Int64(a.outputDimension)
        hiddenCount?.pointee = Int64(a.hiddenWidths.count)
        parameterCount?.pointee = Int64(a.parameterCount)
    }
}

@_cdecl("ntk_mlp_widths")
public func ntk_mlp_widths(_ handle: OpaquePointer?, _ widths: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_mlp_widths") {
        let a = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp").architecture
        if a.hiddenWidths.isEmpty { return }
        let widths = try outPointer(widths, "widths")
        for (i, w) in a.hiddenWidths.enumerated() { widths[i] = Int64(w) }
    }
}

@_cdecl("ntk_mlp_get_parameters")
public func ntk_mlp_get_parameters(_ handle: OpaquePointer?, _ theta: UnsafeMutablePointer<Double>?, _ count: Int64) -> Int32 {
    boundary("ntk_mlp_get_parameters") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let p = mlp.architecture.parameterCount
        guard count == Int64(p) else { throw NTKError(.dimensionMismatch, "count is \(count) but the network has \(p) parameters") }
        mlp.copyParameters(into: try outputVector(theta, p, "theta"))
    }
}

@_cdecl("ntk_mlp_set_parameters")
public func ntk_mlp_set_parameters(_ handle: OpaquePointer?, _ theta: UnsafePointer<Double>?, _ count: Int64) -> Int32 {
    boundary("ntk_mlp_set_parameters") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let p = mlp.architecture.parameterCount
        guard count == Int64(p) else { throw NTKError(.dimensionMismatch, "count is \(count) but the network has \(p) parameters") }
        guard let theta = theta ?? (p == 0 ? UnsafePointer(bitPattern: 8) : nil) else { throw NTKError(.invalidArgument, "theta is NULL") }
        try mlp.setParameters(theta, count: p)
    }
}

@_cdecl("ntk_mlp_forward")
public func ntk_mlp_forward(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                            _ out: UnsafeMutablePointer<Double>?, _ ldo: Int64) -> Int32 {
    boundary("ntk_mlp_forward") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        try mlp.forward(try input(x, n, a.inputDimension, ld: ldx, "X"),
                        into: try output(out, n, a.outputDimension, ld: ldo, "out"))
    }
}

@_cdecl("ntk_mlp_jacobian")
public func ntk_mlp_jacobian(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                             _ jac: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_mlp_jacobian") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let count = try Sizes.product(try Sizes.product(n, a.outputDimension, "n·k"), a.parameterCount, "Jacobian size")
        try mlp.jacobian(xv, into: try outputVector(jac, count, "jac"))
    }
}

func kernelOutput(_ code: Int32) throws -> EmpiricalKernel.Output {
    guard let form = EmpiricalKernel.Output(rawValue: code) else {
        throw NTKError(.invalidArgument, "output must be NTK_OUTPUT_MEAN, NTK_OUTPUT_FULL or NTK_OUTPUT_PER_OUTPUT, got \(code)")
    }
    return form
}

@_cdecl("ntk_empirical_ntk")
public func ntk_empirical_ntk(_ handle: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?, _ ld1: Int64,
                              _ n2: Int64, _ x2: UnsafePointer<Double>?, _ ld2: Int64,
                              _ outputForm: Int32, _ method: Int32, _ memoryLimit: Int64,
                              _ out: UnsafeMutablePointer<Double>?,
                              _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_empirical_ntk") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        let form = try kernelOutput(outputForm)
        guard let method = EmpiricalKernel.Method(rawValue: method) else {
            throw NTKError(.invalidArgument, "method must be NTK_METHOD_STRUCTURED or NTK_METHOD_JACOBIAN, got \(method)")
        }
        guard memoryLimit >= 0 else { throw NTKError(.invalidArgument, "memory_limit must be ≥ 0 (0: default), got \(memoryLimit)") }
        if x2 == nil && n2 != n1 {
            throw NTKError(.dimensionMismatch, "X2 is NULL (symmetric kernel) so n2 must equal n1 = \(n1), got \(n2)")
        }
        let v1 = try input(x1, n1, a.inputDimension, ld: ld1, "X1")
        let v2 = try x2.map { try input($0, n2, a.inputDimension, ld: ld2, "X2") }
        let count = try Sizes.product(try Sizes.product(n1, n2, "kernel size"), form == .mean ? 1 : (form == .perOutput ? a.outputDimension : a.outputDimension * a.outputDimension), "kernel size")
        try EmpiricalKernel.compute(mlp, v1, v2, output: form, method: method, into: try outputVector(out, count, "out"),
                                    memoryLimit: memoryLimit == 0 ? nil : Int(memoryLimit), progress: progress(callback, user))
    }
}

@_cdecl("ntk_empirical_ntk_diagonal")
public func ntk_empirical_ntk_diagonal(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                       _ outputForm: Int32, _ out: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_empirical_ntk_diagonal") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        let form = try kernelOutput(outputForm)
        let xv = try input(x, n, a.inputDimension, ld: ldx, "X")
        let count = try Sizes.product(n, form == .perOutput ? a.outputDimension : 1, "diagonal size")
        try EmpiricalKernel.diagonal(mlp, xv, output: form, into: try outputVector(out, count, "out"))
    }
}

@_cdecl("ntk_jacobian_ntk")
public func ntk_jacobian_ntk(_ n1: Int64, _ n2: Int64, _ k: Int64, _ p: Int64,
                             _ j1: UnsafePointer<Double>?, _ j2: UnsafePointer<Double>?,
                             _ outputForm: Int32, _ out: UnsafeMutablePointer<Double>?,
                             _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_jacobian_ntk") {
        let (n1, n2, k, p) = (try size(n1, "n1"), try size(n2, "n2"), try size(k, "k"), try size(p, "p"))
        let form = try kernelOutput(outputForm)
        guard k >= 1 else { throw NTKError(.invalidArgument, "k must be ≥ 1") }
        let width = try Sizes.product(k, p, "k·P")
        let a = try input(j1, n1, width, ld: Int64(max(width, 1)), "J1")
        let b = try j2.map { try input($0, n2, width, ld: Int64(max(width, 1)), "J2") }
        let entries = form == .mean ? 1 : (form == .perOutput ? k : k * k)
        let count = try Sizes.product(try Sizes.product(n1, n2, "kernel size"), entries, "kernel size")
        try JacobianKernel.compute(a.base, n1: n1, b?.base, n2: n2, outputs: k, parameters: p, output: form,
                                   into: try outputVector(out, count, "out"), progress: progress(callback, user))
    }
}

@_cdecl("ntk_mlp_free")
public func ntk_mlp_free(_ handle: OpaquePointer?) { HandleRegistry.shared.release(handle) }

@_cdecl("ntk_infinite_width_kernels")
public func ntk_infinite_width_kernels(_ handle: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?, _ ld1: Int64,
                                       _ n2: Int64, _ x2: UnsafePointer<Double>?, _ ld2: Int64,
                                       _ quadraturePoints: Int32,
                                       _ nngp: UnsafeMutablePointer<Double>?, _ ntk: UnsafeMutablePointer<Double>?,
                                       _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_infinite_width_kernels") {
        let a = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp").architecture
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        if x2 == nil && n2 != n1 {
            throw NTKError(.dimensionMismatch, "X2 is NULL (symmetric kernel) so n2 must equal n1 = \(n1), got \(n2)")
        }
        guard quadraturePoints >= 0, quadraturePoints <= 512 else {
            throw NTKError(.invalidArgument, "quadrature_points must be in 0...512 (0: default 64), got \(quadraturePoints)")
        }
        if nngp == nil && ntk == nil { throw NTKError(.invalidArgument, "nngp and ntk are both NULL: nothing to compute") }
        try InfiniteWidthKernel.compute(a, try input(x1, n1, a.inputDimension, ld: ld1, "X1"),
                                        try x2.map { try input($0, n2, a.inputDimension, ld: ld2, "X2") },
                                        nngp: nngp, ntk: ntk, quadraturePoints: quadraturePoints == 0 ? 64 : Int(quadraturePoints),
                                        progress: progress(callback, user))
    }
}

@_cdecl("ntk_infinite_width_diagonal")
public func ntk_infinite_width_diagonal(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                        _ nngp: UnsafeMutablePointer<Double>?, _ ntk: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_infinite_width_diagonal") {
        let a = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp").architecture
        let n = try size(n, "n")
        if nngp == nil && ntk == nil { throw NTKError(.invalidArgument, "nngp and ntk are both NULL: nothing to compute") }
        try InfiniteWidthKernel.diagonal(a, try input(x, n, a.inputDimension, ld: ldx, "X"), nngp: nngp, ntk: ntk)
    }
}
