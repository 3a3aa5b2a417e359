/// How a convolution or pooling window treats the border (neural-tangents' `stax.Padding`).
///
/// - `valid`: windows lie inside the input: `out = ⌊(n − f)/s⌋ + 1` positions (needs n ≥ f);
/// - `same`: zero padding, `out = ⌈n/s⌉`, the padding `max((out − 1)s + f − n, 0)` split with
///   its smaller half before the input (as XLA);
/// - `circular`: the same positions as `same`, padded periodically (the input wraps around).
public enum Padding: String, Sendable, CaseIterable {
    case valid = "VALID"
    case same = "SAME"
    case circular = "CIRCULAR"
}

/// One layer of a network description (`NetworkArchitecture`). Conventions are
/// neural-tangents' `stax` so that the same description gives the same numbers:
///
/// - `dense(width)`: an affine map on the last (channel) axis — on a spatial input it acts at
///   every position alone (a 1 × 1 convolution), as `stax.Dense`; fan-in = the channels.
/// - `conv(channels, kernelSize, strides, padding)`: a convolution over 1 or 2 spatial axes with
///   a window of `kernelSize` positions; fan-in = input channels × window size. Its weights are
///   shared over positions and its bias is one per output channel.
/// - `avgPool(window, strides, padding)`: the mean over each window (divided by the window size,
///   also at `same` borders: neural-tangents' `normalize_edges=False`); strides default to 1.
/// - `globalAvgPool`: the mean over all positions: spatial → flat.
/// - `flatten`: all positions and channels as one flat vector (d = positions × channels).
/// - `layerNorm(epsilon)`: `(h − mean)/√(var + ε)` over the channels at each position.
/// - `activation(φ)`: φ elementwise.
/// - `residual(block)`: the block's output plus its input (the shapes must agree).
///
/// `weightStd`/`biasStd` override the network's W_std/b_std for that layer (nil: the network's).
public indirect enum Layer: Sendable, Equatable {
    case dense(width: Int, weightStd: Double? = nil, biasStd: Double? = nil)
    case conv(channels: Int, kernelSize: [Int], strides: [Int]? = nil, padding: Padding = .same,
              weightStd: Double? = nil, biasStd: Double? = nil)
    case avgPool(window: [Int], strides: [Int]? = nil, padding: Padding = .valid)
    case globalAvgPool
    case flatten
    case layerNorm(epsilon: Double = 1e-12)
    case activation(Activation)
    case residual([Layer])

    /// The layer's name as the Python package spells it (in error messages).
    public var name: String {
        switch self {
        case .dense: "Dense"
        case .conv: "Conv"
        case .avgPool: "AvgPool"
        case .globalAvgPool: "GlobalAvgPool"
        case .flatten: "Flatten"
        case .layerNorm: "LayerNorm"
        case .activation(let phi): "Activation(\(phi))"
        case .residual: "Residual"
        }
    }
}

/// The shape of one example's activations: spatial sizes (empty: a flat vector) and channels.
public struct ActivationShape: Sendable, Equatable, CustomStringConvertible {
    /// Sizes of the spatial axes (H, W or L; empty when flat).
    public var spatial: [Int]
    /// The channel (feature) count.
    public var channels: Int
    /// Number of positions (1 when flat).
    public var positions: Int { spatial.reduce(1, *) }
    /// Entries per example.
    public var size: Int { positions * channels }
    public var description: String { "(" + (spatial + [channels]).map(String.init).joined(separator: ", ") + ")" }
}

/// The positions of a window sliding along one axis of n positions: `out` outputs, and for window
/// offset a and output i the source position `i·s + a − lo` (wrapped when circular; −1 in zero
/// padding), stored as `table[a · out + i]` and, for loops, as `runs[a]`: maximal runs of
/// outputs whose sources step by s (one run with zero padding, up to three when circular).
struct WindowAxis: Sendable, Equatable {
    let input: Int, window: Int, stride: Int, out: Int
    let table: [Int32]
    /// Per offset a: (outputs, source of the first output); output i reads `source + (i − first)·s`.
    let runs: [[Run]]

    /// The largest window or stride (positions are 32-bit in the tables).
    static let limit = 1 << 16

    struct Run: Sendable, Equatable {
        let outputs: Range<Int>
        let source: Int
    }

    /// - Throws: `invalidArgument` when a valid window does not fit or the window/stride is < 1.
    init(input n: Int, window f: Int, stride s: Int, padding: Padding, layer: String) throws {
        guard f >= 1, s >= 1 else {
            throw NTKError.invalidArgument("\(layer): window sizes and strides must be ≥ 1, got \(f) and \(s)")
        }
        guard f <= Self.limit, s <= Self.limit else {
            throw NTKError.tooLarge("\(layer): window sizes and strides beyond \(Self.limit) (got \(f) and \(s))")
        }
        let out: Int, lo: Int
        switch padding {
        case .valid:
            guard n >= f else {
                throw NTKError.invalidArgument("\(layer): a VALID window of \(f) does not fit in \(n) positions")
            }
            out = (n - f) / s + 1
            lo = 0
        case .same, .circular:
            out = (n + s - 1) / s
            lo = max((out - 1) * s + f - n, 0) / 2
        }
        guard f * out <= Self.limit * Self.limit / 16 else {
            throw NTKError.tooLarge("\(layer): a window of \(f) over \(out) positions (more than 2^28 window "
                                    + "positions)")
        }
        var table = [Int32](repeating: -1, count: f * out)
        for a in 0..<f {
            for i in 0..<out {
                let src = i * s + a - lo
                if src >= 0 && src < n {
                    table[a * out + i] = Int32(src)
                } else if padding == .circular {
                    table[a * out + i] = Int32(((src % n) + n) % n)
                }
            }
        }
        (input, window, stride, self.out, self.table) = (n, f, s, out, table)
        runs = (0..<f).map { a in
            var list: [Run] = []
            var i = 0
            while i < out {
                let first = Int(table[a * out + i])
                guard first >= 0 else { i += 1; continue }
                var end = i + 1
                while end < out && Int(table[a * out + end]) == first + (end - i) * s { end += 1 }
                list.append(Run(outputs: i..<end, source: first))
                i = end
            }
            return list
        }
    }
}
