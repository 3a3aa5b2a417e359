/// The architecture of a network built from layers (`Layer`): an input shape, a serial list of
/// layers with residual branches, W_std/b_std defaults and the parameterization — no weights.
///
/// Inputs are one example per row, its entries in the order of `inputShape` with the channel
/// axis last (NHWC or NLC, as neural-tangents): `d = positions × channels` columns. The network
/// must end flat (after `flatten`, `globalAvgPool`, or on a flat input), its last layer giving
/// the k outputs.
///
/// Parameter layout: the layers in order (residual blocks inline), each `[W, b]`; a dense `W` is
/// fan_in × width, a convolution's `W` is window (row-major over the spatial axes) × input
/// channels × output channels, `b` one entry per output channel (absent without biases).
public struct NetworkArchitecture: Sendable, Equatable {
    /// One example's input shape: spatial sizes, then channels.
    public let inputShape: ActivationShape
    /// The layers, in order.
    public let layers: [Layer]
    /// The default W_std and b_std of layers that do not set their own.
    public let weightStd: Double, biasStd: Double
    /// Whether dense and convolutional layers have biases.
    public let hasBias: Bool
    /// How weights and biases are scaled (as `MLPArchitecture`).
    public let parameterization: Parameterization
    /// The shape of the output: flat, k channels.
    public let outputShape: ActivationShape
    /// P, the number of parameters.
    public let parameterCount: Int

    /// d, the number of input columns.
    public var inputDimension: Int { inputShape.size }
    /// k, the number of outputs.
    public var outputDimension: Int { outputShape.channels }

    /// - Parameter inputShape: `[d]`, `[L, C]`, `[H, W, C]` or `[D, H, W, C]`.
    /// - Throws: `invalidArgument` naming the layer when shapes do not compose (channel counts,
    ///   windows larger than a VALID input, window/kernel ranks unlike the input's spatial rank,
    ///   zero strides or sizes, pooling a flat input, a residual block that changes the shape, a
    ///   network that does not end flat), for negative or non-finite standard deviations;
    ///   `tooLarge` when sizes overflow.
    public init(inputShape: [Int], layers: [Layer], weightStd: Double = 1, biasStd: Double = 0, hasBias: Bool = true,
                parameterization: Parameterization = .ntk) throws {
        guard (1...4).contains(inputShape.count) else {
            throw NTKError.invalidArgument("the input shape must have 1 to 4 entries (spatial sizes, then channels), "
                                           + "got \(inputShape.count)")
        }
        guard inputShape.allSatisfy({ $0 >= 1 }) else {
            throw NTKError.invalidArgument("input shape entries must be ≥ 1, got \(inputShape)")
        }
        guard !layers.isEmpty else { throw NTKError.invalidArgument("a network needs at least one layer") }
        try Self.checkStd(weightStd, biasStd, "the network")
        let input = ActivationShape(spatial: Array(inputShape.dropLast()), channels: inputShape.last!)
        _ = try Sizes.blasInt(try input.spatial.reduce(input.channels) { try Sizes.product($0, $1, "input size") },
                              "input size")
        var walk = ShapeWalk(hasBias: hasBias)
        let output = try walk.run(layers, from: input, path: "layer")
        guard output.spatial.isEmpty else {
            throw NTKError.invalidArgument("the network ends with spatial shape \(output): end with Flatten() or "
                                           + "GlobalAvgPool() before the readout")
        }
        (self.inputShape, self.layers, self.weightStd, self.biasStd) = (input, layers, weightStd, biasStd)
        (self.hasBias, self.parameterization) = (hasBias, parameterization)
        (self.outputShape, self.parameterCount) = (output, walk.parameters)
    }

    /// Throws unless `x` has one input per row (d columns), a BLAS-sized row count and finite entries.
    func checkInput<S: BLASScalar>(_ x: RowMajorView<S>, _ name: String) throws {
        guard x.cols == inputDimension else {
            throw NTKError.dimensionMismatch("\(name) has \(x.cols) columns but the network's input \(inputShape) "
                                             + "has \(inputDimension) entries")
        }
        _ = try Sizes.blasInt(x.rows, "rows of \(name)")
        try InputCheck.finite(x, name)
    }

    static func checkStd(_ w: Double?, _ b: Double?, _ owner: String) throws {
        for (value, name) in [(w, "W_std"), (b, "b_std")] {
            guard let value else { continue }
            try InputCheck.finite(value, "\(name) of \(owner)")
            guard value >= 0 else { throw NTKError.invalidArgument("\(name) of \(owner) must be ≥ 0, got \(value)") }
        }
    }
}

/// Shape inference over a layer list: checks every layer against the shape it receives and
/// counts parameters.
private struct ShapeWalk {
    let hasBias: Bool
    var parameters = 0

    init(hasBias: Bool) { self.hasBias = hasBias }

    mutating func run(_ layers: [Layer], from input: ActivationShape, path: String) throws -> ActivationShape {
        var shape = input
        for (i, layer) in layers.enumerated() {
            let name = "\(path) \(i) (\(layer.name))"
            shape = try step(layer, shape, name)
        }
        return shape
    }

    private mutating func affine(_ fanIn: Int, _ out: Int, _ name: String) throws {
        guard out >= 1 else { throw NTKError.invalidArgument("\(name): the width must be ≥ 1, got \(out)") }
        _ = try Sizes.blasInt(fanIn, "\(name): fan-in")
        _ = try Sizes.blasInt(out, "\(name): width")
        let weights = try Sizes.product(fanIn, out, "\(name): weights")
        parameters = try Sizes.sum(parameters, try Sizes.sum(weights, hasBias ? out : 0, "parameters"), "parameters")
    }

    private func windows(_ sizes: [Int], _ strides: [Int]?, _ padding: Padding, _ shape: ActivationShape,
                         _ what: String, _ name: String) throws -> [Int] {
        guard !shape.spatial.isEmpty else {
            throw NTKError.invalidArgument("\(name) needs a spatial input, got the flat shape \(shape)")
        }
        guard sizes.count == shape.spatial.count else {
            throw NTKError.invalidArgument("\(name): \(what) has \(sizes.count) entries but the input \(shape) has "
                                           + "\(shape.spatial.count) spatial axes")
        }
        let s = strides ?? [Int](repeating: 1, count: sizes.count)
        guard s.count == sizes.count else {
            throw NTKError.invalidArgument("\(name): strides has \(s.count) entries, \(what) \(sizes.count)")
        }
        return try zip(shape.spatial, zip(sizes, s)).map {
            try WindowAxis(input: $0, window: $1.0, stride: $1.1, padding: padding, layer: name).out
        }
    }

    private mutating func step(_ layer: Layer, _ shape: ActivationShape, _ name: String) throws -> ActivationShape {
        switch layer {
        case .dense(let width, let w, let b):
            try NetworkArchitecture.checkStd(w, b, name)
            try affine(shape.channels, width, name)
            return ActivationShape(spatial: shape.spatial, channels: width)
        case .conv(let channels, let kernel, let strides, let padding, let w, let b):
            try NetworkArchitecture.checkStd(w, b, name)
            let spatial = try windows(kernel, strides, padding, shape, "kernel_size", name)
            let window = try kernel.reduce(1) { try Sizes.product($0, $1, "\(name): window") }
            try affine(try Sizes.product(window, shape.channels, "\(name): fan-in"), channels, name)
            return ActivationShape(spatial: spatial, channels: channels)
        case .avgPool(let window, let strides, let padding):
            return ActivationShape(spatial: try windows(window, strides, padding, shape, "window", name),
                                   channels: shape.channels)
        case .globalAvgPool:
            guard !shape.spatial.isEmpty else {
                throw NTKError.invalidArgument("\(name) needs a spatial input, got the flat shape \(shape)")
            }
            return ActivationShape(spatial: [], channels: shape.channels)
        case .flatten:
            return ActivationShape(spatial: [], channels: shape.size)
        case .layerNorm(let epsilon):
            try InputCheck.finite(epsilon, "\(name): epsilon")
            guard epsilon >= 0 else { throw NTKError.invalidArgument("\(name): epsilon must be ≥ 0, got \(epsilon)") }
            return shape
        case .activation:
            return shape
        case .residual(let block):
            guard !block.isEmpty else { throw NTKError.invalidArgument("\(name): the block is empty") }
            let out = try run(block, from: shape, path: "\(name), block layer")
            guard out == shape else {
                throw NTKError.invalidArgument("\(name): the block maps \(shape) to \(out); a residual block must "
                                               + "keep the shape (its output is added to its input)")
            }
            return out
        }
    }
}
