extension KernelGradient {
    /// The forward-mode layer recursion behind `KernelGradient`: the architecture with the
    /// hyperparameters' W_std and b_std, the scaled inputs, and per point the diagonal recursion
    /// with its tangents. Tangent lanes: 0 W_std, 1 b_std, then for a pair 2 c⁰, 3 q⁰, 4 q'⁰ and
    /// for a point 2 q⁰.
    struct Recursion: @unchecked Sendable {
        let architecture: MLPArchitecture
        let kind: InfiniteWidthPointKernel.Kind
        let expect: GaussianExpectation
        /// X as given and X s (each n × d).
        let input: MatrixView, scaled: Workspace
        let inputScales: [Double]
        let n: Int, d: Int
        /// [hidden layer][point]: the pre-activation variance and its tangent (W, b, q⁰).
        var variance: [[Double]] = [], varianceTangent: [[SIMD8<Double>]] = []
        /// Per point: K(x, x) and its tangent (W, b, q⁰).
        var diagonalValue: [Double] = [], diagonalTangent: [SIMD8<Double>] = []

        init(_ a: MLPArchitecture, kind: InfiniteWidthPointKernel.Kind, _ x: MatrixView,
             _ hyper: KernelHyperparameters, points: Int) throws {
            architecture = try hyper.apply(to: a)
            try InfiniteWidthKernel.check(architecture, x, "X")
            self.kind = kind
            input = x
            inputScales = hyper.inputScales
            expect = try GaussianExpectation(a.activation, points: points)
            n = x.rows
            d = x.cols
            scaled = try Workspace(count: max(try Sizes.product(n, d, "size of X"), 1), for: "the scaled inputs")
            for i in 0..<n { for j in 0..<d { scaled.pointer[i * d + j] = hyper.inputScales[j] * x[i, j] } }
            for i in 0..<n { diagonalRecursion(i) }
        }

        private mutating func diagonalRecursion(_ i: Int) {
            var s = 0.0
            for j in 0..<d { s += scaled.pointer[i * d + j] * scaled.pointer[i * d + j] }
            s /= Double(d)
            var ds = SIMD8<Double>(0, 0, 1, 0, 0, 0, 0, 0), t = 0.0, dt = SIMD8<Double>.zero
            for l in 0..<architecture.layerCount {
                dense(l, &s, &ds, &t, &dt)
                guard l < architecture.layerCount - 1 else { break }
                if variance.count <= l {
                    variance.append([Double](repeating: 0, count: n))
                    varianceTangent.append([SIMD8<Double>](repeating: .zero, count: n))
                }
                variance[l][i] = s
                varianceTangent[l][i] = ds
                let jet = expect.diagonalJet(s)
                dt = jet.dt * dt + (t * jet.dtq) * ds
                t *= jet.dt
                ds = jet.tq * ds
                s = jet.t
            }
            diagonalValue.append(kind == .nngp ? s : t)
            diagonalTangent.append(kind == .nngp ? ds : dt)
        }

        /// K(X s, X s) into `out` (n × n) by `InfiniteWidthKernel` (its values, not the jets').
        func kernel(into out: MutableMatrixView, progress: ProgressHandler) throws {
            let x = MatrixView(unchecked: scaled.pointer, rows: n, cols: d, ld: d)
            try InfiniteWidthKernel.compute(architecture, x, nil, nngp: kind == .nngp ? out : nil,
                                            ntk: kind == .ntk ? out : nil, points: expect.mixturePoints,
                                            progress: progress, log: false)
        }

        /// The dense layer `l` on (Σ, Θ) and their tangents (as `InfiniteWidthKernel.dense`).
        @inline(__always)
        func dense(_ l: Int, _ s: inout Double, _ ds: inout SIMD8<Double>, _ t: inout Double,
                   _ dt: inout SIMD8<Double>) {
            let a = architecture, w = a.weightStd, w2 = w * w
            let b = a.hasBias ? a.biasStd : 0
            let unitW = SIMD8<Double>(1, 0, 0, 0, 0, 0, 0, 0), unitB = SIMD8<Double>(0, 1, 0, 0, 0, 0, 0, 0)
            let sNew = w2 * s + b * b, dsNew = w2 * ds + (2 * w * s) * unitW + (2 * b) * unitB
            if a.parameterization == .ntk {
                dt = dsNew + w2 * dt + (2 * w * t) * unitW
                t = sNew + w2 * t
            } else {
                let fanIn = Double(a.fanIn(l)), one: Double = a.hasBias ? 1 : 0
                dt = fanIn * ds + w2 * dt + (2 * w * t) * unitW
                t = fanIn * s + one + w2 * t
            }
            s = sNew
            ds = dsNew
        }

        /// K(x_a, x_b) for a ≠ b from the input covariance c0 = Σ⁰(x_a, x_b), with its tangent
        /// (W, b, c⁰, q⁰ of a, q⁰ of b).
        @inline(__always)
        func pair(_ a: Int, _ b: Int, _ c0: Double) -> (Double, SIMD8<Double>) {
            var s = c0, ds = SIMD8<Double>(0, 0, 1, 0, 0, 0, 0, 0), t = 0.0, dt = SIMD8<Double>.zero
            for l in 0..<architecture.layerCount {
                dense(l, &s, &ds, &t, &dt)
                guard l < architecture.layerCount - 1 else { break }
                let ta = varianceTangent[l][a], tb = varianceTangent[l][b]
                let dq1 = SIMD8<Double>(ta[0], ta[1], 0, ta[2], 0, 0, 0, 0)
                let dq2 = SIMD8<Double>(tb[0], tb[1], 0, 0, tb[2], 0, 0, 0)
                let (e, de) = expect.pairJet(variance[l][a], variance[l][b], s)
                let p = e.partials, dp = de.partials
                dt = de.value * dt + t * (dp[0] * dq1 + dp[1] * dq2 + dp[2] * ds)
                t *= de.value
                ds = p[0] * dq1 + p[1] * dq2 + p[2] * ds
                s = e.value
            }
            return kind == .nngp ? (s, ds) : (t, dt)
        }

        /// Runs `body(rows, cols, c0, scratch)` on every tile of the lower triangle (cols ≤ rows
        /// tile-wise) on all cores; c0 is the tile's input covariance Σ⁰ (rows × cols, contiguous)
        /// and `scratch(worker)` the worker's own state.
        func forEachTile<S>(progress: ProgressHandler, scratch: (Int) throws -> S,
                            _ body: @escaping (Range<Int>, Range<Int>, UnsafePointer<Double>, S) throws -> Void)
            throws {
            let tile = KernelGradient.tile
            var pairs: [(Range<Int>, Range<Int>)] = []
            for i in stride(from: 0, to: n, by: tile) {
                for j in stride(from: 0, to: i + 1, by: tile) {
                    pairs.append((i..<min(i + tile, n), j..<min(j + tile, n)))
                }
            }
            let threads = Parallel.defaultThreads
            let states = try (0..<threads).map(scratch)
            let covariances = try (0..<threads).map { _ in try Workspace(count: tile * tile, for: "a kernel tile") }
            let x = MatrixView(unchecked: scaled.pointer, rows: n, cols: d, ld: d)
            try progress.report(0)
            try Parallel.forEach(count: pairs.count, threads: threads, progress: progress) { item, worker in
                let (rows, cols) = pairs[item]
                let c0 = covariances[worker].matrix(rows.count, cols.count)
                try MatrixProduct.gemm(x.rowRange(rows.lowerBound, rows.upperBound),
                                       x.rowRange(cols.lowerBound, cols.upperBound), transposeB: true,
                                       alpha: 1 / Double(d), into: c0)
                try body(rows, cols, c0.base, states[worker])
            }
        }
    }
}
