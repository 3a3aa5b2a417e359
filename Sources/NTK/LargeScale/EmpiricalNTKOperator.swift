/// Products with the empirical NTK of an MLP without forming the kernel or the Jacobian: with
/// `J_c` the n × P Jacobian of output c and the mean over the k outputs (the library's default
/// kernel, docs/conventions.md),
///
///     K V = (1/k) Σ_c J_c (J_cᵀ V)        (n × nrhs, for V n × nrhs)
///
/// in two sweeps over the samples' activations `h_l` and backpropagated signals `Δ_l`
/// (`NetworkPass`), since `∂f_c/∂W_l = a_l h_l ⊗ Δ_l^c` and `∂f_c/∂b_l = c_l Δ_l^c`:
/// - `J_cᵀ v` (a P-vector, per layer a fan_out × fan_in matrix and a bias): `a_l Δ_l^cᵀ diag(v) H_l`
///   and `c_l Δ_l^cᵀ v` — one GEMM per layer;
/// - `J_c g` at sample s: `Σ_l a_l Δ_l^c(s) · (G_l h_l(s)) + c_l Δ_l^c(s) · g_b` — one GEMM per layer
///   and a row-wise dot product (the output layer's Δ is the unit vector of c).
/// A product costs about 4·n·P·nrhs·k flops and nothing of size n² exists. The passes are computed once
/// and kept when all n rows fit the memory budget (`NetworkPass.bytesPerRow` each), else
/// recomputed block by block in every product (the forward/backward pass again in both sweeps).
///
/// `Scalar` is the precision of everything between the double vectors V and K V: the passes,
/// the GEMMs and the parameter-space vectors (Float: X and θ rounded once, half the memory and
/// about half the time of a product; its relative error is that of float sums, about 1e-6 —
/// `EmpiricalNTKRidge` refines such products' solutions with double ones).
///
/// The network's parameters are read once, when the operator is made.
/// What `EmpiricalNTKOperator` reads of its products in either precision.
protocol EmpiricalNTKSizes: AnyObject {
    var n: Int { get }
    var keptBytes: Int { get }
    var transposedLength: Int { get }
    var predictor: TangentPredictor { get }
}

final class EmpiricalNTKProducts<Scalar: BLASScalar>: EmpiricalNTKSizes {
    typealias Pass = NetworkPass<Scalar>
    typealias View = RowMajorView<Scalar>
    let architecture: MLPArchitecture
    let parameters: MLP.ParameterVector
    let theta: ScalarParameters<Scalar>
    /// X in `Scalar` precision (a rounded copy for Float).
    let x: View
    private let roundedInputs: AlignedBuffer<Scalar>?
    let blockRows: Int
    /// Bytes of the kept passes (0 when they are recomputed per product).
    let keptBytes: Int
    /// The passes of every block when cached; else one pass reused for each block.
    private let cached: [Pass]
    private let scratchPass: Pass?
    /// Scratch of the two sweeps (`blockRows × widest` scalars).
    private let scratch: AlignedBuffer<Scalar>
    var n: Int { x.rows }
    var outputs: Int { architecture.outputDimension }
    var transposedLength: Int { outputs * Self.vectorLength(architecture) }
    var predictor: TangentPredictor { MLPPredictor(architecture, parameters) }

    /// - Parameter keep: keep the passes when they fit `budget` (false: recompute them in every
    ///   product, in blocks within `budget`).
    /// - Throws: `outOfMemory` when not even a block of 64 rows fits `budget`.
    init(_ mlp: MLP, x input: MatrixView, budget: Int, keep: Bool = true) throws {
        let a = mlp.architecture
        try mlp.checkInput(input, "X")
        architecture = a
        parameters = mlp.parameters
        theta = try ScalarParameters<Scalar>(parameters, count: a.parameterCount)
        let n = input.rows
        if Scalar.self == Double.self {
            roundedInputs = nil
            x = View(unchecked: UnsafeRawPointer(input.base).assumingMemoryBound(to: Scalar.self), rows: n,
                     cols: input.cols, ld: input.ld)
        } else {
            let copy = try AlignedBuffer<Scalar>(count: try Sizes.product(n, input.cols, "inputs"),
                                                 for: "the rounded inputs")
            for i in 0..<n { for j in 0..<input.cols { copy.pointer[i * input.cols + j] = Scalar(input[i, j]) } }
            roundedInputs = copy
            x = View(unchecked: UnsafePointer(copy.pointer), rows: n, cols: input.cols, ld: max(input.cols, 1))
        }
        let perRow = Pass.bytesPerRow(a, deltas: true)
        // Kept: every row's activations and signals, the derivatives of one block (shared).
        let keptPerRow = Pass.bytesPerRow(a, deltas: true, sharedDerivatives: true)
        try MemoryBudget.require(try Sizes.product(min(max(n, 1), 64), perRow, "activations"), within: budget,
                                 for: "the empirical NTK's activations and signals of 64 samples")
        let allKept = try Sizes.sum(try Sizes.product(max(n, 1), keptPerRow, "activations"),
                                      try Sizes.product(min(max(n, 1), 4096), perRow - keptPerRow, "derivatives"),
                                      "activations")
        keptBytes = keep && allKept <= budget ? allKept : 0
        if keptBytes > 0 {
            // Everything once: blocks of at most 4096 rows (GEMM-sized), all kept; φ' is needed
            // only while a block's pass runs, so the blocks share one block's.
            blockRows = max(1, min(n, 4096))
            let derivatives = try Pass.derivativeBuffers(a, capacity: blockRows)
            var passes: [Pass] = []
            for r0 in stride(from: 0, to: n, by: blockRows) {
                let p = try Pass(a, capacity: blockRows, deltas: true, sharedDerivatives: derivatives)
                try p.run(x.rowRange(r0, min(r0 + blockRows, n)), theta.pointer)
                passes.append(p)
            }
            cached = passes
            scratchPass = nil
        } else {
            // Blocks of at most 8192 rows: larger ones no longer speed up the GEMMs.
            blockRows = max(64, min(n, 8192, budget / max(perRow, 1)))
            cached = []
            scratchPass = try Pass(a, capacity: blockRows, deltas: true)
        }
        let widest = (0..<a.layerCount).map { max(a.fanIn($0), a.fanOut($0)) }.max() ?? 1
        scratch = try AlignedBuffer<Scalar>(count: try Sizes.product(blockRows, widest, "scratch"),
                                            for: "kernel product scratch")
        Log.info("empirical NTK products in \(Scalar.precisionName) precision: \(n) samples, \(a.parameterCount) "
                 + "parameters; activations and signals "
                 + (cached.isEmpty ? "recomputed per product in blocks of \(blockRows)" : "kept "
                    + "(\(Log.bytes(allKept)))"))
    }

    /// Calls `body(rows, pass)` with the pass of every block of X in order.
    func forEachBlock(_ body: (Range<Int>, Pass) throws -> Void) throws {
        for (b, r0) in stride(from: 0, to: n, by: blockRows).enumerated() {
            let rows = r0..<min(r0 + blockRows, n)
            if cached.isEmpty, let p = scratchPass {
                try p.run(x.rowRange(rows.lowerBound, rows.upperBound), theta.pointer)
                try body(rows, p)
            } else {
                try body(rows, cached[b])
            }
        }
    }

    /// Entries of one parameter-space vector `g` (the layout `accumulateTranspose` writes):
    /// per hidden layer a fan_out × fan_in matrix then fan_out biases; for the output layer
    /// fan_in weights then one bias (the column of output c).
    static func vectorLength(_ a: MLPArchitecture) -> Int {
        var total = 0
        for l in 0..<a.layerCount {
            total += l == a.layerCount - 1 ? a.fanIn(l) + 1 : a.fanOut(l) * (a.fanIn(l) + 1)
        }
        return total
    }

    /// `g[c, r] += J_c(block)ᵀ v[:, r]` for every output c and column r of `v` (block rows × nrhs,
    /// rounded to `Scalar` entry by entry); `g` holds k·nrhs vectors of `vectorLength` entries,
    /// (c, r) at `(c·nrhs + r)·length`.
    static func accumulateTranspose(_ pass: Pass, _ v: MatrixView, into g: UnsafeMutablePointer<Scalar>,
                                    scratch: UnsafeMutablePointer<Scalar>) throws {
        let a = pass.architecture, k = a.outputDimension, nrhs = v.cols, rows = v.rows, length = vectorLength(a)
        let cb = Scalar(a.hasBias ? a.biasScale : 0)
        for r in 0..<nrhs {
            var offset = 0
            for l in 0..<a.layerCount {
                let fanIn = a.fanIn(l), fanOut = a.fanOut(l), scale = Scalar(a.weightScale(l))
                let h = pass.input(l)
                // W = diag(v_r) H (rows × fanIn).
                for s in 0..<rows {
                    let vs = Scalar(v[s, r]), src = h.row(s), dst = scratch + s * fanIn
                    for i in 0..<fanIn { dst[i] = vs * src[i] }
                }
                let weighted = View(unchecked: UnsafePointer(scratch), rows: rows, cols: fanIn, ld: max(fanIn, 1))
                for c in 0..<k {
                    let out = g + (c * nrhs + r) * length + offset
                    if l == a.layerCount - 1 {
                        // Output layer: Δ = e_c; weights a Hᵀ v_r, bias c_b Σ v_r.
                        for s in 0..<rows {
                            let w = weighted.row(s)
                            for i in 0..<fanIn { out[i] += scale * w[i] }
                            out[fanIn] += cb * Scalar(v[s, r])
                        }
                        continue
                    }
                    let delta = pass.delta(l)
                    let dc = View(unchecked: delta.base + c * fanOut, rows: rows, cols: fanOut, ld: delta.ld)
                    try MatrixProduct.gemm(dc, transposeA: true, weighted, alpha: scale, beta: 1,
                                           into: MutableRowMajorView(unchecked: out, rows: fanOut, cols: fanIn,
                                                                     ld: max(fanIn, 1)))
                    if cb != 0 {
                        let bias = out + fanOut * fanIn
                        for s in 0..<rows {
                            let vs = cb * Scalar(v[s, r]), d = dc.row(s)
                            for j in 0..<fanOut { bias[j] += vs * d[j] }
                        }
                    }
                }
                offset += l == a.layerCount - 1 ? fanIn + 1 : fanOut * (fanIn + 1)
            }
        }
    }

    /// `out[s, r] = weight · Σ_c J_c(block)[s] · g[c, r]` for the block's rows (out: rows × nrhs,
    /// each row's sum formed in `Scalar`).
    static func forward(_ pass: Pass, _ g: UnsafePointer<Scalar>, columns nrhs: Int, weight: Double,
                        into out: MutableMatrixView, scratch: UnsafeMutablePointer<Scalar>) throws {
        let a = pass.architecture, k = a.outputDimension, rows = pass.rows, length = vectorLength(a)
        let cb = Scalar(a.hasBias ? a.biasScale : 0)
        out.fill(0)
        for r in 0..<nrhs {
            var offset = 0
            for l in 0..<a.layerCount {
                let fanIn = a.fanIn(l), fanOut = a.fanOut(l), scale = Scalar(a.weightScale(l))
                let h = pass.input(l)
                for c in 0..<k {
                    let gv = g + (c * nrhs + r) * length + offset
                    if l == a.layerCount - 1 {
                        for s in 0..<rows {
                            let hs = h.row(s)
                            var dot: Scalar = 0
                            for i in 0..<fanIn { dot += hs[i] * gv[i] }
                            out[s, r] += weight * Double(scale * dot + cb * gv[fanIn])
                        }
                        continue
                    }
                    // Q = a H Gᵀ (rows × fanOut), then row-wise Δ^c(s) · (Q(s) + c_b g_b).
                    let q = MutableRowMajorView(unchecked: scratch, rows: rows, cols: fanOut, ld: max(fanOut, 1))
                    try MatrixProduct.gemm(h, View(unchecked: gv, rows: fanOut, cols: fanIn, ld: max(fanIn, 1)),
                                           transposeB: true, alpha: scale, into: q)
                    let bias = gv + fanOut * fanIn
                    let delta = pass.delta(l)
                    for s in 0..<rows {
                        let d = delta.row(s) + c * fanOut, qs = scratch + s * fanOut
                        var dot: Scalar = 0
                        for j in 0..<fanOut { dot += d[j] * (qs[j] + cb * bias[j]) }
                        out[s, r] += weight * Double(dot)
                    }
                }
                offset += l == a.layerCount - 1 ? fanIn + 1 : fanOut * (fanIn + 1)
            }
        }
    }

    /// Runs `body` on `count` entries of parameter-space vectors in `Scalar`: `g` itself for
    /// doubles; for floats a scratch vector, filled from `g` first when `fromDouble`.
    private func withScalarVectors(_ g: UnsafeMutablePointer<Double>, count: Int, fromDouble: Bool,
                                   _ body: (UnsafeMutablePointer<Scalar>) throws -> Void) throws {
        if Scalar.self == Double.self {
            return try body(UnsafeMutableRawPointer(g).assumingMemoryBound(to: Scalar.self))
        }
        let copy = try AlignedBuffer<Scalar>(count: count, for: "parameter-space vectors")
        try withExtendedLifetime(copy) {
            if fromDouble { for i in 0..<count { copy.pointer[i] = Scalar(g[i]) } }
            try body(copy.pointer)
        }
    }

    /// `J(X)ᵀ V` for all outputs: k·nrhs parameter-space vectors (see `accumulateTranspose`).
    /// In single precision each block's sums are formed in float and added into `g` in double:
    /// the sum over the n rows then does not grow float's error with n (at n = 2·10⁵, 49 blocks).
    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws {
        let count = v.cols * transposedLength
        g.update(repeating: 0, count: count)
        try withScalarVectors(g, count: count, fromDouble: false) { gs in
            try forEachBlock { rows, pass in
                if Scalar.self != Double.self { gs.update(repeating: 0, count: count) }
                try Self.accumulateTranspose(pass, v.rowRange(rows.lowerBound, rows.upperBound), into: gs,
                                             scratch: scratch.pointer)
                if Scalar.self != Double.self { for i in 0..<count { g[i] += Double(gs[i]) } }
            }
        }
    }

    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws {
        let weight = 1 / Double(outputs)
        try withScalarVectors(UnsafeMutablePointer(mutating: g), count: columns * transposedLength,
                              fromDouble: true) { gs in
            try forEachBlock { rows, pass in
                try Self.forward(pass, gs, columns: columns, weight: weight,
                                 into: out.rowRange(rows.lowerBound, rows.upperBound), scratch: scratch.pointer)
            }
        }
    }
}

/// `EmpiricalNTKProducts` in the precision chosen at run time, as the solvers' operator. (The
/// products are called on their concrete type here, so that the compiler specialises them: a
/// generic class's methods reached through the protocol would run unspecialised, many times
/// slower.)
final class EmpiricalNTKOperator: TangentOperator {
    private enum Products {
        case double(EmpiricalNTKProducts<Double>)
        case single(EmpiricalNTKProducts<Float>)
    }
    private let products: Products

    /// The products of `mlp` on the rows of `x` in double or single precision (see
    /// `EmpiricalNTKProducts.init`).
    init(_ mlp: MLP, x: MatrixView, budget: Int, single: Bool = false, keep: Bool = true) throws {
        products = single ? .single(try EmpiricalNTKProducts<Float>(mlp, x: x, budget: budget, keep: keep))
                          : .double(try EmpiricalNTKProducts<Double>(mlp, x: x, budget: budget, keep: keep))
    }

    /// The products' sizes, which need no specialisation.
    private var sizes: EmpiricalNTKSizes {
        switch products {
        case .double(let p): p
        case .single(let p): p
        }
    }

    var n: Int { sizes.n }
    /// Bytes of the kept passes (0 when they are recomputed per product).
    var keptBytes: Int { sizes.keptBytes }
    var transposedLength: Int { sizes.transposedLength }
    var predictor: TangentPredictor { sizes.predictor }

    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws {
        switch products {
        case .double(let p): try p.transpose(v, into: g)
        case .single(let p): try p.transpose(v, into: g)
        }
    }

    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws {
        switch products {
        case .double(let p): try p.forward(g, columns: columns, into: out)
        case .single(let p): try p.forward(g, columns: columns, into: out)
        }
    }
}

/// `J(x)` of an MLP at test inputs, a block of rows at a time (forward and backward pass each).
final class MLPPredictor: TangentPredictor {
    let architecture: MLPArchitecture
    let theta: MLP.ParameterVector

    init(_ architecture: MLPArchitecture, _ theta: MLP.ParameterVector) {
        self.architecture = architecture
        self.theta = theta
    }

    var inputDimension: Int? { architecture.inputDimension }

    func predict(_ g: UnsafePointer<Double>, width: Int, at test: TangentTestPoints, into out: MutableMatrixView,
                 progress: ProgressHandler) throws {
        guard case .inputs(let x) = test else {
            throw NTKError.invalidArgument("a model fitted with a network predicts at inputs X, not at row indices")
        }
        let a = architecture
        guard x.cols == a.inputDimension else {
            throw NTKError.dimensionMismatch("X_test has \(x.cols) columns but the input dimension is "
                                             + "\(a.inputDimension)")
        }
        try InputCheck.finite(x, "X_test")
        let rows = x.rows
        try progress.report(0)
        if rows == 0 || width == 0 { return try progress.report(1) }
        let block = min(rows, 2048)
        let pass = try NetworkPass<Double>(a, capacity: block, deltas: true)
        let widest = (0..<a.layerCount).map { max(a.fanIn($0), a.fanOut($0)) }.max() ?? 1
        let scratch = try Workspace(count: try Sizes.product(block, widest, "scratch"), for: "kernel product scratch")
        let weight = 1 / Double(a.outputDimension)
        for r0 in stride(from: 0, to: rows, by: block) {
            let r = r0..<min(r0 + block, rows)
            try pass.run(x.rowRange(r.lowerBound, r.upperBound), theta)
            try EmpiricalNTKProducts<Double>.forward(pass, g, columns: width, weight: weight,
                                             into: out.rowRange(r.lowerBound, r.upperBound), scratch: scratch.pointer)
            try progress.report(Double(r.upperBound) / Double(rows))
        }
    }
}
