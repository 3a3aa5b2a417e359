// The exported functions of networks built from layers: ntk_layer descriptions to the core's
// `Layer` list, network handles, infinite-width kernels. Validation and marshalling only.
import CNTK
import NTK

var networkDefaults: ntk_network_options {
    ntk_network_options(size: MemoryLayout<ntk_network_options>.size, w_std: 1, b_std: 0, bias: 1,
                        parameterization: NTK_PARAMETERIZATION_NTK, seed: 0)
}

@_cdecl("ntk_network_options_init")
public func ntk_network_options_init(_ options: UnsafeMutablePointer<ntk_network_options>?) -> Int32 {
    boundary("ntk_network_options_init") { try initialise(options, networkDefaults, "options") }
}

@_cdecl("ntk_layer_init")
public func ntk_layer_init(_ layer: UnsafeMutablePointer<ntk_layer>?, _ kind: ntk_layer_kind) -> Int32 {
    boundary("ntk_layer_init") {
        let layer = try required(layer, "layer")
        guard kind.rawValue <= NTK_LAYER_RESIDUAL_END.rawValue else {
            throw invalid("kind", kind.rawValue, "one of NTK_LAYER_*")
        }
        layer.pointee = ntk_layer(
            size: MemoryLayout<ntk_layer>.size, kind: kind, width: 1, rank: 0, window: (1, 1, 1), strides: (1, 1, 1),
            padding: kind == NTK_LAYER_CONV ? NTK_PADDING_SAME : NTK_PADDING_VALID, activation: NTK_ACTIVATION_RELU,
            activation_parameter: 0.01, w_std: .nan, b_std: .nan, epsilon: 1e-12)
    }
}

private func padding(_ p: ntk_padding, _ name: String) throws -> Padding {
    switch p {
    case NTK_PADDING_VALID: return .valid
    case NTK_PADDING_SAME: return .same
    case NTK_PADDING_CIRCULAR: return .circular
    default:
        throw invalid("\(name): padding", p.rawValue, "NTK_PADDING_VALID, NTK_PADDING_SAME or NTK_PADDING_CIRCULAR")
    }
}

/// The window and strides of a CONV or AVG_POOL layer (`rank` entries each).
private func window(_ l: ntk_layer, _ name: String) throws -> ([Int], [Int]) {
    guard (1...3).contains(l.rank) else {  // the header's window[3] and strides[3]
        throw NTKError(.invalidArgument, "\(name): rank must be 1 to 3, got \(l.rank)")
    }
    let sizes = withUnsafeBytes(of: l.window) { Array($0.bindMemory(to: Int64.self)) }
    let strides = withUnsafeBytes(of: l.strides) { Array($0.bindMemory(to: Int64.self)) }
    return (sizes.prefix(Int(l.rank)).map { Int($0) }, strides.prefix(Int(l.rank)).map { Int($0) })
}

/// The layers of `layers[from...]` up to an unmatched RESIDUAL_END (or the end), as `Layer`s.
private func layerList(_ layers: UnsafePointer<ntk_layer>, _ count: Int, from start: inout Int,
                       nested: Bool) throws -> [Layer] {
    var out: [Layer] = []
    while start < count {
        let l = layers[start], name = "layers[\(start)]"
        guard l.size == MemoryLayout<ntk_layer>.size else {
            throw NTKError(.invalidArgument, "\(name).size is \(l.size), not sizeof(ntk_layer) = "
                           + "\(MemoryLayout<ntk_layer>.size): set each layer up with ntk_layer_init")
        }
        start += 1
        let std: (Double?, Double?) = (l.w_std.isNaN ? nil : l.w_std, l.b_std.isNaN ? nil : l.b_std)
        switch l.kind {
        case NTK_LAYER_DENSE: out.append(.dense(width: Int(l.width), weightStd: std.0, biasStd: std.1))
        case NTK_LAYER_CONV:
            let (sizes, strides) = try window(l, name)
            out.append(.conv(channels: Int(l.width), kernelSize: sizes, strides: strides,
                             padding: try padding(l.padding, name), weightStd: std.0, biasStd: std.1))
        case NTK_LAYER_AVG_POOL:
            let (sizes, strides) = try window(l, name)
            out.append(.avgPool(window: sizes, strides: strides, padding: try padding(l.padding, name)))
        case NTK_LAYER_GLOBAL_AVG_POOL: out.append(.globalAvgPool)
        case NTK_LAYER_FLATTEN: out.append(.flatten)
        case NTK_LAYER_LAYER_NORM: out.append(.layerNorm(epsilon: l.epsilon))
        case NTK_LAYER_ACTIVATION:
            out.append(.activation(try activation(l.activation, slope: l.activation_parameter)))
        case NTK_LAYER_RESIDUAL_BEGIN:
            out.append(.residual(try layerList(layers, count, from: &start, nested: true)))
            guard start <= count, layers[start - 1].kind == NTK_LAYER_RESIDUAL_END else {
                throw NTKError(.invalidArgument, "\(name): NTK_LAYER_RESIDUAL_BEGIN without its RESIDUAL_END")
            }
        case NTK_LAYER_RESIDUAL_END:
            guard nested else {
                throw NTKError(.invalidArgument, "\(name): NTK_LAYER_RESIDUAL_END without a RESIDUAL_BEGIN")
            }
            return out
        default: throw invalid("\(name).kind", l.kind.rawValue, "one of NTK_LAYER_*")
        }
    }
    return out
}

@_cdecl("ntk_network_create")
public func ntk_network_create(_ rank: Int64, _ shape: UnsafePointer<Int64>?, _ layerCount: Int64,
                               _ layers: UnsafePointer<ntk_layer>?, _ optionsIn: UnsafePointer<ntk_network_options>?,
                               _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_network_create") {
        let out = try required(out, "out")
        let o = try options(optionsIn, defaults: networkDefaults, "options")
        guard (1...4).contains(rank) else {
            throw NTKError(.invalidArgument, "input_rank must be 1 to 4, got \(rank)")
        }
        guard let shape else { throw NTKError(.invalidArgument, "input_shape is NULL") }
        let count = try size(layerCount, "num_layers")
        guard count <= 1 << 16 else { throw NTKError(.tooLarge, "num_layers = \(count) exceeds 65536") }
        guard o.bias == 0 || o.bias == 1 else {
            throw NTKError(.invalidArgument, "options->bias must be 0 or 1, got \(o.bias)")
        }
        var list: [Layer] = []  // none: the core names the problem
        if count > 0 {
            guard let layers else { throw NTKError(.invalidArgument, "layers is NULL") }
            var start = 0
            list = try layerList(layers, count, from: &start, nested: false)
        }
        let architecture = try NetworkArchitecture(
            inputShape: (0..<Int(rank)).map { Int(clamping: shape[$0]) }, layers: list, weightStd: o.w_std,
            biasStd: o.b_std, hasBias: o.bias == 1, parameterization: try parameterization(o.parameterization))
        out.pointee = HandleRegistry.shared.register(try Network(architecture, seed: o.seed))
    }
}

@_cdecl("ntk_network_info")
public func ntk_network_info(_ network: OpaquePointer?, _ d: UnsafeMutablePointer<Int64>?,
                             _ k: UnsafeMutablePointer<Int64>?, _ p: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_network_info") {
        let a = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
        d?.pointee = Int64(a.inputDimension)
        k?.pointee = Int64(a.outputDimension)
        p?.pointee = Int64(a.parameterCount)
    }
}

@_cdecl("ntk_network_free")
public func ntk_network_free(_ network: OpaquePointer?) { HandleRegistry.shared.release(network) }

@_cdecl("ntk_network_infinite_width_kernels")
public func ntk_network_infinite_width_kernels(
    _ network: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?, _ ld1: Int64, _ n2: Int64,
    _ x2: UnsafePointer<Double>?, _ ld2: Int64, _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
    _ nngp: UnsafeMutablePointer<Double>?, _ ldNNGP: Int64, _ ntk: UnsafeMutablePointer<Double>?, _ ldNTK: Int64
) -> Int32 {
    boundary("ntk_network_infinite_width_kernels") {
        let a = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
        let c = try InfiniteWidthCall(a.inputDimension, n1, x1, ld1, n2, x2, ld2, optionsIn, nngp, ldNNGP, ntk, ldNTK)
        try NetworkInfiniteWidthKernel.compute(a, c.x1, c.x2, nngp: c.nngp, ntk: c.ntk, points: c.points,
                                               progress: c.progress)
    }
}

@_cdecl("ntk_network_infinite_width_kernels_f32")
public func ntk_network_infinite_width_kernels_f32(
    _ network: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Float>?, _ ld1: Int64, _ n2: Int64,
    _ x2: UnsafePointer<Float>?, _ ld2: Int64, _ optionsIn: UnsafePointer<ntk_infinite_width_options>?,
    _ nngp: UnsafeMutablePointer<Float>?, _ ldNNGP: Int64, _ ntk: UnsafeMutablePointer<Float>?, _ ldNTK: Int64
) -> Int32 {
    boundary("ntk_network_infinite_width_kernels_f32") {
        let a = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
        let c = try InfiniteWidthCall(a.inputDimension, n1, x1, ld1, n2, x2, ld2, optionsIn, nngp, ldNNGP, ntk, ldNTK)
        try NetworkInfiniteWidthKernel.compute(a, c.x1, c.x2, nngp: c.nngp, ntk: c.ntk, points: c.points,
                                               progress: c.progress)
    }
}

@_cdecl("ntk_network_infinite_width_diagonal")
public func ntk_network_infinite_width_diagonal(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?,
                                                _ ldx: Int64, _ nngp: UnsafeMutablePointer<Double>?,
                                                _ ntk: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_network_infinite_width_diagonal") {
        let a = try HandleRegistry.shared.lookup(network, as: Network.self, "network").architecture
        let n = try size(n, "n")
        if nngp == nil && ntk == nil {
            throw NTKError(.invalidArgument, "nngp and ntk are both NULL: nothing to compute")
        }
        try NetworkInfiniteWidthKernel.diagonal(a, try input(x, n, a.inputDimension, ld: ldx, "X"),
                                                nngp: nngp, ntk: ntk)
    }
}

@_cdecl("ntk_network_get_parameters")
public func ntk_network_get_parameters(_ network: OpaquePointer?, _ theta: UnsafeMutablePointer<Double>?,
                                       _ count: Int64) -> Int32 {
    boundary("ntk_network_get_parameters") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        net.copyParameters(into: try parametersOut(theta, count: count, net.parameterCount))
    }
}

@_cdecl("ntk_network_set_parameters")
public func ntk_network_set_parameters(_ network: OpaquePointer?, _ theta: UnsafePointer<Double>?,
                                       _ count: Int64) -> Int32 {
    boundary("ntk_network_set_parameters") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        try net.setParameters(try parametersIn(theta, count: count, net.parameterCount), count: net.parameterCount)
    }
}

@_cdecl("ntk_network_forward")
public func ntk_network_forward(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                _ out: UnsafeMutablePointer<Double>?, _ ldo: Int64) -> Int32 {
    boundary("ntk_network_forward") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        let n = try size(n, "n")
        try net.forward(try input(x, n, net.architecture.inputDimension, ld: ldx, "X"),
                        into: try output(out, n, net.outputCount, ld: ldo, "out"))
    }
}

@_cdecl("ntk_network_jacobian")
public func ntk_network_jacobian(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                 _ jacobian: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_network_jacobian") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        let n = try size(n, "n"), p = net.parameterCount
        let rows = try Sizes.product(n, net.outputCount, "Jacobian rows")
        try net.jacobian(try input(x, n, net.architecture.inputDimension, ld: ldx, "X"),
                         into: try output(jacobian, rows, p, ld: Int64(max(p, 1)), "J"))
    }
}

@_cdecl("ntk_network_empirical_ntk_diagonal")
public func ntk_network_empirical_ntk_diagonal(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?,
                                               _ ldx: Int64, _ outputIn: ntk_output_form,
                                               _ diag: UnsafeMutablePointer<Double>?, _ ldd: Int64) -> Int32 {
    boundary("ntk_network_empirical_ntk_diagonal") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        let n = try size(n, "n")
        let form = try outputForm(outputIn)
        guard form != .full else {
            throw NTKError(.invalidArgument, "output must be NTK_OUTPUT_MEAN or NTK_OUTPUT_PER_OUTPUT for the diagonal")
        }
        try net.empiricalKernelDiagonal(try input(x, n, net.architecture.inputDimension, ld: ldx, "X"), output: form,
                                        into: try output(diag, n, form.entries(net.outputCount), ld: ldd, "diag"))
    }
}

@_cdecl("ntk_network_empirical_ntk")
public func ntk_network_empirical_ntk(_ network: OpaquePointer?, _ n1: Int64, _ x1: UnsafePointer<Double>?,
                                      _ ld1: Int64, _ n2: Int64, _ x2: UnsafePointer<Double>?, _ ld2: Int64,
                                      _ outputIn: ntk_output_form,
                                      _ optionsIn: UnsafePointer<ntk_empirical_ntk_options>?,
                                      _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64) -> Int32 {
    boundary("ntk_network_empirical_ntk") {
        let net = try HandleRegistry.shared.lookup(network, as: Network.self, "network")
        let d = net.architecture.inputDimension
        let o = try options(optionsIn, defaults: empiricalDefaults, "options")
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        let form = try outputForm(outputIn)
        let v1 = try input(x1, n1, d, ld: ld1, "X1")
        let v2 = try secondSet(x2, n1: n1, n2: n2, d: d, ld: ld2)
        let cols = try Sizes.product(n2, form.entries(net.outputCount), "n2*e")
        try net.empiricalKernel(v1, v2, output: form, method: try modelKernelMethod(o.method),
                                into: try output(kernel, n1, cols, ld: ldk, "K"),
                                memoryLimit: try memoryLimitOption(o.memory_limit),
                                progress: progress(o.progress, o.progress_user))
    }
}
