/// A network's finite forward and backward pass compiled into steps on one block of examples,
/// each example's activations stored row by row as positions × channels (channels fastest; a
/// flat vector is one position). Flatten is a copy forward (the layout is already flat); its
/// step exists for the backward pass, whose signals of K cotangents are laid out per position.
///
///     affine (Dense, Conv):  z = a · P W + c · b, P the patches (count·positions_out × window·C_in;
///                            a Dense layer's patches are its input), W window·C_in × C_out
///     pool:                  mean over each window (zero padding counted, as neural-tangents)
///     global mean:           mean over positions
///     layer norm:            (h − mean)/√(var + ε) over the channels at each position
///     activation:            φ elementwise
///     push … add:            a residual block: its output plus the value at `push`
///
/// with `a = W_std/√fan_in`, `c = b_std` in the NTK parameterization, `a = c = 1` in the
/// standard one (then θ holds the scaled draws).
struct LayerProgram: Sendable {
    struct Affine: Sendable {
        let patches: PatchTable?
        let positionsIn: Int, positionsOut: Int, channelsIn: Int, channelsOut: Int
        let weightScale: Double, biasScale: Double, initialWeightStd: Double, initialBiasStd: Double
        /// Offset of W in θ; b (channelsOut entries) follows when `hasBias`.
        let offset: Int
        let hasBias: Bool
        var fanIn: Int { (patches?.window ?? 1) * channelsIn }
        var weights: Int { fanIn * channelsOut }
    }

    indirect enum Step: Sendable {
        case affine(Affine)
        case pool(PatchTable, channels: Int)
        case globalMean(positions: Int, channels: Int)
        /// Positions × channels as one vector: free forward (a copy), but the backward signals of
        /// K cotangents change layout (positions × K × channels ↔ K × positions·channels).
        case flatten(positions: Int, channels: Int)
        case layerNorm(epsilon: Double, positions: Int, channels: Int)
        case activation(Activation)
        /// The start of a residual block (the value is kept).
        case push
        /// The end of a residual block: adds the value at step `from`.
        case add(from: Int)
    }

    private(set) var steps: [Step] = []
    /// Entries per example of each step's input; `sizes[steps.count]` is k.
    private(set) var sizes: [Int] = []
    /// Channels of each step's input (positions = size / channels).
    private(set) var channels: [Int] = []
    let parameterCount: Int

    init(_ a: NetworkArchitecture) throws {
        var walk = Walk(architecture: a, dims: a.inputShape.spatial, channels: a.inputShape.channels)
        try walk.compile(a.layers, path: "layer")
        walk.sizes.append(walk.entries)
        walk.channelCounts.append(walk.channels)
        (steps, sizes, channels, parameterCount) = (walk.steps, walk.sizes, walk.channelCounts, walk.offset)
    }

    /// The most entries of a step's patches per example (0 without convolutions).
    var widestPatches: Int { largestOverConvolutions { $0.positionsOut * $0.fanIn } }

    /// The largest fanIn of a convolution (window · channelsIn; 0 without convolutions).
    var widestFanIn: Int { largestOverConvolutions(\.fanIn) }

    /// The largest `size` of the steps that read patches (0 without convolutions).
    private func largestOverConvolutions(_ size: (Affine) -> Int) -> Int {
        steps.reduce(0) { widest, step in
            guard case .affine(let f) = step, f.patches != nil else { return widest }
            return max(widest, size(f))
        }
    }

    private struct Walk {
        let architecture: NetworkArchitecture
        var dims: [Int], channels: Int
        var steps: [Step] = [], sizes: [Int] = [], channelCounts: [Int] = [], offset = 0
        var entries: Int { dims.reduce(channels, *) }

        init(architecture: NetworkArchitecture, dims: [Int], channels: Int) {
            (self.architecture, self.dims, self.channels) = (architecture, dims, channels)
        }

        mutating func append(_ step: Step) {
            sizes.append(entries)
            channelCounts.append(channels)
            steps.append(step)
        }

        mutating func affine(_ patches: PatchTable?, out: Int, _ w: Double?, _ b: Double?) {
            let a = architecture, ws = w ?? a.weightStd, bs = b ?? a.biasStd
            let positions = dims.reduce(1, *), fanIn = (patches?.window ?? 1) * channels
            let ntk = a.parameterization == .ntk
            let step = Affine(patches: patches, positionsIn: positions, positionsOut: patches?.outputs ?? positions,
                              channelsIn: channels, channelsOut: out,
                              weightScale: ntk ? ws / Double(fanIn).squareRoot() : 1, biasScale: ntk ? bs : 1,
                              initialWeightStd: ntk ? 1 : ws / Double(fanIn).squareRoot(), initialBiasStd: ntk ? 1 : bs,
                              offset: offset, hasBias: a.hasBias)
            append(.affine(step))
            offset += step.weights + (a.hasBias ? out : 0)
            channels = out
        }

        mutating func windows(_ sizes: [Int], _ strides: [Int]?, _ padding: Padding, _ name: String) throws
            -> PatchTable {
            let axes = try dims.indices.map {
                try WindowAxis(input: dims[$0], window: sizes[$0], stride: strides?[$0] ?? 1, padding: padding,
                               layer: name)
            }
            return try PatchTable(axes, layer: name)
        }

        mutating func compile(_ layers: [Layer], path: String) throws {
            for (i, layer) in layers.enumerated() {
                let name = "\(path) \(i) (\(layer.name))"
                switch layer {
                case .dense(let width, let w, let b):
                    affine(nil, out: width, w, b)
                case .conv(let out, let kernel, let strides, let padding, let w, let b):
                    let table = try windows(kernel, strides, padding, name)
                    affine(table, out: out, w, b)
                    dims = table.outputDims
                case .avgPool(let window, let strides, let padding):
                    let table = try windows(window, strides, padding, name)
                    append(.pool(table, channels: channels))
                    dims = table.outputDims
                case .globalAvgPool:
                    append(.globalMean(positions: dims.reduce(1, *), channels: channels))
                    dims = []
                case .flatten:
                    append(.flatten(positions: dims.reduce(1, *), channels: channels))
                    channels = entries
                    dims = []
                case .layerNorm(let epsilon):
                    append(.layerNorm(epsilon: epsilon, positions: dims.reduce(1, *), channels: channels))
                case .activation(let phi):
                    append(.activation(phi))
                case .residual(let block):
                    let start = steps.count
                    append(.push)
                    try compile(block, path: "\(name), block layer")
                    append(.add(from: start))
                }
            }
        }
    }
}
