/// The empirical neural tangent kernel of an MLP (eq. 4, 11 in docs/equations.md):
///
///     K_cc'(x, x') = Σ_p ∂f_c(x)/∂θ_p · ∂f_c'(x')/∂θ_p
///
/// summed over all weights and biases, not divided by width or n (docs/conventions.md, as neural-tangents).
///
/// The *structured* method never forms the n × P Jacobian. Per layer l, with `h_l` the layer's
/// input and `Δ_l` its backpropagated signals (see `NetworkPass`),
///
///     K_cc' = Σ_l (a_l² h_l(x)·h_l(x') + c_l²) · Δ_l^c(x)·Δ_l^c'(x')
///
/// (the `c_l²` term only with biases): a Gram of activations times a Gram of signals, each a
/// GEMM. The *Jacobian* method builds explicit Jacobian columns in chunks and contracts them;
/// it is the reference the structured method is tested against.
///
/// Output forms (`KernelOutput`): `.mean`, the mean over the k outputs of `K_cc` (n1 × n2);
/// `.perOutput`, `K_cc` for each c (n1 × n2 × k); `.full`, every `K_cc'` (n1 × n2 × k × k).
/// Outputs are contiguous row-major with those shapes.
///
/// Memory: samples are processed in blocks whose activations and signals fit `memoryLimit`
/// bytes (default: the process-wide `MemoryBudget`); when all of them fit, each sample's forward and backward
/// pass runs once, otherwise blocks are recomputed as needed (more time, bounded memory). The
/// kernel itself is assembled in tiles (1024 × 1024 for the structured method, whose Grams are
/// then GEMMs large enough to run near the DGEMM rate; 256 × 256 for the Jacobian method, whose
/// scratch grows with the tile times k²); the symmetric case (`x2 = nil`) computes the lower
/// triangle of tiles only and mirrors it, so it is exactly symmetric.
///
/// Precision: double by default; with single-precision inputs and output (`SingleMatrixView`) the
/// whole computation — θ rounded once, the passes, the Grams (SGEMM/SSYRK), the sums — runs in
/// single precision: half the memory traffic and about twice the BLAS rate, for a relative error
/// of order 1e-6 of the kernel's scale (measured in docs/conventions.md), as neural-tangents'
/// default float32.
public enum EmpiricalKernel {
    /// The shape of a kernel with k outputs: how many entries each pair (x, x′) has.
    public enum Output: Sendable {
        /// One entry per pair: the mean over outputs of `K_cc`.
        case mean
        /// k·k entries per pair: every `K_cc'` (c' fastest).
        case full
        /// k entries per pair: `K_cc` for each output c.
        case perOutput

        /// Entries per (x, x') pair for k outputs.
        public func entries(_ k: Int) -> Int {
            switch self {
            case .mean: 1
            case .perOutput: k
            case .full: k * k
            }
        }
    }

    /// How the kernel is computed; both give the same kernel to rounding.
    public enum Method: Sendable {
        case structured
        case jacobian
    }

    /// The tile size of a method (see the type's notes).
    static func tile(_ method: Method) -> Int { method == .structured ? 1024 : 256 }
    /// The fewest rows of a block of samples when they do not all fit the memory limit.
    static let minimumBlock = 64

    /// Computes the kernel of `mlp` between the rows of `x1` (n1 × d) and of `x2` (n2 × d, or nil
    /// for `x1` itself) into `out`, an n1 × (n2 · entries) matrix: the entries of pair (i, j)
    /// start at `out[i, j · entries]`.
    /// - Throws: `dimensionMismatch` (input width), `nonFinite`, `tooLarge`, `outOfMemory`,
    ///   `cancelled`.
    public static func compute(_ mlp: MLP, _ x1: MatrixView, _ x2: MatrixView?, output form: Output = .mean,
                               method: Method = .structured, into out: MutableMatrixView,
                               memoryLimit: Int? = nil, progress: ProgressHandler = .none) throws {
        try compute(mlp, x1, x2, output: form, method: method, into: out, memoryLimit: memoryLimit,
                    progress: progress, tile: tile(method))
    }

    /// `compute` in single precision: inputs and kernel as floats, every step in single
    /// precision (see the type's notes on accuracy).
    public static func compute(_ mlp: MLP, _ x1: SingleMatrixView, _ x2: SingleMatrixView?,
                               output form: Output = .mean, method: Method = .structured,
                               into out: MutableSingleMatrixView, memoryLimit: Int? = nil,
                               progress: ProgressHandler = .none) throws {
        try compute(mlp, x1, x2, output: form, method: method, into: out, memoryLimit: memoryLimit,
                    progress: progress, tile: tile(method))
    }

    /// `compute` in either precision, with the tile size given (tests use small tiles to
    /// exercise many of them).
    static func compute<S: BLASScalar>(_ mlp: MLP, _ x1: RowMajorView<S>, _ x2: RowMajorView<S>?, output form: Output,
                                       method: Method, into out: MutableRowMajorView<S>, memoryLimit: Int?,
                                       progress: ProgressHandler, tile: Int) throws {
        let a = mlp.architecture, k = a.outputDimension
        try mlp.checkInput(x1, "X1")
        if let x2 { try mlp.checkInput(x2, "X2") }
        let n1 = x1.rows, n2 = x2?.rows ?? n1
        let entries = form.entries(k)
        try checkShape(out, rows: n1, cols: n2 * entries)
        _ = try Sizes.product(try Sizes.product(try Sizes.product(n1, n2, "kernel size"), entries, "kernel size"),
                              MemoryLayout<S>.stride, "kernel bytes")
        let limit = try MemoryBudget.resolve(memoryLimit)
        try progress.report(0)
        if n1 == 0 || n2 == 0 { return try progress.report(1) }
        let parameters = try ScalarParameters<S>(mlp.parameters, count: a.parameterCount)
        let theta = parameters.pointer
        let perRow = NetworkPass<S>.bytesPerRow(a, deltas: true)
        let symmetric = x2 == nil
        let together = symmetric ? n1 : n1 + n2
        // Rows per block: everything at once if it fits, else two blocks within the budget.
        let block1: Int, block2: Int
        if together * perRow <= limit {
            (block1, block2) = (n1, n2)
        } else {
            let rows = max(minimumBlock, limit / (2 * max(perRow, 1)))
            (block1, block2) = (min(rows, n1), min(rows, n2))
        }
        Log.info("empirical NTK: \(method) method, \(n1) x \(n2) pairs in \(S.precisionName) precision, "
                 + "\(a.parameterCount) parameters; activations and signals need \(Log.bytes(together * perRow)) "
                 + "against a memory limit of \(Log.bytes(limit)): "
                 + (block1 < n1 || block2 < n2 ? "blocks of \(block1) rows, recomputed per block pair"
                    : together * perRow <= limit ? "one pass" : "one pass (blocks have at least \(minimumBlock) rows)"))
        let pass1 = try NetworkPass<S>(a, capacity: block1, deltas: true)
        let pass2 = symmetric ? nil : try NetworkPass<S>(a, capacity: block2, deltas: true)
        let tile = min(tile, max(block1, block2))  // tiles never exceed the blocks
        let scratch = try TileScratch<S>(a, form: form, method: method, tile: tile)

        let blocks1 = stride(from: 0, to: n1, by: block1).map { $0..<min($0 + block1, n1) }
        let blocks2 = symmetric ? blocks1 : stride(from: 0, to: n2, by: block2).map { $0..<min($0 + block2, n2) }
        var totalTiles = 0, doneTiles = 0
        for (i, b1) in blocks1.enumerated() {
            for b2 in (symmetric ? Array(blocks2[0...i]) : blocks2) {
                totalTiles += tiles(b1, b2, sameBlock: symmetric && b1 == b2, tile: tile).count
            }
        }
        let other = x2 ?? x1
        if let pass2, blocks2.count == 1 { try pass2.run(other, theta) }
        for (i, b1) in blocks1.enumerated() {
            try pass1.run(x1.rowRange(b1.lowerBound, b1.upperBound), theta)
            for b2 in (symmetric ? Array(blocks2[0...i]) : blocks2) {
                let same = symmetric && b1 == b2
                let p2: NetworkPass<S>
                if same {
                    p2 = pass1
                } else if let pass2 {
                    p2 = pass2
                    if blocks2.count > 1 { try pass2.run(other.rowRange(b2.lowerBound, b2.upperBound), theta) }
                } else {
                    // Symmetric, earlier block: recompute it in the second pass buffer.
                    p2 = try scratch.secondPass(a, capacity: block1)
                    try p2.run(x1.rowRange(b2.lowerBound, b2.upperBound), theta)
                }
                for (r1, r2) in tiles(b1, b2, sameBlock: same, tile: tile) {
                    // r1, r2 are absolute rows; the passes hold their block's rows from 0.
                    let local1 = (r1.lowerBound - b1.lowerBound)..<(r1.upperBound - b1.lowerBound)
                    let local2 = (r2.lowerBound - b2.lowerBound)..<(r2.upperBound - b2.lowerBound)
                    let target = KernelTile(out: out.base, ld: out.ld, entries: entries, rows: r1, cols: r2)
                    switch method {
                    case .structured: try structuredTile(pass1, local1, p2, local2, form, target, scratch)
                    case .jacobian: try jacobianTile(pass1, local1, p2, local2, form, target, scratch)
                    }
                    doneTiles += 1
                    try progress.report(0.99 * Double(doneTiles) / Double(totalTiles))
                }
            }
        }
        if symmetric { try mirror(out, n: n1, form: form, k: k) }
        try InputCheck.finiteResult(out, "the empirical NTK")
        try progress.report(1)
    }

    /// The diagonal `K(x, x)` alone, O(n·P) work, into `out`: n × 1 for `.mean`, n × k for
    /// `.perOutput`.
    public static func diagonal(_ mlp: MLP, _ x: MatrixView, output form: Output = .mean,
                                into out: MutableMatrixView, memoryLimit: Int? = nil) throws {
        guard form != .full else {
            throw NTKError.invalidArgument("the diagonal is available as mean or per_output, not full")
        }
        let a = mlp.architecture, k = a.outputDimension, layers = a.layerCount
        try mlp.checkInput(x, "X")
        let n = x.rows
        try checkShape(out, rows: n, cols: form.entries(k))
        if n == 0 { return }
        let limit = try MemoryBudget.resolve(memoryLimit)
        let block = min(n, max(minimumBlock, limit / max(NetworkPass<Double>.bytesPerRow(a, deltas: true), 1)))
        let pass = try NetworkPass<Double>(a, capacity: block, deltas: true)
        let theta = mlp.parameters
        let c2 = a.hasBias ? a.biasScale * a.biasScale : 0
        let e = form.entries(k)
        for r0 in stride(from: 0, to: n, by: block) {
            let rows = min(block, n - r0)
            try pass.run(x.rowRange(r0, r0 + rows), theta)
            for s in 0..<rows {
                let dst = out.base + (r0 + s) * out.ld
                dst.update(repeating: 0, count: e)
                for l in 0..<layers {
                    let h = pass.input(l).row(s), fanIn = a.fanIn(l), scale = a.weightScale(l)
                    var norm = 0.0
                    for i in 0..<fanIn { norm += h[i] * h[i] }
                    let activations = scale * scale * norm + c2
                    if l == layers - 1 {
                        for c in 0..<e { dst[c] += activations }
                        continue
                    }
                    let w = a.fanOut(l), delta = pass.delta(l).row(s)
                    for c in 0..<k {
                        var signal = 0.0
                        for j in 0..<w { signal += delta[c * w + j] * delta[c * w + j] }
                        if form == .mean {
                            dst[0] += activations * signal / Double(k)
                        } else {
                            dst[c] += activations * signal
                        }
                    }
                }
            }
        }
    }

    /// The tile pairs of two row blocks; for the same block only the lower triangle.
    static func tiles(_ b1: Range<Int>, _ b2: Range<Int>, sameBlock: Bool, tile: Int) -> [(Range<Int>, Range<Int>)] {
        var result: [(Range<Int>, Range<Int>)] = []
        for i in stride(from: b1.lowerBound, to: b1.upperBound, by: tile) {
            let r1 = i..<min(i + tile, b1.upperBound)
            for j in stride(from: b2.lowerBound, to: b2.upperBound, by: tile) {
                if sameBlock && j > i { break }
                result.append((r1, j..<min(j + tile, b2.upperBound)))
            }
        }
        return result
    }

    /// Checks that an output has the shape of the kernel it receives.
    static func checkShape<S>(_ out: MutableRowMajorView<S>, rows: Int, cols: Int) throws {
        guard out.rows == rows, out.cols == cols else {
            throw NTKError.dimensionMismatch("the output is \(out.rows) × \(out.cols) but the kernel is \(rows) × "
                                             + "\(cols)")
        }
    }

    /// Where a tile goes in the output.
    struct KernelTile<S: BLASScalar> {
        let out: UnsafeMutablePointer<S>
        let ld: Int
        let entries: Int
        let rows: Range<Int>
        let cols: Range<Int>

        /// Pointer to the entries of pair (i, j), tile-local indices.
        @inline(__always) func at(_ i: Int, _ j: Int) -> UnsafeMutablePointer<S> {
            out + (rows.lowerBound + i) * ld + (cols.lowerBound + j) * entries
        }

        func zero() {
            for i in 0..<rows.count { at(i, 0).update(repeating: 0, count: cols.count * entries) }
        }
    }

    /// Reusable buffers of one kernel computation.
    final class TileScratch<S: BLASScalar> {
        typealias Buffer = AlignedBuffer<S>
        let gramH: Buffer, gramD: Buffer
        let jacobian1: Buffer?, jacobian2: Buffer?, contraction: Buffer?
        let jacobianColumns: Int
        private var spare: NetworkPass<S>?

        init(_ a: MLPArchitecture, form: Output, method: Method, tile t: Int) throws {
            let k = a.outputDimension
            gramH = try Buffer(count: t * t, for: "a kernel tile")
            gramD = try Buffer(count: t * t, for: "a kernel tile")
            if method == .jacobian {
                // Jacobian chunks of at most 2²² entries (32 MiB of doubles) per side.
                let widest = (0..<a.layerCount).map { a.fanOut($0) + 1 }.max() ?? 1
                jacobianColumns = max(widest, (1 << 22) / max(t * k, 1))
                jacobian1 = try Buffer(count: try Sizes.product(t * k, jacobianColumns, "Jacobian chunk"),
                                       for: "Jacobian chunks")
                jacobian2 = try Buffer(count: try Sizes.product(t * k, jacobianColumns, "Jacobian chunk"),
                                       for: "Jacobian chunks")
                contraction = try Buffer(count: try Sizes.product(t * k, t * k, "contraction"),
                                         for: "the contraction")
            } else {
                (jacobianColumns, jacobian1, jacobian2, contraction) = (0, nil, nil, nil)
            }
        }

        func secondPass(_ a: MLPArchitecture, capacity: Int) throws -> NetworkPass<S> {
            if let spare { return spare }
            let p = try NetworkPass<S>(a, capacity: capacity, deltas: true)
            spare = p
            return p
        }
    }

    /// Structured tile: Σ_l (a² H_l + c²) ⊙ D_l.
    static func structuredTile<S: BLASScalar>(_ p1: NetworkPass<S>, _ r1: Range<Int>, _ p2: NetworkPass<S>,
                                              _ r2: Range<Int>, _ form: Output, _ target: KernelTile<S>,
                                              _ scratch: TileScratch<S>) throws {
        let a = p1.architecture, k = a.outputDimension, layers = a.layerCount
        let m = r1.count, n = r2.count
        let h = MutableRowMajorView(unchecked: scratch.gramH.pointer, rows: m, cols: n, ld: n)
        let d = MutableRowMajorView(unchecked: scratch.gramD.pointer, rows: m, cols: n, ld: n)
        let c2 = S(a.hasBias ? a.biasScale * a.biasScale : 0)
        // A tile on the diagonal of a symmetric kernel: only its lower triangle is needed (the
        // mirror fills the rest), so Grams of one block with itself are DSYRKs.
        let diagonal = p1 === p2 && r1 == r2
        func product(_ x: RowMajorView<S>, _ y: RowMajorView<S>, alpha: S, into c: MutableRowMajorView<S>) throws {
            if diagonal {
                try MatrixProduct.syrkLower(x, alpha: alpha, into: c)
            } else {
                try MatrixProduct.gemm(x, y, transposeB: true, alpha: alpha, into: c)
            }
        }
        /// Columns of row i that are needed.
        @inline(__always) func width(_ i: Int) -> Int { diagonal ? i + 1 : n }
        // The first hidden layer's terms are stored (not added), so the tile is not zeroed first
        // unless there is no hidden layer; c² is added as each Gram is read, not in a pass of its own.
        if layers == 1 { target.zero() }
        for l in 0..<layers {
            let scale = S(a.weightScale(l))
            try product(p1.input(l).rowRange(r1.lowerBound, r1.upperBound),
                        p2.input(l).rowRange(r2.lowerBound, r2.upperBound),
                        alpha: scale * scale, into: h)
            if l == layers - 1 {
                // Output layer: Δ_L^c · Δ_L^c' = [c = c'].
                try inRowChunks(m) { i in
                    let hi = h.base + i * n, e = target.at(i, 0)
                    switch form {
                    case .mean: for j in 0..<width(i) { e[j] += hi[j] + c2 }
                    case .perOutput: for j in 0..<width(i) { for c in 0..<k { e[j * k + c] += hi[j] + c2 } }
                    case .full: for j in 0..<width(i) { for c in 0..<k { e[j * k * k + c * k + c] += hi[j] + c2 } }
                    }
                }
                continue
            }
            let delta1 = p1.delta(l).rowRange(r1.lowerBound, r1.upperBound)
            let delta2 = p2.delta(l).rowRange(r2.lowerBound, r2.upperBound)
            let w = a.fanOut(l)
            // K += (H + c²) ⊙ D over the tile (K = for the first layer).
            let first = l == 0
            func accumulate(_ entry: Int) throws {
                let stride = target.entries
                try inRowChunks(m) { i in
                    let hi = h.base + i * n, di = d.base + i * n, e = target.at(i, 0) + entry
                    switch (stride == 1, first) {
                    case (true, true): for j in 0..<width(i) { e[j] = (hi[j] + c2) * di[j] }
                    case (true, false): for j in 0..<width(i) { e[j] += (hi[j] + c2) * di[j] }
                    case (false, true): for j in 0..<width(i) { e[j * stride] = (hi[j] + c2) * di[j] }
                    case (false, false): for j in 0..<width(i) { e[j * stride] += (hi[j] + c2) * di[j] }
                    }
                }
            }
            switch form {
            case .mean:
                try product(delta1, delta2, alpha: 1 / S(k), into: d)
                try accumulate(0)
            case .perOutput:
                for c in 0..<k {
                    try product(delta1.columns(c * w, (c + 1) * w), delta2.columns(c * w, (c + 1) * w), alpha: 1,
                                into: d)
                    try accumulate(c)
                }
            case .full:
                for c in 0..<k {
                    for c2 in 0..<k {
                        // Not symmetric in (x, x') for c ≠ c': a GEMM, of which the lower triangle is used.
                        try MatrixProduct.gemm(delta1.columns(c * w, (c + 1) * w), delta2.columns(c2 * w, (c2 + 1) * w),
                                               transposeB: true, into: d)
                        try accumulate(c * k + c2)
                    }
                }
            }
        }
    }

    /// `body(i)` for every row i < m, in chunks of 64 rows on the library's threads: the
    /// elementwise passes over a tile, memory-bound, between multithreaded GEMMs.
    static func inRowChunks(_ m: Int, _ body: (Int) -> Void) throws {
        let chunk = 64
        try withoutActuallyEscaping(body) { body in
            try Parallel.forEach(count: (m + chunk - 1) / chunk) { item, _ in
                for i in (item * chunk)..<min(m, (item + 1) * chunk) { body(i) }
            }
        }
    }

    /// Jacobian tile: explicit Jacobian chunks `J1` (m·k × cols) and `J2` (n·k × cols) contracted
    /// into `T = Σ J1 J2ᵀ` (m·k × n·k), then reduced to the output form.
    static func jacobianTile<S: BLASScalar>(_ p1: NetworkPass<S>, _ r1: Range<Int>, _ p2: NetworkPass<S>,
                                            _ r2: Range<Int>, _ form: Output, _ target: KernelTile<S>,
                                            _ scratch: TileScratch<S>) throws {
        guard let j1 = scratch.jacobian1, let j2 = scratch.jacobian2, let tBuffer = scratch.contraction else {
            throw NTKError(.internalError, "Jacobian scratch missing")
        }
        let a = p1.architecture, k = a.outputDimension
        let m = r1.count, n = r2.count
        let t = MutableRowMajorView(unchecked: tBuffer.pointer, rows: m * k, cols: n * k, ld: n * k)
        t.fill(0)
        for l in 0..<a.layerCount {
            let fanOut = a.fanOut(l), fanIn = a.fanIn(l)
            let unitsPerChunk = max(1, (scratch.jacobianColumns - fanOut) / fanOut)
            var i0 = 0
            while i0 < fanIn {
                let i1 = min(i0 + unitsPerChunk, fanIn)
                let withBias = a.hasBias && i1 == fanIn
                let cols = (i1 - i0) * fanOut + (withBias ? fanOut : 0)
                let v1 = MutableRowMajorView(unchecked: j1.pointer, rows: m * k, cols: cols, ld: cols)
                let v2 = MutableRowMajorView(unchecked: j2.pointer, rows: n * k, cols: cols, ld: cols)
                JacobianColumns.write(p1, rows: r1, layer: l, units: i0..<i1, bias: withBias, into: v1)
                JacobianColumns.write(p2, rows: r2, layer: l, units: i0..<i1, bias: withBias, into: v2)
                try MatrixProduct.gemm(v1.readOnly, v2.readOnly, transposeB: true, beta: 1, into: t)
                i0 = i1
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                let e = target.at(i, j)
                switch form {
                case .mean:
                    var s: S = 0
                    for c in 0..<k { s += t[i * k + c, j * k + c] }
                    e[0] = s / S(k)
                case .perOutput:
                    for c in 0..<k { e[c] = t[i * k + c, j * k + c] }
                case .full:
                    for c in 0..<k { for c2 in 0..<k { e[c * k + c2] = t[i * k + c, j * k + c2] } }
                }
            }
        }
    }

    /// Copies the lower triangle of a symmetric kernel onto the upper one:
    /// `K(x_j, x_i)_{c'c} = K(x_i, x_j)_{cc'}`.
    /// Square blocks of `Symmetry.tile` keep the transposed writes in cache; blocks of rows run on
    /// the library's threads (each writes its own columns).
    static func mirror<S>(_ out: MutableRowMajorView<S>, n: Int, form: Output, k: Int) throws {
        let e = form.entries(k), t = Symmetry.tile
        try Parallel.forEach(count: (n + t - 1) / t) { block, _ in
            let i0 = block * t, i1 = min(n, i0 + t)
            for j0 in stride(from: 0, through: i0, by: t) {
                for i in i0..<i1 {
                    for j in j0..<min(j0 + t, i) {
                        let src = out.base + i * out.ld + j * e, dst = out.base + j * out.ld + i * e
                        switch form {
                        case .mean: dst[0] = src[0]
                        case .perOutput: for c in 0..<k { dst[c] = src[c] }
                        case .full: for c in 0..<k { for c2 in 0..<k { dst[c2 * k + c] = src[c * k + c2] } }
                        }
                    }
                }
            }
        }
    }
}

extension MLP {
    /// The empirical NTK, mean over outputs, between the rows of `x1` and `x2` (default `x1`):
    /// n1 × n2. `EmpiricalKernel.compute` has the other forms and options.
    public func empiricalNTK(_ x1: Matrix, _ x2: Matrix? = nil, method: EmpiricalKernel.Method = .structured,
                             progress: ProgressHandler = .none) throws -> Matrix {
        var out = try Matrix(rows: x1.rows, cols: x2?.rows ?? x1.rows)
        try x1.withView { v1 in
            try Matrix.withOptionalView(x2) { v2 in
                try out.withMutableView { try EmpiricalKernel.compute(self, v1, v2, method: method, into: $0,
                                                                      progress: progress) }
            }
        }
        return out
    }
}
