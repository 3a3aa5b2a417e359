import Synchronization

/// How a dense layer scales its weights and bias (DESIGN.md, as neural-tangents).
///
/// - `ntk`: `z = (W_std/√fan_in) · h W + b_std · b` with `W, b ~ N(0, 1)`;
/// - `standard`: `z = h W + b` with `W ~ N(0, W_std²/fan_in)`, `b ~ N(0, b_std²)`.
/// Both give the same function at initialisation; their tangent kernels differ in scale.
public enum Parameterization: Sendable {
    /// `z = (W_std/√fan_in)·h W + b_std·b` with `W, b ~ N(0, 1)` (neural-tangents' default).
    case ntk
    /// `z = h W + b` with `W ~ N(0, W_std²/fan_in)`, `b ~ N(0, b_std²)`.
    case standard
}

/// The architecture of a dense network (multilayer perceptron): no weights.
///
/// `hiddenWidths.count` hidden layers (zero allowed: a linear model), then a dense output layer
/// of `outputDimension` units: `f(x) = z_L`, `z_l = a_l · h_l W_l + c_l · b_l`,
/// `h_0 = x`, `h_{l+1} = φ(z_l)`.
///
/// Parameter layout (flat vector θ): `[W_0 (fan_in × fan_out, row-major), b_0 (fan_out), W_1,
/// b_1, …]`, the biases absent when `hasBias` is false.
public struct MLPArchitecture: Sendable, Equatable {
    public let inputDimension: Int
    public let hiddenWidths: [Int]
    public let outputDimension: Int
    public let activation: Activation
    public let weightStd: Double
    public let biasStd: Double
    public let hasBias: Bool
    public let parameterization: Parameterization
    /// Total number of parameters P.
    public let parameterCount: Int

    /// - Throws: `invalidArgument` for sizes < 1, negative or non-finite standard deviations;
    ///   `tooLarge` when P overflows or a width exceeds 32-bit BLAS.
    public init(inputDimension: Int, hiddenWidths: [Int], outputDimension: Int = 1, activation: Activation = .relu,
                weightStd: Double = 1, biasStd: Double = 0, hasBias: Bool = true,
                parameterization: Parameterization = .ntk) throws {
        guard inputDimension >= 1 else { throw NTKError.invalidArgument("input dimension must be ≥ 1, got \(inputDimension)") }
        guard outputDimension >= 1 else { throw NTKError.invalidArgument("output dimension must be ≥ 1, got \(outputDimension)") }
        for (i, w) in hiddenWidths.enumerated() where w < 1 {
            throw NTKError.invalidArgument("hidden width \(i) must be ≥ 1, got \(w)")
        }
        try InputCheck.finite(weightStd, "W_std")
        try InputCheck.finite(biasStd, "b_std")
        guard weightStd >= 0, biasStd >= 0 else {
            throw NTKError.invalidArgument("W_std and b_std must be ≥ 0, got \(weightStd) and \(biasStd)")
        }
        let sizes = [inputDimension] + hiddenWidths + [outputDimension]
        for s in sizes { _ = try Sizes.blasInt(s, "layer width") }
        var count = 0
        for l in 0..<(sizes.count - 1) {
            count = try Sizes.sum(count, try Sizes.product(sizes[l], sizes[l + 1], "weights of layer \(l)"), "parameter count")
            if hasBias { count = try Sizes.sum(count, sizes[l + 1], "parameter count") }
        }
        self.inputDimension = inputDimension
        self.hiddenWidths = hiddenWidths
        self.outputDimension = outputDimension
        self.activation = activation
        self.weightStd = weightStd
        self.biasStd = biasStd
        self.hasBias = hasBias
        self.parameterization = parameterization
        self.parameterCount = count
    }

    /// Number of dense layers (hidden + output).
    public var layerCount: Int { hiddenWidths.count + 1 }
    public func fanIn(_ l: Int) -> Int { l == 0 ? inputDimension : hiddenWidths[l - 1] }
    public func fanOut(_ l: Int) -> Int { l == hiddenWidths.count ? outputDimension : hiddenWidths[l] }
    /// Offset of `W_l` in θ; `b_l` follows it.
    public func weightOffset(_ l: Int) -> Int {
        var offset = 0
        for j in 0..<l { offset += fanIn(j) * fanOut(j) + (hasBias ? fanOut(j) : 0) }
        return offset
    }

    /// The multiplier `a_l` of `h W` in the forward pass.
    func weightScale(_ l: Int) -> Double {
        parameterization == .ntk ? weightStd / Double(fanIn(l)).squareRoot() : 1
    }
    /// The multiplier `c_l` of `b`.
    var biasScale: Double { parameterization == .ntk ? biasStd : 1 }
    /// Standard deviations of the initial weights and biases.
    func initialWeightStd(_ l: Int) -> Double {
        parameterization == .ntk ? 1 : weightStd / Double(fanIn(l)).squareRoot()
    }
    var initialBiasStd: Double { parameterization == .ntk ? 1 : biasStd }
}

/// The seeded generator of initial parameters, documented so that others can reproduce it:
/// SplitMix64 from `seed` gives 64-bit words u; `(u >> 11) · 2⁻⁵³` is uniform in [0, 1);
/// each pair of uniforms (u1, u2) gives two N(0, 1) draws by Box–Muller,
/// `√(−2 ln(1 − u1)) · cos(2π u2)` then `· sin(2π u2)`. θ is filled in layout order, each entry
/// multiplied by its standard deviation (see `Parameterization`).
public struct NormalGenerator {
    private var state: UInt64
    private var spare: Double?

    public init(seed: UInt64) { state = seed }

    mutating func nextWord() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> Double {
        if let s = spare {
            spare = nil
            return s
        }
        let u1 = Double(nextWord() >> 11) * 0x1p-53, u2 = Double(nextWord() >> 11) * 0x1p-53
        let radius = (-2 * log(1 - u1)).squareRoot(), angle = 2 * Double.pi * u2
        spare = radius * sin(angle)
        return radius * cos(angle)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dense network (multilayer perceptron): an architecture and its parameters θ.
///
/// Every computation reads a snapshot of θ taken when it starts, and `setParameters` swaps in a
/// new vector atomically, so a network can be shared between threads, even while its parameters
/// are replaced (a computation already running keeps the old ones).
public final class MLP: @unchecked Sendable {
    public let architecture: MLPArchitecture
    private let current: Mutex<ParameterVector>

    /// θ, immutable once made.
    final class ParameterVector: @unchecked Sendable {
        let storage: Workspace
        init(_ storage: Workspace) { self.storage = storage }
        var pointer: UnsafePointer<Double> { UnsafePointer(storage.pointer) }
    }

    /// A network with parameters drawn from `NormalGenerator(seed:)`.
    public init(_ architecture: MLPArchitecture, seed: UInt64 = 0) throws {
        self.architecture = architecture
        let theta = try Workspace(count: architecture.parameterCount, for: "the parameters")
        var rng = NormalGenerator(seed: seed)
        let a = architecture
        for l in 0..<a.layerCount {
            let base = theta.pointer + a.weightOffset(l)
            let weights = a.fanIn(l) * a.fanOut(l), sw = a.initialWeightStd(l)
            for i in 0..<weights { base[i] = sw * rng.next() }
            if a.hasBias {
                for j in 0..<a.fanOut(l) { base[weights + j] = a.initialBiasStd * rng.next() }
            }
        }
        current = Mutex(ParameterVector(theta))
    }

    /// The parameter vector in use now (a snapshot).
    var parameters: ParameterVector { current.withLock { $0 } }

    /// Copies θ (P doubles) into `out`.
    public func copyParameters(into out: UnsafeMutablePointer<Double>) {
        let p = parameters
        out.update(from: p.pointer, count: architecture.parameterCount)
    }

    /// θ as an array.
    public var parameterArray: [Double] {
        let p = parameters
        return Array(UnsafeBufferPointer(start: p.pointer, count: architecture.parameterCount))
    }

    /// Replaces θ by the `count` doubles at `theta` (layout as `MLPArchitecture`).
    /// - Throws: `dimensionMismatch` unless `count` is P; `nonFinite` for NaN/Inf.
    public func setParameters(_ theta: UnsafePointer<Double>, count: Int) throws {
        let p = architecture.parameterCount
        guard count == p else { throw NTKError.dimensionMismatch("\(count) parameters given, the network has \(p)") }
        if p > 0 {
            try InputCheck.finite(MatrixView(unchecked: theta, rows: 1, cols: p, ld: p), "parameters")
        }
        let copy = try Workspace(count: p, for: "the parameters")
        copy.pointer.update(from: theta, count: p)
        let vector = ParameterVector(copy)
        current.withLock { $0 = vector }
    }

    /// Replaces θ from an array.
    public func setParameters(_ theta: [Double]) throws {
        try theta.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                throw NTKError.dimensionMismatch("0 parameters given, the network has \(architecture.parameterCount)")
            }
            try setParameters(base, count: buffer.count)
        }
    }

    /// Checks that `x` has the input dimension and is finite.
    func checkInput(_ x: MatrixView, _ name: String) throws {
        guard x.cols == architecture.inputDimension else {
            throw NTKError.dimensionMismatch("\(name) has \(x.cols) columns but the network's input dimension is \(architecture.inputDimension)")
        }
        _ = try Sizes.blasInt(x.rows, "rows of \(name)")
        _ = try Sizes.blasInt(x.ld, "leading dimension of \(name)")
        try InputCheck.finite(x, name)
    }

    /// The outputs `f(X)` (n × k) into `out`.
    public func forward(_ x: MatrixView, into out: MutableMatrixView) throws {
        try checkInput(x, "X")
        let a = architecture
        guard out.rows == x.rows, out.cols == a.outputDimension else {
            throw NTKError.dimensionMismatch("output is \(out.rows) × \(out.cols) but f(X) is \(x.rows) × \(a.outputDimension)")
        }
        try out.requireDisjoint(from: x, "output", "X")
        let theta = parameters
        let block = min(max(x.rows, 1), 1024)
        let pass = try NetworkPass(a, capacity: block, deltas: false)
        var r0 = 0
        while r0 < x.rows {
            let rows = min(block, x.rows - r0)
            try pass.run(x.rowRange(r0, r0 + rows), theta)
            let z = pass.outputs
            for s in 0..<rows { (out.base + (r0 + s) * out.ld).update(from: z + s * a.outputDimension, count: a.outputDimension) }
            r0 += rows
        }
        try InputCheck.finiteResult(out, "the network's outputs")
    }
}

extension MatrixView {
    /// Rows `from..<to` as a view sharing this memory.
    func rowRange(_ from: Int, _ to: Int) -> MatrixView {
        MatrixView(unchecked: base + from * ld, rows: to - from, cols: cols, ld: ld)
    }
}
