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
/// The network's parameters are read once, when the operator is made.
final class EmpiricalNTKOperator: TangentOperator {
    let architecture: MLPArchitecture
    let theta: MLP.ParameterVector
    let x: MatrixView
    let blockRows: Int
    /// The passes of every block when cached; else one pass reused for each block.
    private let cached: [NetworkPass<Double>]
    private let scratchPass: NetworkPass<Double>?
    /// Scratch of the two sweeps (`scratchCount` doubles).
    private let scratch: Workspace
    var n: Int { x.rows }
    var outputs: Int { architecture.outputDimension }
    var transposedLength: Int { outputs * Self.vectorLength(architecture) }
    var predictor: TangentPredictor { MLPPredictor(architecture, theta) }

    /// - Throws: `outOfMemory` when not even a block of 64 rows fits `budget`.
    init(_ mlp: MLP, x: MatrixView, budget: Int) throws {
        let a = mlp.architecture
        try mlp.checkInput(x, "X")
        architecture = a
        theta = mlp.parameters
        self.x = x
        let perRow = NetworkPass<Double>.bytesPerRow(a, deltas: true)
        // Kept: every row's activations and signals, the derivatives of one block (shared).
        let keptPerRow = NetworkPass<Double>.bytesPerRow(a, deltas: true, sharedDerivatives: true)
        let n = x.rows
        try MemoryBudget.require(try Sizes.product(min(max(n, 1), 64), perRow, "activations"), within: budget,
                                 for: "the empirical NTK's activations and signals of 64 samples")
        let keptBytes = try Sizes.sum(try Sizes.product(max(n, 1), keptPerRow, "activations"),
                                      try Sizes.product(min(max(n, 1), 4096), perRow - keptPerRow, "derivatives"),
                                      "activations")
        if keptBytes <= budget {
            // Everything once: blocks of at most 4096 rows (GEMM-sized), all kept; φ' is needed
            // only while a block's pass runs, so the blocks share one block's.
            blockRows = max(1, min(n, 4096))
            let derivatives = try NetworkPass<Double>.derivativeBuffers(a, capacity: blockRows)
            var passes: [NetworkPass<Double>] = []
            for r0 in stride(from: 0, to: n, by: blockRows) {
                let p = try NetworkPass<Double>(a, capacity: blockRows, deltas: true, sharedDerivatives: derivatives)
                try p.run(x.rowRange(r0, min(r0 + blockRows, n)), theta)
                passes.append(p)
            }
            cached = passes
            scratchPass = nil
        } else {
            // Blocks of at most 8192 rows: larger ones no longer speed up the GEMMs.
            blockRows = max(64, min(n, 8192, budget / max(perRow, 1)))
            cached = []
            scratchPass = try NetworkPass<Double>(a, capacity: blockRows, deltas: true)
        }
        let widest = (0..<a.layerCount).map { max(a.fanIn($0), a.fanOut($0)) }.max() ?? 1
        scratch = try Workspace(count: try Sizes.product(blockRows, widest, "scratch"), for: "kernel product scratch")
        Log.info("empirical NTK products: \(n) samples, \(a.parameterCount) parameters; activations and signals "
                 + (cached.isEmpty ? "recomputed per product in blocks of \(blockRows)" : "kept "
                    + "(\(Log.bytes(keptBytes)))"))
    }

    /// Calls `body(rows, pass)` with the pass of every block of X in order.
    func forEachBlock(_ body: (Range<Int>, NetworkPass<Double>) throws -> Void) throws {
        for (b, r0) in stride(from: 0, to: n, by: blockRows).enumerated() {
            let rows = r0..<min(r0 + blockRows, n)
            if cached.isEmpty, let p = scratchPass {
                try p.run(x.rowRange(rows.lowerBound, rows.upperBound), theta)
                try body(rows, p)
            } else {
                try body(rows, cached[b])
            }
        }
    }

    /// Doubles of one parameter-space vector `g` (the layout `accumulateTranspose` writes):
    /// per hidden layer a fan_out × fan_in matrix then fan_out biases; for the output layer
    /// fan_in weights then one bias (the column of output c).
    static func vectorLength(_ a: MLPArchitecture) -> Int {
        var total = 0
        for l in 0..<a.layerCount {
            total += l == a.layerCount - 1 ? a.fanIn(l) + 1 : a.fanOut(l) * (a.fanIn(l) + 1)
        }
        return total
    }

    /// `g[c, r] += J_c(block)ᵀ v[:, r]` for every output c and column r of `v` (block rows × nrhs);
    /// `g` holds k·nrhs vectors of `vectorLength` doubles, (c, r) at `(c·nrhs + r)·length`.
    static func accumulateTranspose(_ pass: NetworkPass<Double>, _ v: MatrixView, into g: UnsafeMutablePointer<Double>,
                                    scratch: UnsafeMutablePointer<Double>) throws {
        let a = pass.architecture, k = a.outputDimension, nrhs = v.cols, rows = v.rows, length = vectorLength(a)
        let cb = a.hasBias ? a.biasScale : 0
        for r in 0..<nrhs {
            var offset = 0
            for l in 0..<a.layerCount {
                let fanIn = a.fanIn(l), fanOut = a.fanOut(l), scale = a.weightScale(l)
                let h = pass.input(l)
                // W = diag(v_r) H (rows × fanIn).
                for s in 0..<rows {
                    let vs = v[s, r], src = h.row(s), dst = scratch + s * fanIn
                    for i in 0..<fanIn { dst[i] = vs * src[i] }
                }
                let weighted = MatrixView(unchecked: UnsafePointer(scratch), rows: rows, cols: fanIn, ld: max(fanIn, 1))
                for c in 0..<k {
                    let out = g + (c * nrhs + r) * length + offset
                    if l == a.layerCount - 1 {
                        // Output layer: Δ = e_c; weights a Hᵀ v_r, bias c_b Σ v_r.
                        for s in 0..<rows {
                            let w = weighted.row(s)
                            for i in 0..<fanIn { out[i] += scale * w[i] }
                            out[fanIn] += cb * v[s, r]
                        }
                        continue
                    }
                    let delta = pass.delta(l)
                    let dc = MatrixView(unchecked: delta.base + c * fanOut, rows: rows, cols: fanOut, ld: delta.ld)
                    try MatrixProduct.gemm(dc, transposeA: true, weighted, alpha: scale, beta: 1,
                                           into: MutableMatrixView(unchecked: out, rows: fanOut, cols: fanIn,
                                                                   ld: max(fanIn, 1)))
                    if cb != 0 {
                        let bias = out + fanOut * fanIn
                        for s in 0..<rows {
                            let vs = cb * v[s, r], d = dc.row(s)
                            for j in 0..<fanOut { bias[j] += vs * d[j] }
                        }
                    }
                }
                offset += l == a.layerCount - 1 ? fanIn + 1 : fanOut * (fanIn + 1)
            }
        }
    }

    /// `out[s, r] = weight · Σ_c J_c(block)[s] · g[c, r]` for the block's rows (out: rows × nrhs).
    static func forward(_ pass: NetworkPass<Double>, _ g: UnsafePointer<Double>, columns nrhs: Int, weight: Double,
                        into out: MutableMatrixView, scratch: UnsafeMutablePointer<Double>) throws {
        let a = pass.architecture, k = a.outputDimension, rows = pass.rows, length = vectorLength(a)
        let cb = a.hasBias ? a.biasScale : 0
        out.fill(0)
        for r in 0..<nrhs {
            var offset = 0
            for l in 0..<a.layerCount {
                let fanIn = a.fanIn(l), fanOut = a.fanOut(l), scale = a.weightScale(l)
                let h = pass.input(l)
                for c in 0..<k {
                    let gv = g + (c * nrhs + r) * length + offset
                    if l == a.layerCount - 1 {
                        for s in 0..<rows {
                            let hs = h.row(s)
                            var dot = 0.0
                            for i in 0..<fanIn { dot += hs[i] * gv[i] }
                            out[s, r] += weight * (scale * dot + cb * gv[fanIn])
                        }
                        continue
                    }
                    // Q = a H Gᵀ (rows × fanOut), then row-wise Δ^c(s) · (Q(s) + c_b g_b).
                    let q = MutableMatrixView(unchecked: scratch, rows: rows, cols: fanOut, ld: max(fanOut, 1))
                    try MatrixProduct.gemm(h, MatrixView(unchecked: gv, rows: fanOut, cols: fanIn, ld: max(fanIn, 1)),
                                           transposeB: true, alpha: scale, into: q)
                    let bias = gv + fanOut * fanIn
                    let delta = pass.delta(l)
                    for s in 0..<rows {
                        let d = delta.row(s) + c * fanOut, qs = scratch + s * fanOut
                        var dot = 0.0
                        for j in 0..<fanOut { dot += d[j] * (qs[j] + cb * bias[j]) }
                        out[s, r] += weight * dot
                    }
                }
                offset += l == a.layerCount - 1 ? fanIn + 1 : fanOut * (fanIn + 1)
            }
        }
    }

    /// `J(X)ᵀ V` for all outputs: k·nrhs parameter-space vectors (see `accumulateTranspose`).
    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws {
        g.update(repeating: 0, count: v.cols * transposedLength)
        try forEachBlock { rows, pass in
            try Self.accumulateTranspose(pass, v.rowRange(rows.lowerBound, rows.upperBound), into: g,
                                         scratch: scratch.pointer)
        }
    }

    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws {
        let weight = 1 / Double(outputs)
        try forEachBlock { rows, pass in
            try Self.forward(pass, g, columns: columns, weight: weight,
                             into: out.rowRange(rows.lowerBound, rows.upperBound), scratch: scratch.pointer)
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
            try EmpiricalNTKOperator.forward(pass, g, columns: width, weight: weight,
                                             into: out.rowRange(r.lowerBound, r.upperBound), scratch: scratch.pointer)
            try progress.report(Double(r.upperBound) / Double(rows))
        }
    }
}
