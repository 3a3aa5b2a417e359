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
        /// Per hidden layer l and point a, at l·n + a: the pre-activation variance and its tangent
        /// (W, b, q⁰) — flat storage read without reference counting in the pair loop.
        let variance: Storage<Double>, varianceTangent: Storage<SIMD8<Double>>
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
            let hidden = try Sizes.product(architecture.layerCount - 1, n, "variances")
            variance = try Storage(count: hidden)
            varianceTangent = try Storage(count: hidden)
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
                variance.pointer[l * n + i] = s
                varianceTangent.pointer[l * n + i] = ds
                let jet = expect.diagonalJet(s)
                dt = jet.dt * dt + (t * jet.dtq) * ds
                t *= jet.dt
                ds = jet.tq * ds
                s = jet.t
            }
            diagonalValue.append(kind == .nngp ? s : t)
            diagonalTangent.append(kind == .nngp ? ds : dt)
        }

        /// K between the scaled points `rows` and `cols` (nil: `rows` with themselves, exactly
        /// symmetric with the exact diagonal) into `out` by `InfiniteWidthKernel` (its values, not
        /// the jets').
        func kernel(_ rows: Range<Int>, _ cols: Range<Int>? = nil, into out: MutableMatrixView,
                    progress: ProgressHandler) throws {
            func points(_ r: Range<Int>) -> MatrixView {
                MatrixView(unchecked: scaled.pointer + r.lowerBound * d, rows: r.count, cols: d, ld: d)
            }
            try InfiniteWidthKernel.compute(architecture, points(rows), cols.map(points),
                                            nngp: kind == .nngp ? out : nil, ntk: kind == .ntk ? out : nil,
                                            points: expect.mixturePoints, progress: progress, log: false)
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

        /// K(x_a, x_b) and its tangent (W, b, c⁰, q⁰ of a, q⁰ of b) for every b in `cols`, from the
        /// input covariances `c0[j]` = Σ⁰(x_a, x_{cols[j]}), into `w.value` and `w.tangent` (the
        /// pair b = a is computed too and is meaningless: callers skip it). Layer by layer over the
        /// row; the relu family takes its values from the vectorised `reluRow` and its partials
        /// from homogeneity, every other activation the scalar jets.
        func row(_ a: Int, _ cols: Range<Int>, _ c0: UnsafePointer<Double>, _ w: RowScratch) {
            let m = cols.count
            for j in 0..<m {
                w.s[j] = c0[j]
                w.t[j] = 0
                w.ds[j] = SIMD8<Double>(0, 0, 1, 0, 0, 0, 0, 0)
                w.dt[j] = .zero
            }
            for l in 0..<architecture.layerCount {
                for j in 0..<m { dense(l, &w.s[j], &w.ds[j], &w.t[j], &w.dt[j]) }
                guard l < architecture.layerCount - 1 else { break }
                let q1 = variance.pointer[l * n + a], ta = varianceTangent.pointer[l * n + a]
                let dq1 = SIMD8<Double>(ta[0], ta[1], 0, ta[2], 0, 0, 0, 0)
                let q2 = variance.pointer + l * n + cols.lowerBound
                let t2 = varianceTangent.pointer + l * n + cols.lowerBound
                if let slope = reluSlope, q1 > 0, (0..<m).allSatisfy({ q2[$0] > 0 }) {
                    reluLayer(q1, dq1, q2, t2, m, slope, w)
                    continue
                }
                for j in 0..<m {
                    let tb = t2[j]
                    let dq2 = SIMD8<Double>(tb[0], tb[1], 0, 0, tb[2], 0, 0, 0)
                    let (e, de) = expect.pairJet(q1, q2[j], w.s[j])
                    let p = e.partials, dp = de.partials
                    w.dt[j] = de.value * w.dt[j] + w.t[j] * (dp[0] * dq1 + dp[1] * dq2 + dp[2] * w.ds[j])
                    w.t[j] *= de.value
                    w.ds[j] = p[0] * dq1 + p[1] * dq2 + p[2] * w.ds[j]
                    w.s[j] = e.value
                }
            }
            w.value = kind == .nngp ? w.s : w.t
            w.tangent = kind == .nngp ? w.ds : w.dt
        }

        /// The slope α of the relu family (relu 0, leaky_relu α, abs −1), nil for the others.
        var reluSlope: Double? {
            switch expect.activation {
            case .relu: 0
            case .leakyReLU(let a): a
            case .abs: -1
            default: nil
            }
        }

        /// The relu-family nonlinearity on a row (see `GaussianExpectation+Jets` for the partials:
        /// `∂T/∂q1 = (T − c T')/(2 q1)`, `∂T'/∂c = (1 − α)²/(2π √(q1 q2 − c²))`, 0 at ρ = ±1).
        private func reluLayer(_ q1: Double, _ dq1: SIMD8<Double>, _ q2: UnsafePointer<Double>,
                               _ t2: UnsafePointer<SIMD8<Double>>, _ m: Int, _ slope: Double, _ w: RowScratch) {
            for j in 0..<m {
                w.c[j] = w.s[j]
                w.tp[j] = 1
            }
            withUnsafePointer(to: q1) {
                InfiniteWidthKernel.reluRow(q1: $0, columnVariance: q2, sigma: w.s, theta: w.tp, count: m,
                                            slope: slope == 0 ? nil : slope)
            }
            let quadratic = (1 - slope) * (1 - slope) / (2 * Double.pi), r1 = q1.squareRoot()
            for j in 0..<m {
                let c = w.c[j], e = w.s[j], de = w.tp[j], q = q2[j], tb = t2[j]
                let dq2 = SIMD8<Double>(tb[0], tb[1], 0, 0, tb[2], 0, 0, 0)
                let root = r1 * q.squareRoot(), rho = c / root
                let sine = ((1 - rho) * (1 + rho)).squareRoot()
                let dtc = Swift.abs(rho) < 1 && sine > 0 ? quadratic / (root * sine) : 0
                let h = e - c * de
                w.dt[j] = de * w.dt[j] + w.t[j] * (-c * dtc / (2 * q1) * dq1 - c * dtc / (2 * q) * dq2 + dtc * w.ds[j])
                w.t[j] *= de
                w.ds[j] = h / (2 * q1) * dq1 + h / (2 * q) * dq2 + de * w.ds[j]
            }
        }

        /// The tiles of the lower triangle (cols ≤ rows tile-wise) of the points `range`.
        static func lowerTiles(_ range: Range<Int>) -> [(Range<Int>, Range<Int>)] {
            let tile = KernelGradient.tile
            var pairs: [(Range<Int>, Range<Int>)] = []
            for i in stride(from: range.lowerBound, to: range.upperBound, by: tile) {
                for j in stride(from: range.lowerBound, to: i + 1, by: tile) {
                    pairs.append((i..<min(i + tile, range.upperBound), j..<min(j + tile, range.upperBound)))
                }
            }
            return pairs
        }

        /// The tiles of the block rows × cols.
        static func blockTiles(_ rows: Range<Int>, _ cols: Range<Int>) -> [(Range<Int>, Range<Int>)] {
            let tile = KernelGradient.tile
            return stride(from: rows.lowerBound, to: rows.upperBound, by: tile).flatMap { i in
                stride(from: cols.lowerBound, to: cols.upperBound, by: tile).map { j in
                    (i..<min(i + tile, rows.upperBound), j..<min(j + tile, cols.upperBound))
                }
            }
        }

        /// Runs `body(item, rows, cols, c0, scratch)` on every tile of `pairs` (default: the lower
        /// triangle of all points) on all cores; c0 is the tile's input covariance Σ⁰ (rows ×
        /// cols, contiguous) and `scratch(worker)` the worker's own state.
        func forEachTile<S>(_ pairs: [(Range<Int>, Range<Int>)]? = nil, progress: ProgressHandler,
                            scratch: (Int) throws -> S,
                            _ body: @escaping (Int, Range<Int>, Range<Int>, UnsafePointer<Double>, S) throws -> Void)
            throws {
            let tile = KernelGradient.tile
            let pairs = pairs ?? Self.lowerTiles(0..<n)
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
                try body(item, rows, cols, c0.base, states[worker])
            }
        }
    }
}

/// Uninitialised-then-written memory for `count` values of a trivial type, freed with the
/// object: the recursion's per-point tables, read by every worker without reference counting.
final class Storage<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>

    init(count: Int) throws {
        _ = try Sizes.product(max(count, 1), MemoryLayout<T>.stride, "table bytes")
        pointer = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }
}

/// One worker's row state for `KernelGradient.Recursion.row` (tile entries each).
final class RowScratch: @unchecked Sendable {
    let s: UnsafeMutablePointer<Double>, t: UnsafeMutablePointer<Double>
    let c: UnsafeMutablePointer<Double>, tp: UnsafeMutablePointer<Double>
    let ds: UnsafeMutablePointer<SIMD8<Double>>, dt: UnsafeMutablePointer<SIMD8<Double>>
    /// After `row`: the kernel values and tangents (`s`/`ds` for the NNGP, `t`/`dt` for the NTK).
    var value: UnsafeMutablePointer<Double>, tangent: UnsafeMutablePointer<SIMD8<Double>>

    init(count: Int) {
        s = .allocate(capacity: count)
        t = .allocate(capacity: count)
        c = .allocate(capacity: count)
        tp = .allocate(capacity: count)
        ds = .allocate(capacity: count)
        dt = .allocate(capacity: count)
        value = s
        tangent = ds
    }

    deinit {
        for p in [s, t, c, tp] { p.deallocate() }
        ds.deallocate()
        dt.deallocate()
    }
}
