/// One worker's buffers for running a `CovarianceProgram` on pairs of inputs, and the steps'
/// arithmetic. Σ and Θ live in two buffers of the program's largest tensor; a window step
/// writes into a spare and swaps; residual inputs wait on a stack.
///
/// Slot variances q(p) (`slots[s]`: points × positions, row-major) come from the points' own
/// runs: `runSelf` records them and, on the diagonal positions of (x, x), evaluates the
/// activations with ρ = 1 exactly (as the MLP recursion's diagonal); `run` reads them.
///
/// In either precision `S`: the tensors, the window steps and the closed-form rows in `S`; the
/// scalar paths (quadrature, the diagonal activations, LayerNorm's scales) evaluate in double,
/// and the readouts' means (Flatten, GlobalAvgPool) accumulate in double.
final class CovarianceRun<S: InfiniteWidthScalar> {
    typealias Buffer = AlignedBuffer<S>
    private let program: CovarianceProgram
    private var sigma: Buffer, theta: Buffer, spare: Buffer
    private let stack: [(Buffer, Buffer)]
    private let diagonal: Buffer
    /// The second input channel by channel (channels × positions), for the full input kernel.
    private let columns: Buffer

    init(_ program: CovarianceProgram) throws {
        self.program = program
        let size = program.maxEntries
        sigma = try Buffer(count: size, for: "a pair's covariances")
        theta = try Buffer(count: size, for: "a pair's covariances")
        spare = try Buffer(count: size, for: "a pair's covariances")
        stack = try (0..<program.maxDepth).map { _ in
            (try Buffer(count: size, for: "a residual input"), try Buffer(count: size, for: "a residual input"))
        }
        diagonal = try Buffer(count: max(program.slotPositions.max() ?? 1, 1), for: "a diagonal")
        columns = try Buffer(count: max(program.inputShape.positions * program.inputShape.channels, 1),
                             for: "an input by channels")
    }

    /// Bytes of one worker's buffers (`init`): three tensors of the largest size, two per
    /// residual level, and a diagonal (and an input, negligible).
    static func bytes(_ program: CovarianceProgram) -> Int {
        let tensors = (3 + 2 * program.maxDepth).multipliedReportingOverflow(by: program.maxEntries)
        let total = tensors.partialValue.multipliedReportingOverflow(by: MemoryLayout<S>.stride)
        return tensors.overflow || total.overflow ? Int.max : total.partialValue
    }

    /// Bytes of the slot variances of `points` inputs (`slots`).
    static func slotBytes(_ program: CovarianceProgram, points: Int) -> Int {
        let entries = program.slotPositions.reduce(0) { $0 &+ $1 }.multipliedReportingOverflow(by: points)
        let total = entries.partialValue.multipliedReportingOverflow(by: MemoryLayout<S>.stride)
        return entries.overflow || total.overflow ? Int.max : total.partialValue
    }

    /// Per-slot variance storage for `points` inputs.
    static func slots(_ program: CovarianceProgram, points: Int) throws -> [Buffer] {
        try program.slotPositions.map { try Buffer(count: Sizes.product(points, $0, "slot variances"),
                                                   for: "the inputs' variances per layer") }
    }

    /// (Σ, Θ) of the pair (x1, x2) (rows of d entries), points i and j of `slots1`/`slots2`.
    func run(_ x1: UnsafePointer<S>, _ x2: UnsafePointer<S>, slots1: [Buffer], _ i: Int,
             slots2: [Buffer], _ j: Int) -> (nngp: S, ntk: S) {
        execute(x1, x2, own: false) { slot in
            let p = self.program.slotPositions[slot]
            return (UnsafePointer(slots1[slot].pointer), i * p, UnsafePointer(slots2[slot].pointer), j * p)
        }
    }

    /// (Σ, Θ) of (x, x), recording point i's slot variances into `slots`.
    func runSelf(_ x: UnsafePointer<S>, slots: [Buffer], _ i: Int) -> (nngp: S, ntk: S) {
        execute(x, x, own: true) { slot in
            let p = self.program.slotPositions[slot], q = slots[slot].pointer + i * p
            for a in 0..<p { q[a] = self.program.full ? self.sigma.pointer[a * p + a] : self.sigma.pointer[a] }
            return (UnsafePointer(slots[slot].pointer), i * p, UnsafePointer(slots[slot].pointer), i * p)
        }
    }

    private typealias Variances = (UnsafePointer<S>, Int, UnsafePointer<S>, Int)

    private func execute(_ x1: UnsafePointer<S>, _ x2: UnsafePointer<S>, own: Bool,
                         variances: (Int) -> Variances) -> (nngp: S, ntk: S) {
        var count = inputKernel(x1, x2)
        var depth = 0
        for step in program.steps {
            let s = sigma.pointer, t = theta.pointer
            switch step {
            case .affine(let w2, let b2, let fanIn, let one, let standard):
                InfiniteWidthKernel.affine(w2: w2, b2: b2, fanIn: fanIn, one: one, standard: standard, sigma: s,
                                           theta: t, count: count)
            case .window(let axis, let axes, let shape):
                count = window(axis, axes: axes, shape: shape)
            case .nonlinearity(let expect, let slot):
                nonlinearity(expect, variances(slot), positions: program.slotPositions[slot], own: own)
            case .layerNorm(let epsilon, let slot):
                layerNorm(epsilon, variances(slot), positions: program.slotPositions[slot])
            case .flatten(let p):
                var ms = 0.0, mt = 0.0
                let stride = program.full ? p + 1 : 1
                for a in 0..<p { ms += Double(s[a * stride]); mt += Double(t[a * stride]) }
                (s[0], t[0], count) = (S(ms / Double(p)), S(mt / Double(p)), 1)
            case .globalMean(let entries):
                var ms = 0.0, mt = 0.0
                for a in 0..<entries { ms += Double(s[a]); mt += Double(t[a]) }
                (s[0], t[0], count) = (S(ms / Double(entries)), S(mt / Double(entries)), 1)
            case .push:
                stack[depth].0.pointer.update(from: s, count: count)
                stack[depth].1.pointer.update(from: t, count: count)
                depth += 1
            case .add:
                depth -= 1
                let (a, b) = (stack[depth].0.pointer, stack[depth].1.pointer)
                for e in 0..<count { s[e] += a[e]; t[e] += b[e] }
            }
        }
        return (sigma.pointer[0], theta.pointer[0])
    }

    /// Σ(p, p') = x_p · x'_p' / C (full) or Σ(p, p) (diagonal), Θ = 0; returns the entries.
    /// The full kernel goes row by row over p' with x' laid out channel by channel, so that each
    /// of its C passes is one contiguous multiply-add.
    private func inputKernel(_ x1: UnsafePointer<S>, _ x2: UnsafePointer<S>) -> Int {
        let c = program.inputShape.channels, p = program.inputShape.positions, inv = 1 / S(c)
        let s = sigma.pointer
        if program.full {
            let t = columns.pointer
            for b in 0..<p { for e in 0..<c { t[e * p + b] = x2[b * c + e] * inv } }
            for a in 0..<p {
                let row = s + a * p, x = x1 + a * c
                row.update(repeating: 0, count: p)
                for e in 0..<c {
                    let v = x[e], column = t + e * p
                    for b in 0..<p { row[b] += v * column[b] }
                }
            }
        } else {
            for a in 0..<p {
                var sum: S = 0
                for e in 0..<c { sum += x1[a * c + e] * x2[a * c + e] }
                s[a] = sum * inv
            }
        }
        let count = program.full ? p * p : p
        theta.pointer.update(repeating: 0, count: count)
        return count
    }

    /// Σ and Θ through a window step: out = (1/f) Σ_a in[…, src(i, a), …] along one axis, or
    /// along `axes[0]` and `axes[1]` with the same offset a (a convolution's shared window over a
    /// pair of positions). Writes into `spare` and swaps, for both tensors; returns the entries.
    private func window(_ w: WindowAxis, axes: [Int], shape: [Int]) -> Int {
        var count = 0
        for _ in 0..<2 {
            count = Self.window(w, axes: axes, shape: shape, from: sigma.pointer, to: spare.pointer)
            swap(&sigma, &spare)
            swap(&sigma, &theta)  // the second round does Θ; two swaps leave Σ, Θ in place
        }
        return count
    }

    /// One tensor through a window step (see `window(_:axes:shape:)`): runs of outputs whose
    /// sources are evenly spaced, so that the innermost loops are contiguous adds.
    static func window(_ w: WindowAxis, axes: [Int], shape: [Int], from src: UnsafePointer<S>,
                       to dst: UnsafeMutablePointer<S>) -> Int {
        let n = w.input, out = w.out, k = axes[0], stride = w.stride
        let outer = shape[..<k].reduce(1, *)
        /// `d[i] += s[i]` for `count` contiguous entries.
        @inline(__always) func add(_ d: UnsafeMutablePointer<S>, _ s: UnsafePointer<S>, count: Int) {
            for e in 0..<count { d[e] += s[e] }
        }
        /// A run's outputs along the axis, `inner` entries each: with stride 1 one contiguous add.
        @inline(__always) func add(_ d: UnsafeMutablePointer<S>, _ s: UnsafePointer<S>, _ run: WindowAxis.Run,
                                   _ inner: Int) {
            let first = run.outputs.lowerBound
            if stride == 1 {
                add(d + first * inner, s + run.source * inner, count: run.outputs.count * inner)
            } else if inner == 1 {
                let base = s + run.source - first * stride
                for i in run.outputs { d[i] += base[i * stride] }
            } else {
                for i in run.outputs {
                    add(d + i * inner, s + (run.source + (i - first) * stride) * inner, count: inner)
                }
            }
        }
        let count: Int
        if axes.count == 1 {
            let inner = shape[(k + 1)...].reduce(1, *)
            count = outer * out * inner
            dst.update(repeating: 0, count: count)
            for o in 0..<outer {
                for runs in w.runs { for run in runs { add(dst + o * out * inner, src + o * n * inner, run, inner) } }
            }
        } else {
            let k2 = axes[1]
            let between = shape[(k + 1)..<k2].reduce(1, *), inner = shape[(k2 + 1)...].reduce(1, *)
            count = outer * out * between * out * inner
            dst.update(repeating: 0, count: count)
            for o in 0..<outer {
                for (a, runs) in w.runs.enumerated() {
                    // The shift-free offset of a stride-1 window that keeps the size covers every
                    // output from source 0: the `between` blocks then form one contiguous add.
                    let whole = stride == 1 && n == out && runs.count == 1 && runs[0].outputs == 0..<out
                        && runs[0].source == 0
                    for i in 0..<out {
                        let r = Int(w.table[a * out + i])
                        if r < 0 { continue }
                        let d = dst + (o * out + i) * between * out * inner
                        let s = src + (o * n + r) * between * n * inner
                        if whole {
                            add(d, s, count: between * out * inner)
                            continue
                        }
                        for b in 0..<between {
                            for run in runs { add(d + b * out * inner, s + b * n * inner, run, inner) }
                        }
                    }
                }
            }
        }
        let scale = 1 / S(w.window)
        for e in 0..<count { dst[e] *= scale }
        return count
    }

    /// The activation on every entry; on (x, x), the diagonal positions with ρ = 1 exactly.
    private func nonlinearity(_ expect: GaussianExpectation, _ q: Variances, positions p: Int, own: Bool) {
        let s = sigma.pointer, t = theta.pointer
        let (q1, i0, q2, j0) = q
        if program.full {
            let before = diagonal.pointer
            for a in 0..<p { before[a] = t[a * p + a] }
            InfiniteWidthKernel.nonlinearity(expect, q1: q1, rows: i0..<(i0 + p), q2: q2, cols: j0..<(j0 + p),
                                             sigma: s, theta: t)
            guard own else { return }
            for a in 0..<p {
                let (e, de) = expect.diagonal(Double(q1[i0 + a]))
                s[a * p + a] = S(e)
                t[a * p + a] = before[a] * S(de)
            }
        } else if !own, let row: InfiniteWidthKernel.RowUpdate<S> = InfiniteWidthKernel.closedFormRow(expect),
                  (0..<p).allSatisfy({ q1[i0 + $0] > 0 && q2[j0 + $0] > 0 }) {
            // Diagonal positions: a variance per entry on both sides (step 1), vectorised.
            row(q1 + i0, 1, q2 + j0, s, t, p)
        } else {
            for a in 0..<p {
                let (e, de) = own ? expect.diagonal(Double(q1[i0 + a]))
                    : expect.pair(Double(q1[i0 + a]), Double(q2[j0 + a]), Double(s[a]))
                s[a] = S(e)
                t[a] *= S(de)
            }
        }
    }

    /// Σ, Θ ← · / √((ε + q(p))(ε + q'(p'))).
    private func layerNorm(_ epsilon: Double, _ q: Variances, positions p: Int) {
        let s = sigma.pointer, t = theta.pointer
        let (q1, i0, q2, j0) = q
        if program.full {
            for a in 0..<p {
                for b in 0..<p {
                    let scale = S(1 / ((epsilon + Double(q1[i0 + a])) * (epsilon + Double(q2[j0 + b]))).squareRoot())
                    s[a * p + b] *= scale
                    t[a * p + b] *= scale
                }
            }
        } else {
            for a in 0..<p {
                let scale = S(1 / ((epsilon + Double(q1[i0 + a])) * (epsilon + Double(q2[j0 + a]))).squareRoot())
                s[a] *= scale
                t[a] *= scale
            }
        }
    }
}
