/// How a dense layer scales its weights and bias (docs/conventions.md, as neural-tangents).
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
    /// d, the input dimension.
    public let inputDimension: Int
    /// The widths of the hidden layers (empty: a linear model).
    public let hiddenWidths: [Int]
    /// k, the number of outputs.
    public let outputDimension: Int
    /// φ, applied after every hidden layer.
    public let activation: Activation
    /// `W_std` (see `Parameterization`).
    public let weightStd: Double
    /// `b_std` (see `Parameterization`).
    public let biasStd: Double
    /// Whether the layers have biases.
    public let hasBias: Bool
    /// How weights and biases are scaled.
    public let parameterization: Parameterization
    /// Total number of parameters P.
    public let parameterCount: Int

    /// - Throws: `invalidArgument` for sizes < 1, negative or non-finite standard deviations;
    ///   `tooLarge` when P overflows or a width exceeds 32-bit BLAS.
    public init(inputDimension: Int, hiddenWidths: [Int], outputDimension: Int = 1, activation: Activation = .relu,
                weightStd: Double = 1, biasStd: Double = 0, hasBias: Bool = true,
                parameterization: Parameterization = .ntk) throws {
        guard inputDimension >= 1 else {
            throw NTKError.invalidArgument("input dimension must be ≥ 1, got \(inputDimension)")
        }
        guard outputDimension >= 1 else {
            throw NTKError.invalidArgument("output dimension must be ≥ 1, got \(outputDimension)")
        }
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
            count = try Sizes.sum(count, try Sizes.product(sizes[l], sizes[l + 1], "weights of layer \(l)"),
                                  "parameter count")
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
    /// The input width of layer `l` (0 is the first dense layer).
    public func fanIn(_ l: Int) -> Int { l == 0 ? inputDimension : hiddenWidths[l - 1] }
    /// The output width of layer `l`.
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
