/// The forward and backward pass of an MLP over one block of rows: the per-sample features from
/// which outputs, Jacobians and tangent kernels are assembled.
///
/// For layer l (weights `W_l`, fan_in × fan_out; forward `z_l = a_l h_l W_l + c_l b_l`):
/// - `input(l)` is `h_l` (rows × fan_in): X for l = 0, φ(z_{l−1}) after;
/// - `delta(l)` (hidden layers only) is `Δ_l = ∂f/∂z_l`, rows × (k · fan_out) with the k output
///   signals side by side: entry `[s, c·fan_out + j] = ∂f_c(x_s)/∂z_l[j]`. For the output layer
///   `∂f_c/∂z_L[j] = [j = c]` and nothing is stored.
/// Then `∂f_c/∂W_l[i, j] = a_l h_l[i] Δ_l[c, j]` and `∂f_c/∂b_l[j] = c_l Δ_l[c, j]` (eq. 9-11).
/// Backward: `Δ_{L−1}[c, j] = a_L W_L[j, c] φ'(z_{L−1}[j])`,
/// `Δ_{l−1} = (a_l Δ_l W_lᵀ) ⊙ φ'(z_{l−1})`, one GEMM per layer for all k outputs at once.
/// Buffers are allocated once for `capacity` rows and reused by each `run`. The pass runs in
/// `Scalar` precision throughout (Double everywhere; Float for the single-precision empirical
/// NTK, with θ rounded to Float by the caller).
final class NetworkPass<Scalar: BLASScalar> {
    let architecture: MLPArchitecture
    let capacity: Int
    let withDeltas: Bool
    let withDerivatives: Bool
    private let hidden: [Buffer]      // φ(z_l), capacity × fanOut(l), l < L
    private let derivative: [Buffer]  // φ'(z_l), same shapes (only with deltas)
    private let deltas: [Buffer]      // Δ_l, capacity × k·fanOut(l), l < L (only with deltas)
    private let output: Buffer        // z_L, capacity × k
    private(set) var rows = 0
    private var x = RowMajorView<Scalar>(unchecked: UnsafePointer(bitPattern: 64)!, rows: 0, cols: 0, ld: 1)

    typealias Buffer = AlignedBuffer<Scalar>
    typealias View = RowMajorView<Scalar>

    /// Bytes of buffers per row, to size blocks against a memory budget (without φ'(z_l) when
    /// `sharedDerivatives`: passes kept side by side share one block's, see `derivativeBuffers`).
    static func bytesPerRow(_ a: MLPArchitecture, deltas: Bool, sharedDerivatives: Bool = false) -> Int {
        // Per hidden unit: φ(z); with deltas also the k signals and (unless shared) φ'(z).
        let k = a.outputDimension, perUnit = deltas ? 1 + k + (sharedDerivatives ? 0 : 1) : 1
        return (k + perUnit * a.hiddenWidths.reduce(0, +)) * MemoryLayout<Scalar>.stride
    }

    /// φ'(z_l) buffers for `capacity` rows, to share between passes that are run one after the
    /// other and then only read through `input`, `delta` and `outputs` (φ' is needed only while
    /// a pass runs).
    static func derivativeBuffers(_ a: MLPArchitecture, capacity: Int) throws -> [Buffer] {
        try a.hiddenWidths.map { try Buffer(count: try Sizes.product(capacity, $0, "derivatives"), for: "derivatives") }
    }

    /// - Parameters:
    ///   - deltas: also compute the per-output signals Δ_l (for kernels and Jacobians);
    ///   - derivatives: keep φ'(z_l) (implied by `deltas`; needed by training's backward pass);
    ///   - sharedDerivatives: φ'(z_l) buffers of at least `capacity` rows (`derivativeBuffers`)
    ///     that other passes also use; `derivativeOf` is then the last run's.
    init(_ architecture: MLPArchitecture, capacity: Int, deltas: Bool, derivatives: Bool = false,
         sharedDerivatives: [Buffer]? = nil) throws {
        let a = architecture
        self.architecture = a
        self.capacity = capacity
        self.withDeltas = deltas
        self.withDerivatives = deltas || derivatives
        let k = a.outputDimension
        hidden = try a.hiddenWidths.map { try Buffer(count: try Sizes.product(capacity, $0, "activations"),
                                                     for: "activations") }
        derivative = (deltas || derivatives) ? try sharedDerivatives ?? Self.derivativeBuffers(a, capacity: capacity)
                                              : []
        self.deltas = deltas ? try a.hiddenWidths.map {
            try Buffer(count: try Sizes.product(capacity, try Sizes.product(k, $0, "signals"), "signals"),
                       for: "backpropagated signals")
        } : []
        output = try Buffer(count: try Sizes.product(capacity, k, "outputs"), for: "outputs")
    }

    /// `h_l`: rows × fanIn(l).
    func input(_ l: Int) -> View {
        l == 0 ? x : View(unchecked: UnsafePointer(hidden[l - 1].pointer), rows: rows, cols: architecture.fanIn(l),
                          ld: architecture.fanIn(l))
    }

    /// `Δ_l` for a hidden layer l: rows × (k · fanOut(l)).
    func delta(_ l: Int) -> View {
        let width = architecture.outputDimension * architecture.fanOut(l)
        return View(unchecked: UnsafePointer(deltas[l].pointer), rows: rows, cols: width, ld: width)
    }

    /// `φ'(z_l)` of hidden layer l: rows × fanOut(l) (needs `derivatives`).
    func derivativeOf(_ l: Int) -> UnsafeMutablePointer<Scalar> { derivative[l].pointer }

    /// `f(X)` of the block: rows × k, contiguous.
    var outputs: UnsafeMutablePointer<Scalar> { output.pointer }

    /// The weights `W_l` (fanIn × fanOut) and bias `b_l` (fanOut) inside θ (in the layout of
    /// `MLPArchitecture`).
    func weights(_ l: Int, _ theta: UnsafePointer<Scalar>) -> (w: View, b: UnsafePointer<Scalar>) {
        let a = architecture
        let base = theta + a.weightOffset(l)
        return (View(unchecked: base, rows: a.fanIn(l), cols: a.fanOut(l), ld: a.fanOut(l)),
                base + a.fanIn(l) * a.fanOut(l))
    }

    /// Runs the pass on `block` (at most `capacity` rows, already validated) with parameters θ.
    func run(_ block: View, _ theta: UnsafePointer<Scalar>) throws {
        let a = architecture
        let layers = a.layerCount, k = a.outputDimension
        rows = block.rows
        x = block
        for l in 0..<layers {
            let fanOut = a.fanOut(l)
            let z = l < layers - 1 ? hidden[l].pointer : output.pointer
            let zView = MutableRowMajorView(unchecked: z, rows: rows, cols: fanOut, ld: fanOut)
            let (w, b) = weights(l, theta)
            if a.hasBias {
                let c = Scalar(a.biasScale)
                for s in 0..<rows { for j in 0..<fanOut { z[s * fanOut + j] = c * b[j] } }
            }
            try MatrixProduct.gemm(input(l), w, alpha: Scalar(a.weightScale(l)), beta: a.hasBias ? 1 : 0, into: zView)
            if l < layers - 1 {
                a.activation.apply(z, derivative: withDerivatives ? derivative[l].pointer : nil, count: rows * fanOut)
            }
        }
        guard withDeltas, layers > 1 else { return }
        // Δ_{L−1}[s, c, j] = a_L W_L[j, c] φ'(z_{L−1}[s, j]).
        let last = layers - 1
        let (wLast, _) = weights(last, theta)
        let width = a.fanIn(last), scale = Scalar(a.weightScale(last))
        let d = deltas[last - 1].pointer, phi = derivative[last - 1].pointer
        for s in 0..<rows {
            for c in 0..<k {
                let row = d + (s * k + c) * width, dphi = phi + s * width
                for j in 0..<width { row[j] = scale * wLast[j, c] * dphi[j] }
            }
        }
        // Δ_{l−1} = (a_l Δ_l W_lᵀ) ⊙ φ'(z_{l−1}), all outputs at once: (rows·k) × fan_out rows.
        var l = last - 1
        while l >= 1 {
            let (w, _) = weights(l, theta)
            let fanIn = a.fanIn(l), fanOut = a.fanOut(l)
            let upper = View(unchecked: UnsafePointer(deltas[l].pointer), rows: rows * k, cols: fanOut, ld: fanOut)
            let lower = MutableRowMajorView(unchecked: deltas[l - 1].pointer, rows: rows * k, cols: fanIn, ld: fanIn)
            try MatrixProduct.gemm(upper, w, transposeB: true, alpha: Scalar(a.weightScale(l)), into: lower)
            let phi = derivative[l - 1].pointer
            for s in 0..<rows {
                let dphi = phi + s * fanIn
                for c in 0..<k {
                    let row = lower.base + (s * k + c) * fanIn
                    for j in 0..<fanIn { row[j] *= dphi[j] }
                }
            }
            l -= 1
        }
    }
}

extension NetworkPass where Scalar == Double {
    /// `weights` inside a network's parameter vector.
    func weights(_ l: Int, _ theta: MLP.ParameterVector) -> (w: MatrixView, b: UnsafePointer<Double>) {
        weights(l, theta.pointer)
    }

    /// `run` with a network's parameter vector.
    func run(_ block: MatrixView, _ theta: MLP.ParameterVector) throws { try run(block, theta.pointer) }
}

/// θ in the precision of a computation: the network's own vector for doubles, a copy rounded
/// once to single precision for floats. Kept alive for as long as `pointer` is used.
final class ScalarParameters<S: BLASScalar> {
    private let vector: MLP.ParameterVector
    private let rounded: AlignedBuffer<S>?
    let pointer: UnsafePointer<S>

    init(_ vector: MLP.ParameterVector, count: Int) throws {
        self.vector = vector
        if S.self == Double.self {
            rounded = nil
            pointer = UnsafeRawPointer(vector.pointer).assumingMemoryBound(to: S.self)
        } else {
            let copy = try AlignedBuffer<S>(count: count, for: "the rounded parameters")
            for i in 0..<count { copy.pointer[i] = S(vector.pointer[i]) }
            rounded = copy
            pointer = UnsafePointer(copy.pointer)
        }
    }
}
