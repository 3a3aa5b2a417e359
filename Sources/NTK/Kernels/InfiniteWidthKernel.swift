/// The infinite-width NNGP `Σ` and NTK `Θ` of an MLP architecture (widths do not matter in the
/// NTK parameterization; its weights are never used). The recursion (docs/conventions.md, as
/// neural-tangents), over the dense layers l = 0…L with the activation between them:
///
///     input:          Σ = x·x'/d,   Θ = 0
///     dense (ntk):    Σ ← W_std² Σ + b_std²,   Θ ← Σ + W_std² Θ       (Σ updated first)
///     dense (std):    Θ ← fan_in · Σ + 1 + W_std² Θ,   Σ ← W_std² Σ + b_std²
///     nonlinearity:   Σ ← E[φ(u)φ(v)],   Θ ← Θ · E[φ'(u)φ'(v)],  (u, v) ~ N(0, Σ on {x, x'})
///
/// (`b_std²` and the `+1` only with biases). In the standard parameterization the NTK grows with
/// the widths (`fan_in · Σ`): there is no width-independent limit, and the recursion is
/// evaluated with the architecture's actual widths, the large-width approximation of that
/// network's kernel. The expectations are `GaussianExpectation`'s closed forms or quadrature.
///
/// Safety: correlations are clipped to [−1, 1]; the diagonal (x = x') uses ρ = 1 exactly;
/// zero-norm inputs are handled exactly. The input kernel x·x'/d of every pair comes first, from
/// one multithreaded BLAS-3 call (DSYRK + DGEMM on the lower triangle in the symmetric case)
/// staged in an output; then the layers run in 256 × 256 tiles on `Parallel` threads with
/// progress, O(L) elementwise work per pair (m² activation evaluations for quadrature
/// activations), no BLAS call among them (small threaded GEMMs inside the tiles oversubscribed
/// the cores with OpenBLAS's own threads); the symmetric case once per pair and exactly symmetric.
///
/// Single precision (the `SingleMatrixView` form): the input Gram (SSYRK/SGEMM), the dense
/// updates and the closed-form rows (eight floats at a time) run in float; quadrature
/// activations evaluate each entry in double and round it; the diagonal comes from the double
/// recursion, rounded. Near ρ = 1 the arccosine's infinite slope turns float's rounding of ρ
/// into errors of order √ε ≈ 3e-4 in the relu family's NTK; docs/conventions.md has the
/// measured errors.
public enum InfiniteWidthKernel {
    /// Computes `Σ(X1, X2)` into `nngp` and `Θ(X1, X2)` into `ntk` (each n1 × n2, or nil when
    /// not wanted); `x2 = nil` means X1's own kernel.
    public static func compute(_ architecture: MLPArchitecture, _ x1: MatrixView, _ x2: MatrixView?,
                               nngp: MutableMatrixView?, ntk: MutableMatrixView?,
                               points: Int = 0, progress: ProgressHandler = .none) throws {
        try compute(architecture, x1, x2, nngp: nngp, ntk: ntk, points: points, progress: progress, log: true)
    }

    /// `compute` in single precision: inputs and kernels as floats (see the type's notes on
    /// accuracy).
    public static func compute(_ architecture: MLPArchitecture, _ x1: SingleMatrixView, _ x2: SingleMatrixView?,
                               nngp: MutableSingleMatrixView?, ntk: MutableSingleMatrixView?,
                               points: Int = 0, progress: ProgressHandler = .none) throws {
        try compute(architecture, x1, x2, nngp: nngp, ntk: ntk, points: points, progress: progress, log: true)
    }

    /// `compute` in either precision, with the log line optional: blocked callers (Nyström
    /// passes) log once themselves.
    static func compute<S: InfiniteWidthScalar>(_ architecture: MLPArchitecture, _ x1: RowMajorView<S>,
                                                _ x2: RowMajorView<S>?, nngp: MutableRowMajorView<S>?,
                                                ntk: MutableRowMajorView<S>?, points: Int, progress: ProgressHandler,
                                                log: Bool) throws {
        let a = architecture
        let (n1, n2) = try request(x1, x2, nngp: nngp, ntk: ntk) { try check(a, $0, $1) }
        let expect = try GaussianExpectation(a.activation, points: points)
        try progress.report(0)
        if n1 == 0 || n2 == 0 || (nngp == nil && ntk == nil) { return try progress.report(1) }
        let d1 = try DiagonalRecursion(a, x1, expect)
        let d2 = try x2.map { try DiagonalRecursion(a, $0, expect) } ?? d1
        let (q1, q2) = (d1.variances(S.self), x2 == nil ? nil : d2.variances(S.self))
        let other = x2 ?? x1
        let tile = 256
        var pairs: [(Range<Int>, Range<Int>)] = []
        for i in stride(from: 0, to: n1, by: tile) {
            for j in stride(from: 0, to: n2, by: tile) where x2 != nil || j <= i {
                pairs.append((i..<min(i + tile, n1), j..<min(j + tile, n2)))
            }
        }
        // x·x'/d for every pair (the lower triangle of a symmetric kernel), staged in an output.
        let staging = (nngp ?? ntk)!
        if x2 == nil {
            try Gram.symmetric(x1, alpha: 1 / S(a.inputDimension), out: staging, progress: progress.stage(0, 0.1),
                               mirror: false)
        } else {
            try Gram.general(x1, other, alpha: 1 / S(a.inputDimension), out: staging,
                             progress: progress.stage(0, 0.1))
        }
        let threads = Parallel.defaultThreads
        if log { Log.info("infinite-width kernels: \(a.activation), \(a.layerCount) dense layers, \(n1) x "
                          + "\(n2) pairs in \(pairs.count) tiles of \(tile) x \(tile) on \(threads) threads, "
                          + "\(S.precisionName) precision; expectations: \(expect.method)") }
        let scratch = try (0..<threads).map { _ in
            (try AlignedBuffer<S>(count: tile * tile, for: "a kernel tile"),
             try AlignedBuffer<S>(count: tile * tile, for: "a kernel tile"))
        }
        try Parallel.forEach(count: pairs.count, threads: threads, progress: progress.stage(0.1, 1)) { item, worker in
            let (r1, r2) = pairs[item]
            let (s, t) = scratch[worker]
            let m = r1.count, n = r2.count
            for i in 0..<m {
                (s.pointer + i * n).update(from: staging.base + (r1.lowerBound + i) * staging.ld + r2.lowerBound,
                                           count: n)
            }
            if x2 == nil && r1 == r2 {  // a diagonal tile: the staged Gram has its lower triangle only
                for i in 0..<m { for j in (i + 1)..<n { s.pointer[i * n + j] = s.pointer[j * n + i] } }
            }
            t.pointer.update(repeating: 0, count: m * n)
            for l in 0..<a.layerCount {
                dense(a, l, sigma: s.pointer, theta: t.pointer, count: m * n)
                guard l < a.layerCount - 1 else { break }
                q1[l].withUnsafeBufferPointer { v1 in
                    (q2?[l] ?? q1[l]).withUnsafeBufferPointer { v2 in
                        nonlinearity(expect, q1: v1.baseAddress!, rows: r1, q2: v2.baseAddress!, cols: r2,
                                     sigma: s.pointer, theta: t.pointer)
                    }
                }
            }
            nngp.map { store(s.pointer, rows: r1, cols: r2, into: $0, mirrored: x2 == nil) }
            ntk.map { store(t.pointer, rows: r1, cols: r2, into: $0, mirrored: x2 == nil) }
        }
        if x2 == nil {
            // x = x': the exact diagonal recursion (ρ = 1), not the clipped correlation.
            for i in 0..<n1 {
                nngp?[i, i] = S(d1.nngp[i])
                ntk?[i, i] = S(d1.ntk[i])
            }
        }
        if let nngp { try InputCheck.finiteResult(nngp, "the infinite-width NNGP") }
        if let ntk { try InputCheck.finiteResult(ntk, "the infinite-width NTK") }
        try progress.report(1)
    }

    /// Checks a kernel request — both input sets by `check` (columns, finiteness), the outputs'
    /// shapes, the size of n1 × n2 entries — and returns (n1, n2). Shared by every infinite-width
    /// kernel.
    static func request<S>(_ x1: RowMajorView<S>, _ x2: RowMajorView<S>?, nngp: MutableRowMajorView<S>?,
                           ntk: MutableRowMajorView<S>?,
                           check: (RowMajorView<S>, String) throws -> Void) throws -> (Int, Int) {
        try check(x1, "X1")
        if let x2 { try check(x2, "X2") }
        let n1 = x1.rows, n2 = x2?.rows ?? n1
        _ = try Sizes.product(try Sizes.product(n1, n2, "kernel size"), MemoryLayout<S>.stride, "kernel bytes")
        for out in [nngp, ntk].compactMap({ $0 }) { try EmpiricalKernel.checkShape(out, rows: n1, cols: n2) }
        return (n1, n2)
    }

    /// Writes the tile (rows × cols of `out`, contiguous at `tile`) into `out`; `mirrored` (a
    /// symmetric kernel, whose tiles are on or below the diagonal) also writes its transpose into
    /// the (cols, rows) block, or, for a diagonal tile, its strict lower triangle onto the upper
    /// one (so that the result is exactly symmetric). The transposed reads stay in the cached
    /// tile, the writes are rows of `out`.
    private static func store<S>(_ tile: UnsafePointer<S>, rows r1: Range<Int>, cols r2: Range<Int>,
                                 into out: MutableRowMajorView<S>, mirrored: Bool) {
        let m = r1.count, n = r2.count
        for i in 0..<m {
            (out.base + (r1.lowerBound + i) * out.ld + r2.lowerBound).update(from: tile + i * n, count: n)
        }
        guard mirrored else { return }
        for j in 0..<n {
            let row = out.base + (r2.lowerBound + j) * out.ld + r1.lowerBound
            for i in (r1 == r2 ? j + 1 : 0)..<m { row[i] = tile[i * n + j] }
        }
    }

    /// `Σ(x, x)` and `Θ(x, x)` for each row of `x` (n each, or nil), O(n·(d + L)) work.
    package static func diagonal(_ architecture: MLPArchitecture, _ x: MatrixView, nngp: UnsafeMutablePointer<Double>?,
                                ntk: UnsafeMutablePointer<Double>?, points: Int = 0) throws {
        try check(architecture, x, "X")
        let d = try DiagonalRecursion(architecture, x, try GaussianExpectation(architecture.activation, points: points))
        for i in 0..<x.rows {
            nngp?[i] = d.nngp[i]
            ntk?[i] = d.ntk[i]
        }
    }

    static func check<S: BLASScalar>(_ a: MLPArchitecture, _ x: RowMajorView<S>, _ name: String) throws {
        guard x.cols == a.inputDimension else {
            throw NTKError.dimensionMismatch("\(name) has \(x.cols) columns but the input dimension is "
                                             + "\(a.inputDimension)")
        }
        _ = try Sizes.blasInt(x.rows, "rows of \(name)")
        _ = try Sizes.blasInt(x.ld, "leading dimension of \(name)")
        try InputCheck.finite(x, name)
    }

    /// The nonlinearity update of a tile: Σ ← T(q1, q2, Σ), Θ ← Θ · T'(q1, q2, Σ), tile row i
    /// with variance `q1[rows.lowerBound + i]`, column j with `q2[cols.lowerBound + j]`. The
    /// activation is chosen once per tile, so the closed forms run in tight loops. The scalar
    /// paths (quadrature, zero variances) evaluate in double whatever the tile's precision.
    static func nonlinearity<S: InfiniteWidthScalar>(_ expect: GaussianExpectation, q1: UnsafePointer<S>,
                                                     rows: Range<Int>, q2: UnsafePointer<S>, cols: Range<Int>,
                                                     sigma: UnsafeMutablePointer<S>, theta: UnsafeMutablePointer<S>) {
        @inline(__always) func each(_ f: (Double, Double, Double) -> (Double, Double)) {
            let n = cols.count
            for (i, a) in rows.enumerated() {
                let qi = Double(q1[a]), s = sigma + i * n, t = theta + i * n
                for (j, b) in cols.enumerated() {
                    let qj = Double(q2[b])
                    let (e, de) = qi > 0 && qj > 0 ? f(qi, qj, Double(s[j])) : expect.degenerate(qi, qj)
                    t[j] *= S(de)
                    s[j] = S(e)
                }
            }
        }
        if expect.usesMixture {
            // Each point's mixture data once per tile, then M1·M2 terms per pair.
            let rowPoints = rows.map { q1[$0] > 0 ? expect.mixturePoint(Double(q1[$0])) : nil }
            let colPoints = cols.map { q2[$0] > 0 ? expect.mixturePoint(Double(q2[$0])) : nil }
            let n = cols.count
            for i in 0..<rows.count {
                let s = sigma + i * n, t = theta + i * n
                for j in 0..<n {
                    let (e, de): (Double, Double)
                    if let a = rowPoints[i], let b = colPoints[j] {
                        (e, de) = expect.mixturePair(a, b, Double(s[j]))
                    } else {
                        (e, de) = expect.degenerate(Double(q1[rows.lowerBound + i]), Double(q2[cols.lowerBound + j]))
                    }
                    t[j] *= S(de)
                    s[j] = S(e)
                }
            }
            return
        }
        // Rows with positive variances go through a vectorised row update (`closed_form_rows.c`:
        // AVX2, polynomial arcsine); a tile with a zero variance anywhere (zero-norm inputs
        // without bias) takes the scalar path.
        guard let row: RowUpdate<S> = closedFormRow(expect), cols.allSatisfy({ q2[$0] > 0 }) else {
            return each(expect.pair)
        }
        let n = cols.count
        for (i, a) in rows.enumerated() {
            let qi = q1[a], s = sigma + i * n, t = theta + i * n
            if qi > 0 {
                row(q1 + a, 0, q2 + cols.lowerBound, s, t, n)
            } else {
                for j in 0..<n {
                    let (e, de) = expect.degenerate(Double(qi), Double(q2[cols.lowerBound + j]))
                    t[j] *= S(de)
                    s[j] = S(e)
                }
            }
        }
    }

    /// A vectorised row update `(q1, step, q2, Σ, Θ, count)`: Σ ← T, Θ ← Θ·T′ on `count` entries
    /// with row variances `q1[j · step]` and column variances `q2[j]`, all > 0 (see
    /// `InfiniteWidthScalar`).
    typealias RowUpdate<S> = (UnsafePointer<S>, Int, UnsafePointer<S>, UnsafeMutablePointer<S>,
                              UnsafeMutablePointer<S>, Int) -> Void

    /// The vectorised row update of `expect`'s activation when it has one (the closed forms of
    /// the relu family, erf and gelu), else nil (the scalar path).
    static func closedFormRow<S: InfiniteWidthScalar>(_ expect: GaussianExpectation) -> RowUpdate<S>? {
        guard expect.closedForm else { return nil }
        switch expect.activation {
        case .relu: return { reluRow(q1: $0, step: $1, columnVariance: $2, sigma: $3, theta: $4, count: $5,
                                     slope: nil) }
        case .leakyReLU(let slope):
            return { reluRow(q1: $0, step: $1, columnVariance: $2, sigma: $3, theta: $4, count: $5, slope: slope) }
        case .abs: return { reluRow(q1: $0, step: $1, columnVariance: $2, sigma: $3, theta: $4, count: $5,
                                    slope: -1) }
        case .erf: return { S.erfRow($0, step: $1, $2, $3, $4, $5) }
        case .gelu: return { S.geluRow($0, step: $1, $2, $3, $4, $5) }
        default: return nil
        }
    }

    /// The relu (slope nil), leaky relu or abs (slope −1) update of one row of a tile:
    /// `sigma[j] ← T(q1, q2[j], sigma[j])`, `theta[j] ← theta[j] · T'(…)`, as
    /// `GaussianExpectation.relu`/`leaky` but four doubles or eight floats at a time (AVX2 + FMA
    /// when the CPU has them; `ckernels_relu_row[_f32]`, with a polynomial acos within 2 ulp).
    /// Row variances `q1[j · step]` (see `InfiniteWidthScalar`). Requires every q1, q2 > 0.
    static func reluRow<S: InfiniteWidthScalar>(q1: UnsafePointer<S>, step: Int = 0,
                                                columnVariance q2: UnsafePointer<S>, sigma: UnsafeMutablePointer<S>,
                                                theta: UnsafeMutablePointer<S>, count n: Int, slope: Double?) {
        let a = slope ?? 0, b = 1 - a
        S.reluRow(q1, step: step, q2, sigma, theta, n, linear: S(a * a + a * b), quadratic: S(b * b))
    }

    /// The dense-layer update of `count` (Σ, Θ) entries.
    @inline(__always)
    static func dense<S: BinaryFloatingPoint>(_ a: MLPArchitecture, _ l: Int, sigma: UnsafeMutablePointer<S>,
                                              theta: UnsafeMutablePointer<S>, count: Int) {
        affine(w2: a.weightStd * a.weightStd, b2: a.hasBias ? a.biasStd * a.biasStd : 0, fanIn: Double(a.fanIn(l)),
               one: a.hasBias ? 1 : 0, standard: a.parameterization == .standard, sigma: sigma, theta: theta,
               count: count)
    }

    /// The update of a dense or convolutional layer on `count` (Σ, Θ) entries — NTK
    /// parameterization: `Σ ← w2 Σ + b2`, then `Θ ← Σ + w2 Θ`; standard: `Θ ← fanIn Σ + one + w2 Θ`,
    /// then `Σ ← w2 Σ + b2` — in the entries' precision. The MLP's and the layer recursion's one.
    @inline(__always)
    static func affine<S: BinaryFloatingPoint>(w2: Double, b2: Double, fanIn: Double, one: Double, standard: Bool,
                                               sigma: UnsafeMutablePointer<S>, theta: UnsafeMutablePointer<S>,
                                               count: Int) {
        let (w2, b2, fanIn, one) = (S(w2), S(b2), S(fanIn), S(one))
        if standard {
            for k in 0..<count {
                theta[k] = fanIn * sigma[k] + one + w2 * theta[k]
                sigma[k] = w2 * sigma[k] + b2
            }
        } else {
            for k in 0..<count {
                let v = w2 * sigma[k] + b2
                sigma[k] = v
                theta[k] = v + w2 * theta[k]
            }
        }
    }

    /// The recursion on the diagonal: per point, the pre-activation variance of every hidden
    /// layer (needed by the pair recursion) and the final Σ(x, x), Θ(x, x).
    struct DiagonalRecursion {
        var variance: [[Double]]   // [hidden layer][point]
        var nngp: [Double]
        var ntk: [Double]

        /// The recursion in double from the rows of `x` (either precision).
        init<S: BinaryFloatingPoint>(_ a: MLPArchitecture, _ x: RowMajorView<S>, _ expect: GaussianExpectation) throws {
            let n = x.rows
            var sigma = (0..<n).map { i -> Double in
                var s = 0.0
                let row = x.row(i)
                for j in 0..<x.cols { s += Double(row[j]) * Double(row[j]) }
                return s / Double(a.inputDimension)
            }
            var theta = [Double](repeating: 0, count: n)
            variance = []
            for l in 0..<a.layerCount {
                sigma.withUnsafeMutableBufferPointer { s in
                    theta.withUnsafeMutableBufferPointer { t in
                        if n > 0 { InfiniteWidthKernel.dense(a, l, sigma: s.baseAddress!, theta: t.baseAddress!,
                                                             count: n) }
                    }
                }
                guard l < a.layerCount - 1 else { break }
                variance.append(sigma)
                for i in 0..<n {
                    let (e, de) = expect.diagonal(sigma[i])
                    theta[i] *= de
                    sigma[i] = e
                }
            }
            nngp = sigma
            ntk = theta
        }

        /// The variances rounded to the tile's precision.
        func variances<S: BinaryFloatingPoint>(_: S.Type) -> [[S]] { variance.map { $0.map { S($0) } } }
    }
}

extension MLPArchitecture {
    /// The infinite-width NNGP `Σ(X1, X2)` and NTK `Θ(X1, X2)` of this architecture between the
    /// rows of `x1` (n1 × d) and `x2` (n2 × d; nil: `x1` itself, exactly symmetric with the
    /// exact diagonal), each n1 × n2. See `InfiniteWidthKernel` for the recursion and accuracy.
    public func infiniteWidthKernels(_ x1: Matrix, _ x2: Matrix? = nil, points: Int = 0,
                                     progress: ProgressHandler = .none) throws -> (nngp: Matrix, ntk: Matrix) {
        try InfiniteWidthKernel.matrices(x1, x2) { v1, v2, s, t in
            try InfiniteWidthKernel.compute(self, v1, v2, nngp: s, ntk: t, points: points, progress: progress)
        }
    }
}

extension InfiniteWidthKernel {
    /// The n1 × n2 NNGP and NTK matrices of `Matrix` inputs, filled by `compute` on views (the
    /// `Matrix` front of every infinite-width kernel).
    static func matrices(_ x1: Matrix, _ x2: Matrix?,
                         _ compute: (MatrixView, MatrixView?, MutableMatrixView, MutableMatrixView) throws -> Void)
        throws -> (nngp: Matrix, ntk: Matrix) {
        var nngp = try Matrix(rows: x1.rows, cols: x2?.rows ?? x1.rows)
        var ntk = nngp
        try x1.withView { v1 in
            try Matrix.withOptionalView(x2) { v2 in
                try nngp.withMutableView { s in try ntk.withMutableView { t in try compute(v1, v2, s, t) } }
            }
        }
        return (nngp, ntk)
    }
}

extension MLPArchitecture {
    /// `Σ(x, x)` and `Θ(x, x)` for each row of `x` (n entries each), O(n·(d + L)) work, from the
    /// exact diagonal recursion (ρ = 1).
    public func infiniteWidthDiagonal(_ x: Matrix) throws -> (nngp: [Double], ntk: [Double]) {
        var nngp = [Double](repeating: 0, count: x.rows), ntk = nngp
        try x.withView { xv in
            try nngp.withUnsafeMutableBufferPointer { s in
                try ntk.withUnsafeMutableBufferPointer { t in
                    try InfiniteWidthKernel.diagonal(self, xv, nngp: s.baseAddress, ntk: t.baseAddress)
                }
            }
        }
        return (nngp, ntk)
    }
}
