/// A network's infinite-width recursion compiled into steps on the covariances of one pair of
/// inputs (x, x'), as neural-tangents' `stax` kernel functions.
///
/// The state of a pair is Σ and Θ over pairs of positions (p, p'): a tensor of shape
/// `dims ++ dims` (`full`), or over equal positions (p, p) only, shape `dims` (`!full`). The
/// diagonal suffices — and costs positions instead of positions² — unless the network pools
/// (AvgPool, GlobalAvgPool mix positions): a convolution's window only ever pairs p + o with
/// p' + o, an activation or LayerNorm acts entry by entry, and Flatten reads the diagonal.
///
///     input:        Σ(p, p') = x_p · x'_p' / C,  Θ = 0
///     dense/conv:   Σ ← (1/w) Σ_o Σ(p+o, p'+o) (conv only), then the dense update of
///                   `InfiniteWidthKernel` with fan_in = C · w
///     avg pool:     Σ ← (1/w²) Σ_{o, o'} Σ(p+o, p'+o') (one axis at a time), Θ likewise
///     global pool:  the mean over all (p, p');  flatten: the mean over p of Σ(p, p)
///     activation:   Σ ← E[φ(u)φ(v)], Θ ← Θ E[φ'(u)φ'(v)], (u, v) ~ N(0, [[q(p), Σ], [Σ, q'(p')]])
///     layer norm:   Σ ← Σ / √((ε + q(p))(ε + q'(p'))), Θ likewise
///     residual:     the block's (Σ, Θ) plus its input's
///
/// with q(p) = Σ(x, x)(p, p) of each input at that layer (the "slots", recorded per point by
/// running the recursion on (x, x) first). As neural-tangents, an activation, a LayerNorm and
/// both sides of a residual sum need Gaussian inputs — outputs of a Dense or Conv layer
/// (possibly pooled or normalised) — or the limit is not this recursion; such networks throw.
struct CovarianceProgram {
    enum Step {
        /// Σ ← w2 Σ + b2 and Θ ← Σ + w2 Θ (ntk), or Θ ← fanIn Σ + one + w2 Θ first (standard).
        case affine(w2: Double, b2: Double, fanIn: Double, one: Double, standard: Bool)
        /// A window along `axes` of the tensor (one axis, or an axis and its partner), /window.
        case window(WindowAxis, axes: [Int], shape: [Int])
        case nonlinearity(GaussianExpectation, slot: Int)
        case layerNorm(epsilon: Double, slot: Int)
        /// The mean over p of Σ(p, p) (full), or over p (diagonal): to a scalar.
        case flatten(positions: Int)
        /// The mean over all entries: to a scalar.
        case globalMean(entries: Int)
        case push, add
    }

    let full: Bool
    let inputShape: ActivationShape
    private(set) var steps: [Step] = []
    /// The number of positions at each slot.
    private(set) var slotPositions: [Int] = []
    /// The largest tensor, in entries, and the deepest residual nesting.
    private(set) var maxEntries = 1, maxDepth = 0
    private var dims: [Int], channels: Int, gaussian = false, depth = 0
    private let architecture: NetworkArchitecture, points: Int

    /// - Throws: `invalidArgument` for activations, LayerNorms or residual sums on non-Gaussian
    ///   inputs; errors of `GaussianExpectation` (quadrature points).
    init(_ a: NetworkArchitecture, points: Int) throws {
        architecture = a
        self.points = points
        inputShape = a.inputShape
        full = Self.pools(a.layers)
        dims = a.inputShape.spatial
        channels = a.inputShape.channels
        maxEntries = entries
        try compile(a.layers, path: "layer")
    }

    private static func pools(_ layers: [Layer]) -> Bool {
        layers.contains {
            switch $0 {
            case .avgPool, .globalAvgPool: true
            case .residual(let block): pools(block)
            default: false
            }
        }
    }

    /// Entries of the state tensor now.
    private var entries: Int {
        let p = dims.reduce(1, *)
        return full ? p * p : p
    }
    private var shape: [Int] { full ? dims + dims : dims }

    private mutating func compile(_ layers: [Layer], path: String) throws {
        for (i, layer) in layers.enumerated() {
            try compile(layer, "\(path) \(i) (\(layer.name))")
            maxEntries = max(maxEntries, entries)
        }
    }

    private func requireGaussian(_ what: @autoclosure () -> String) throws {
        guard gaussian else {
            throw NTKError.invalidArgument("infinite width: \(what()) Gaussian — the output of a Dense or Conv "
                                           + "layer, possibly pooled or normalised — as in neural-tangents")
        }
    }

    private mutating func affine(_ w: Double?, _ b: Double?, fanIn: Int) {
        let a = architecture
        let ws = w ?? a.weightStd, bs = b ?? a.biasStd
        steps.append(.affine(w2: ws * ws, b2: a.hasBias ? bs * bs : 0, fanIn: Double(fanIn),
                             one: a.hasBias ? 1 : 0, standard: a.parameterization == .standard))
        gaussian = true
    }

    /// A window step on tensor `axes`, spatial axis `k` becoming `axis.out` long.
    private mutating func window(_ axis: WindowAxis, axes: [Int], spatialAxis k: Int) {
        steps.append(.window(axis, axes: axes, shape: shape))
        dims[k] = axis.out
    }

    private mutating func compile(_ layer: Layer, _ name: String) throws {
        switch layer {
        case .dense(let width, let w, let b):
            affine(w, b, fanIn: channels)
            channels = width
        case .conv(let out, let kernel, let strides, let padding, let w, let b):
            let c = channels, spatial = dims.count
            for k in 0..<spatial {
                let axis = try WindowAxis(input: dims[k], window: kernel[k], stride: strides?[k] ?? 1,
                                          padding: padding, layer: name)
                window(axis, axes: full ? [k, k + spatial] : [k], spatialAxis: k)
            }
            affine(w, b, fanIn: kernel.reduce(c, *))
            channels = out
        case .avgPool(let sizes, let strides, let padding):
            let spatial = dims.count
            for k in 0..<spatial {
                let axis = try WindowAxis(input: dims[k], window: sizes[k], stride: strides?[k] ?? 1,
                                          padding: padding, layer: name)
                steps.append(.window(axis, axes: [k], shape: shape))
                steps.append(.window(axis, axes: [k + spatial], shape: shape.enumerated().map {
                    $0.offset == k ? axis.out : $0.element }))
                dims[k] = axis.out
            }
        case .globalAvgPool:
            steps.append(.globalMean(entries: entries))
            dims = []
        case .flatten:
            channels *= dims.reduce(1, *)
            steps.append(.flatten(positions: dims.reduce(1, *)))
            dims = []
            gaussian = false
        case .layerNorm(let epsilon):
            try requireGaussian("the input of \(name) must be")
            steps.append(.layerNorm(epsilon: epsilon, slot: slotPositions.count))
            slotPositions.append(dims.reduce(1, *))
        case .activation(let phi):
            try requireGaussian("the input of \(name) must be")
            steps.append(.nonlinearity(try GaussianExpectation(phi, points: points), slot: slotPositions.count))
            slotPositions.append(dims.reduce(1, *))
            gaussian = false
        case .residual(let block):
            try requireGaussian("\(name) adds its input to its block's output, so that input must be")
            steps.append(.push)
            depth += 1
            maxDepth = max(maxDepth, depth)
            try compile(block, path: "\(name), block layer")
            guard gaussian else {
                throw NTKError.invalidArgument("infinite width: \(name): the block must end with a Dense or Conv layer "
                                               + "(possibly pooled or normalised), whose output is Gaussian and "
                                               + "independent of the block's input, as in neural-tangents")
            }
            depth -= 1
            steps.append(.add)
        }
    }

}
