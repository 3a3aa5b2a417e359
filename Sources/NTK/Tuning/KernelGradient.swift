/// The hyperparameters of an infinite-width kernel that tuning moves: `W_std`, `b_std` (every
/// layer's) and per-feature input scales s, the kernel being that of the scaled inputs
/// `x ↦ s ∘ x` (automatic relevance determination; one shared scale is the case of d equal
/// entries). The depth, activation and parameterisation stay with the `MLPArchitecture`.
public struct KernelHyperparameters: Sendable, Equatable {
    public var weightStd: Double
    public var biasStd: Double
    /// s, one scale per input feature (d entries ≥ 0).
    public var inputScales: [Double]

    public init(weightStd: Double, biasStd: Double, inputScales: [Double]) {
        self.weightStd = weightStd
        self.biasStd = biasStd
        self.inputScales = inputScales
    }

    /// The number of hyperparameters p = d + 2, in the gradients' order [W_std, b_std, s_1 … s_d].
    public var count: Int { inputScales.count + 2 }

    /// The architecture with these W_std and b_std, after checking the scales against it.
    /// - Throws: `invalidArgument` (non-finite or negative values), `dimensionMismatch` (scales).
    func apply(to a: MLPArchitecture) throws -> MLPArchitecture {
        guard inputScales.count == a.inputDimension else {
            throw NTKError.dimensionMismatch("\(inputScales.count) input scales for \(a.inputDimension) input features")
        }
        for (j, s) in inputScales.enumerated() where !(s.isFinite && s >= 0) {
            throw NTKError.invalidArgument("input scale \(j) must be finite and ≥ 0, got \(s)")
        }
        return try MLPArchitecture(inputDimension: a.inputDimension, hiddenWidths: a.hiddenWidths,
                                   outputDimension: a.outputDimension, activation: a.activation,
                                   weightStd: weightStd, biasStd: biasStd, hasBias: a.hasBias,
                                   parameterization: a.parameterization)
    }
}

/// Exact derivatives of the infinite-width NNGP or NTK `K(X, X)` of the scaled inputs with
/// respect to `θ = [W_std, b_std, s_1 … s_d]`, by forward-mode differentiation of the layer
/// recursion of `InfiniteWidthKernel` (docs/tuning.md):
///
/// - every pair (x, x') carries, next to (Σ, Θ), their derivatives along five directions: W_std,
///   b_std, and the three input covariances c⁰ = Σ⁰(x, x'), q⁰ = Σ⁰(x, x), q'⁰ = Σ⁰(x', x');
///   each point's diagonal recursion carries its variance's derivatives along W_std, b_std, q⁰;
///   the nonlinearities use the jets of `GaussianExpectation` (∂T, ∂T' in q1, q2, c);
/// - the input scales enter only through Σ⁰(x, x') = Σ_j s_j² x_j x'_j / d, so
///   `∂K/∂s_j = (2 s_j / d)(K_c x_j x'_j + K_q x_j² + K_q' x'_j²)` with K_c, K_q, K_q' the
///   pair's three input-covariance derivatives; diagonal entries use their own recursion (ρ = 1).
///
/// `derivatives` writes all p matrices (p n² numbers); `contract` returns
/// `g_j = Σ_ab G_ab ∂K_ab/∂θ_j` for a symmetric weight matrix G (the gradient of any objective
/// whose derivative in K is G) without storing them: the per-pair work is O(depth), the scale
/// contraction one GEMM per tile, O(n² (d + depth)) in all. Tiles run on every core with progress
/// and cancellation, as the kernels.
public enum KernelGradient {
    static let tile = 128

    /// Writes K(X s, X s) into `kernel` (n × n, may be nil) and the p = d + 2 derivative matrices,
    /// each n × n contiguous, one after the other in the order [W_std, b_std, s_1 … s_d], into
    /// `derivatives` (p n² numbers).
    /// - Throws: `dimensionMismatch`, `invalidArgument`, `nonFinite`, `numericalFailure`
    ///   (a non-finite derivative), `outOfMemory`, `tooLarge`, `cancelled`.
    public static func derivatives(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind,
                                   _ x: MatrixView, _ hyper: KernelHyperparameters,
                                   kernel: MutableMatrixView?, derivatives: UnsafeMutablePointer<Double>,
                                   points: Int = 0, progress: ProgressHandler = .none) throws {
        let r = try Recursion(architecture, kind: kind, x, hyper, points: points)
        let n = x.rows, d = x.cols, p = hyper.count
        if let kernel { try EmpiricalKernel.checkShape(kernel, rows: n, cols: n) }
        let nn = try Sizes.product(n, n, "kernel size")
        _ = try Sizes.product(try Sizes.product(nn, p, "derivative entries"), 8, "derivative bytes")
        let factors = hyper.inputScales.map { 2 * $0 / Double(d) }
        func store(_ a: Int, _ b: Int, _ value: Double, _ w: SIMD8<Double>) {
            kernel.map { $0[a, b] = value; $0[b, a] = value }
            let xa = x.row(a), xb = x.row(b)
            func put(_ q: Int, _ e: Double) {
                derivatives[q * nn + a * n + b] = e
                derivatives[q * nn + b * n + a] = e
            }
            put(0, w[0])
            put(1, w[1])
            for j in 0..<d {
                put(2 + j, factors[j] * (w[2] * xa[j] * xb[j] + w[3] * xa[j] * xa[j] + w[4] * xb[j] * xb[j]))
            }
        }
        try r.forEachTile(progress: progress, scratch: { _ in RowScratch(count: tile) }) { _, rows, cols, c0, row in
            for (i, a) in rows.enumerated() {
                r.row(a, cols, c0 + i * cols.count, row)
                for (j, b) in cols.enumerated() where b < a { store(a, b, row.value[j], row.tangent[j]) }
            }
        }
        for a in 0..<n {
            let w = r.diagonalTangent[a]
            store(a, a, r.diagonalValue[a], SIMD8(w[0], w[1], 0, w[2], 0, 0, 0, 0))
        }
        try InputCheck.finiteResult(derivatives, count: nn * p, "the kernel derivatives")
        try progress.report(1)
    }

    /// `g_j = Σ_ab G_ab ∂K_ab/∂θ_j` (p = d + 2 entries, order [W_std, b_std, s_1 … s_d]) for the
    /// n × n weights G (symmetrised: only G + Gᵀ matters, K being symmetric).
    /// - Throws: as `derivatives`, and `nonFinite` for G.
    public static func contract(_ architecture: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind,
                                _ x: MatrixView, _ hyper: KernelHyperparameters, weights g: MatrixView,
                                points: Int = 0, progress: ProgressHandler = .none) throws -> [Double] {
        try contract(try Recursion(architecture, kind: kind, x, hyper, points: points), weights: g,
                     progress: progress)
    }

    /// `contract` on a prepared recursion (the objectives reuse the one that made the kernel).
    static func contract(_ r: Recursion, weights g: MatrixView, progress: ProgressHandler) throws -> [Double] {
        guard g.rows == r.n, g.cols == r.n else {
            throw NTKError.dimensionMismatch("G is \(g.rows) × \(g.cols) but the kernel is \(r.n) × \(r.n)")
        }
        return try contract(r, [.symmetric(points: 0..<r.n, g: g)], progress: progress)
    }

    /// Kernel entries of the recursion's points and their weights in a contraction.
    enum WeightedPairs {
        /// K over the points `points` (both triangles and the diagonal) with weights G
        /// (points.count², symmetrised).
        case symmetric(points: Range<Int>, g: MatrixView)
        /// K(x_a, x_b) for a ∈ rows, b ∈ cols (disjoint ranges) with weights G (rows × cols).
        case block(rows: Range<Int>, cols: Range<Int>, g: MatrixView)

        /// The weights and the shape they must have.
        var weights: (g: MatrixView, rows: Int, cols: Int) {
            switch self {
            case .symmetric(let points, let g): (g, points.count, points.count)
            case .block(let rows, let cols, let g): (g, rows.count, cols.count)
            }
        }

        var tiles: [(Range<Int>, Range<Int>)] {
            switch self {
            case .symmetric(let points, _): Recursion.lowerTiles(points)
            case .block(let rows, let cols, _): Recursion.blockTiles(rows, cols)
            }
        }

        /// The weight of the pair (a, b) of a tile (nil: not counted — the diagonal and the upper
        /// triangle of a symmetric set, whose diagonal is added from the point recursions).
        @inline(__always)
        func weight(_ a: Int, _ b: Int) -> Double? {
            switch self {
            case .symmetric(let points, let g):
                let (i, j) = (a - points.lowerBound, b - points.lowerBound)
                return b < a ? g[i, j] + g[j, i] : nil
            case .block(let rows, let cols, let g): return g[a - rows.lowerBound, b - cols.lowerBound]
            }
        }
    }

    /// `Σ G_ab ∂K_ab/∂θ` summed over every set of weighted pairs, in one pass over their tiles.
    static func contract(_ r: Recursion, _ sets: [WeightedPairs], progress: ProgressHandler) throws -> [Double] {
        let n = r.n, d = r.d, x = r.input
        for set in sets {
            let (g, rows, cols) = set.weights
            guard g.rows == rows, g.cols == cols else { throw NTKError(.internalError, "weights of the wrong shape") }
            try InputCheck.finite(g, "G")
        }
        let tiles = sets.enumerated().flatMap { (k, set) in set.tiles.map { (k, $0.0, $0.1) } }
        let threads = Parallel.defaultThreads
        let sums = try (0..<threads).map { _ in try ContractionSums(n: n, d: d, tile: tile) }
        try r.forEachTile(tiles.map { ($0.1, $0.2) }, progress: progress, scratch: { sums[$0] }) {
            item, rows, cols, c0, s in
            let set = sets[tiles[item].0], m = cols.count
            s.weighted.pointer.update(repeating: 0, count: rows.count * m)
            for (i, a) in rows.enumerated() {
                r.row(a, cols, c0 + i * m, s.row)
                for (j, b) in cols.enumerated() {
                    guard let weight = set.weight(a, b) else { continue }
                    let w = s.row.tangent[j]
                    s.hyper += weight * SIMD2(w[0], w[1])
                    s.weighted.pointer[i * m + j] = weight * w[2]
                    s.rowSums.pointer[a] += weight * w[3]
                    s.rowSums.pointer[b] += weight * w[4]
                }
            }
            // Σ_ab M_ab x_aj x_bj over the tile: P = M X[cols], then Σ_a x_aj P_aj.
            let product = s.product.matrix(rows.count, d)
            try MatrixProduct.gemm(s.weighted.matrix(rows.count, m).readOnly,
                                   x.rowRange(cols.lowerBound, cols.upperBound), into: product)
            for (i, a) in rows.enumerated() {
                let xa = x.row(a)
                for j in 0..<d { s.scales.pointer[j] += xa[j] * product[i, j] }
            }
        }
        var hyperSum = SIMD2<Double>.zero
        var scales = [Double](repeating: 0, count: d), rowTotals = [Double](repeating: 0, count: n)
        for s in sums {
            hyperSum += s.hyper
            for j in 0..<d { scales[j] += s.scales.pointer[j] }
            for a in 0..<n { rowTotals[a] += s.rowSums.pointer[a] }
        }
        for case .symmetric(let points, let g) in sets {
            for a in points {
                let w = r.diagonalTangent[a], weight = g[a - points.lowerBound, a - points.lowerBound]
                hyperSum += weight * SIMD2(w[0], w[1])
                rowTotals[a] += weight * w[2]
            }
        }
        for a in 0..<n {
            let xa = x.row(a)
            for j in 0..<d { scales[j] += xa[j] * xa[j] * rowTotals[a] }
        }
        let result = [hyperSum[0], hyperSum[1]] + (0..<d).map { 2 * r.inputScales[$0] / Double(d) * scales[$0] }
        guard result.allSatisfy(\.isFinite) else {
            throw NTKError.numericalFailure("the kernel gradient is not finite: \(result)")
        }
        try progress.report(1)
        return result
    }

    /// One thread's accumulators of `contract`.
    final class ContractionSums: @unchecked Sendable {
        var hyper = SIMD2<Double>.zero
        let scales: Workspace, rowSums: Workspace, weighted: Workspace, product: Workspace
        let row = RowScratch(count: tile)
        init(n: Int, d: Int, tile: Int) throws {
            scales = try Workspace(count: d, for: "the gradient sums")
            rowSums = try Workspace(count: max(n, 1), for: "the gradient sums")
            weighted = try Workspace(count: tile * tile, for: "a gradient tile")
            product = try Workspace(count: tile * d, for: "a gradient tile")
            scales.pointer.update(repeating: 0, count: d)
            rowSums.pointer.update(repeating: 0, count: max(n, 1))
        }
    }
}

extension MLPArchitecture {
    /// The infinite-width kernel of the rows of `x` scaled by `hyper.inputScales`, with this
    /// architecture's depth and activation and `hyper`'s W_std and b_std, and its d + 2
    /// derivatives [W_std, b_std, s_1 … s_d] (each n × n). See `KernelGradient`.
    public func infiniteWidthGradient(_ x: Matrix, kind: InfiniteWidthPointKernel.Kind = .ntk,
                                      hyper: KernelHyperparameters, points: Int = 0,
                                      progress: ProgressHandler = .none) throws
        -> (kernel: Matrix, derivatives: [Matrix]) {
        let n = x.rows, p = hyper.count
        var kernel = try Matrix(rows: n, cols: n)
        let count = try Sizes.product(try Sizes.product(n, n, "kernel size"), p, "derivative entries")
        let all = try Workspace(count: max(count, 1), for: "the kernel derivatives")
        try x.withView { xv in
            try kernel.withMutableView { kv in
                try KernelGradient.derivatives(self, kind: kind, xv, hyper, kernel: kv, derivatives: all.pointer,
                                               points: points, progress: progress)
            }
        }
        let derivatives = try (0..<p).map { q in
            try Matrix(rows: n, cols: n, elements: Array(UnsafeBufferPointer(start: all.pointer + q * n * n,
                                                                             count: n * n)))
        }
        return (kernel, derivatives)
    }
}
