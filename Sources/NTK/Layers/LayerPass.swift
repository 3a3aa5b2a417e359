/// The forward and backward pass of a `LayerProgram` over one block of examples (see there for
/// the steps). `run` keeps every step's input for the backward pass; `backward` pushes K output
/// cotangents per example back at once — side by side, each example's signals laid out as
/// positions × K × channels, so that every GEMM covers all K — and hands each affine step's
/// patches and signals to a sink, which forms per-example gradients (Jacobian rows: K = k unit
/// cotangents) or sums them over the block (vector–Jacobian products).
///
/// Backward: affine: ∂W = a Pᵀ δ, ∂b = c Σ_positions δ, δ_P = a δ Wᵀ scattered back through the
/// patch table, formed by cache-sized chunks of positions (a Dense layer's δ_P is its input's δ);
/// pool: δ/w to each window member; global mean: δ/positions; layer norm: (δ_y − mean δ_y −
/// y mean(δ_y y))/σ; activation: δ φ'(z); residual: the add passes δ through and to its push,
/// which sums both.
final class LayerPass {
    let program: LayerProgram
    let capacity: Int, seeds: Int
    private let values: [Workspace]
    private let patches: Workspace, patchSignals: Workspace, deltaA: Workspace, deltaB: Workspace
    private var stash: [Int: Workspace] = [:]
    private(set) var rows = 0

    /// Bytes of buffers per example for `seeds` cotangents at once.
    static func bytesPerRow(_ program: LayerProgram, seeds: Int) -> Int {
        let widest = max(program.sizes.max() ?? 1, 1), patches = program.widestPatches
        let stashed = program.steps.reduce(0) { if case .add(let from) = $1 { return $0 + program.sizes[from] }
                                                return $0 }
        return 8 * (program.sizes.reduce(0, +) + patches + seeds * (2 * widest + stashed))
    }

    /// The bytes of patch signals formed at once in a convolution's backward (about L2's size):
    /// δ_P = a δ Wᵀ is fanIn / channelsIn times the size of the input's signal, so writing it
    /// whole and scattering it afterwards would cost a trip to memory per entry.
    static let signalChunkBytes = 256 << 10

    /// Buffers for `capacity` examples and up to `seeds` cotangents per backward pass.
    init(_ program: LayerProgram, capacity: Int, seeds: Int = 1) throws {
        self.program = program
        (self.capacity, self.seeds) = (capacity, seeds)
        values = try program.sizes.map { try Workspace(count: Sizes.product(capacity, $0, "activations"),
                                                       for: "activations") }
        let widest = try Sizes.product(max(program.sizes.max() ?? 1, 1), seeds, "signals")
        let patchSize = max(program.widestPatches, 1)
        patches = try Workspace(count: Sizes.product(capacity, patchSize, "patches"), for: "patches")
        let chunk = max(Self.signalChunkBytes / 8, try Sizes.product(program.widestFanIn, seeds, "signals"))
        patchSignals = try Workspace(count: chunk, for: "backpropagated signals")
        deltaA = try Workspace(count: Sizes.product(capacity, widest, "signals"), for: "backpropagated signals")
        deltaB = try Workspace(count: Sizes.product(capacity, widest, "signals"), for: "backpropagated signals")
        for step in program.steps {
            if case .add(let from) = step {
                stash[from] = try Workspace(count: Sizes.product(capacity, program.sizes[from] * seeds, "signals"),
                                            for: "residual signals")
            }
        }
    }

    /// The outputs of the last `run`: rows × k.
    var outputs: MatrixView {
        let k = program.sizes[program.steps.count]
        return MatrixView(unchecked: values[program.steps.count].pointer, rows: rows, cols: k, ld: k)
    }

    /// The patches of affine step input `x` (rows examples) into `patches`: rows·positionsOut × fanIn.
    private func gather(_ f: LayerProgram.Affine, _ x: UnsafePointer<Double>) -> MatrixView {
        guard let t = f.patches else {
            return MatrixView(unchecked: x, rows: rows * f.positionsIn, cols: f.channelsIn, ld: f.channelsIn)
        }
        let c = f.channelsIn, fan = f.fanIn, p = patches.pointer
        t.table.withUnsafeBufferPointer { table in  // each entry written once: an input's or zero padding
            for i in 0..<rows {
                for o in 0..<t.outputs {
                    for a in 0..<t.window {
                        let to = p + (i * t.outputs + o) * fan + a * c, source = Int(table[o * t.window + a])
                        if source >= 0 {
                            let from = x + (i * t.inputs + source) * c
                            for j in 0..<c { to[j] = from[j] }  // a loop: c is small, memmove's call is not
                        } else {
                            for j in 0..<c { to[j] = 0 }
                        }
                    }
                }
            }
        }
        return MatrixView(unchecked: UnsafePointer(p), rows: rows * t.outputs, cols: fan, ld: fan)
    }

    /// Runs the block `x` (rows × d) forward with parameters `theta`.
    func run(_ x: MatrixView, _ theta: UnsafePointer<Double>) throws {
        rows = x.rows
        let d = program.sizes[0]
        for i in 0..<rows { (values[0].pointer + i * d).update(from: x.base + i * x.ld, count: d) }
        for (s, step) in program.steps.enumerated() {
            let input = UnsafePointer(values[s].pointer), out = values[s + 1].pointer
            let sizeIn = program.sizes[s], sizeOut = program.sizes[s + 1]
            switch step {
            case .affine(let f):
                let p = gather(f, input)
                let w = MatrixView(unchecked: theta + f.offset, rows: f.fanIn, cols: f.channelsOut, ld: f.channelsOut)
                let z = MutableMatrixView(unchecked: out, rows: rows * f.positionsOut, cols: f.channelsOut,
                                          ld: f.channelsOut)
                try MatrixProduct.gemm(p, w, alpha: f.weightScale, into: z)
                if f.hasBias {
                    let b = theta + f.offset + f.weights
                    for r in 0..<z.rows {
                        let row = z.base + r * z.ld
                        for j in 0..<f.channelsOut { row[j] += f.biasScale * b[j] }
                    }
                }
            case .pool(let t, let c):
                out.update(repeating: 0, count: rows * sizeOut)
                t.forEachEntry(rows: rows) { i, o, _, source in
                    let dst = out + (i * t.outputs + o) * c, from = input + (i * t.inputs + source) * c
                    for j in 0..<c { dst[j] += from[j] }
                }
                let scale = 1 / Double(t.window)
                for e in 0..<(rows * sizeOut) { out[e] *= scale }
            case .globalMean(let positions, let c):
                out.update(repeating: 0, count: rows * c)
                for i in 0..<rows {
                    for p in 0..<positions { for j in 0..<c { out[i * c + j] += input[(i * positions + p) * c + j] } }
                    for j in 0..<c { out[i * c + j] /= Double(positions) }
                }
            case .flatten:
                out.update(from: input, count: rows * sizeIn)
            case .layerNorm(let epsilon, let positions, let c):
                for r in 0..<(rows * positions) {
                    let (mean, sigma) = Self.moments(input + r * c, c, epsilon)
                    for j in 0..<c { out[r * c + j] = (input[r * c + j] - mean) / sigma }
                }
            case .activation(let phi):
                for e in 0..<(rows * sizeIn) { out[e] = phi.value(input[e]) }
            case .push:
                out.update(from: input, count: rows * sizeIn)
            case .add(let from):
                let skip = values[from].pointer
                for e in 0..<(rows * sizeIn) { out[e] = input[e] + skip[e] }
            }
        }
    }

    /// Mean and √(var + ε) of `c` entries (the population variance, as neural-tangents).
    private static func moments(_ x: UnsafePointer<Double>, _ c: Int, _ epsilon: Double) -> (Double, Double) {
        var mean = 0.0
        for j in 0..<c { mean += x[j] }
        mean /= Double(c)
        var variance = 0.0
        for j in 0..<c { variance += (x[j] - mean) * (x[j] - mean) }
        return (mean, (variance / Double(c) + epsilon).squareRoot())
    }

    /// Where an affine step's parameter gradients go: the step, its patches P (rows·positionsOut ×
    /// fanIn) and the signals δ (rows·positionsOut × K·channelsOut) of the last `run`'s block.
    typealias GradientSink = (LayerProgram.Affine, MatrixView, MatrixView) throws -> Void

    /// An affine step's backward: the parameter gradients to `sink`, then δ_P = a δ Wᵀ scattered
    /// back through the patch table into `dx` (a Dense layer's δ_P is its input's δ).
    private func affineBackward(_ f: LayerProgram.Affine, _ input: UnsafePointer<Double>,
                                _ delta: UnsafeMutablePointer<Double>, into dx: UnsafeMutablePointer<Double>?,
                                seeds k: Int, theta: UnsafePointer<Double>, sink: GradientSink) throws {
        let p = gather(f, input)
        try sink(f, p, MatrixView(unchecked: UnsafePointer(delta), rows: rows * f.positionsOut,
                                  cols: k * f.channelsOut, ld: k * f.channelsOut))
        guard let dx else { return }  // the network's input: its signal is never needed
        let dz = MatrixView(unchecked: UnsafePointer(delta), rows: rows * f.positionsOut * k, cols: f.channelsOut,
                            ld: f.channelsOut)
        let w = MatrixView(unchecked: theta + f.offset, rows: f.fanIn, cols: f.channelsOut, ld: f.channelsOut)
        guard let t = f.patches else {
            let out = MutableMatrixView(unchecked: dx, rows: rows * f.positionsIn * k, cols: f.channelsIn,
                                        ld: f.channelsIn)
            return try MatrixProduct.gemm(dz, w, transposeB: true, alpha: f.weightScale, into: out)
        }
        let c = f.channelsIn
        dx.update(repeating: 0, count: rows * t.inputs * k * c)
        // δ_P by chunks of (example, output position) units, each scattered while in cache.
        let units = rows * t.outputs, perChunk = max(1, patchSignals.count / (k * f.fanIn))
        for u0 in stride(from: 0, to: units, by: perChunk) {
            let u1 = min(u0 + perChunk, units)
            let dp = MutableMatrixView(unchecked: patchSignals.pointer, rows: (u1 - u0) * k, cols: f.fanIn,
                                       ld: f.fanIn)
            try MatrixProduct.gemm(dz.rowRange(u0 * k, u1 * k), w, transposeB: true, alpha: f.weightScale, into: dp)
            t.table.withUnsafeBufferPointer { table in
                for u in u0..<u1 {
                    let (i, o) = u.quotientAndRemainder(dividingBy: t.outputs)
                    for a in 0..<t.window {
                        let source = Int(table[o * t.window + a])
                        guard source >= 0 else { continue }  // zero padding
                        for seed in 0..<k {
                            let to = dx + ((i * t.inputs + source) * k + seed) * c
                            let from = dp.base + ((u - u0) * k + seed) * f.fanIn + a * c
                            for j in 0..<c { to[j] += from[j] }
                        }
                    }
                }
            }
        }
    }

    /// Pushes `seed` (rows × K·k: K cotangents of the k outputs per example, side by side) back
    /// through the last `run` and calls `sink` for every affine step, last to first.
    func backward(_ seed: MatrixView, seeds k: Int, theta: UnsafePointer<Double>, sink: GradientSink) throws {
        guard k >= 1, k <= seeds, seed.cols == k * program.sizes[program.steps.count] else {
            throw NTKError(.internalError, "\(k) cotangents of \(seed.cols) entries for a pass of \(seeds)")
        }
        var delta = deltaA.pointer, spare = deltaB.pointer
        for i in 0..<rows { (delta + i * seed.cols).update(from: seed.base + i * seed.ld, count: seed.cols) }
        for s in stride(from: program.steps.count - 1, through: 0, by: -1) {
            let input = UnsafePointer(values[s].pointer), sizeIn = program.sizes[s], c = program.channels[s]
            switch program.steps[s] {
            case .affine(let f):
                try affineBackward(f, input, delta, into: s == 0 ? nil : spare, seeds: k, theta: theta, sink: sink)
            case .pool(let t, _):
                let scale = 1 / Double(t.window), width = k * c  // the K signals as channels
                spare.update(repeating: 0, count: rows * sizeIn * k)
                t.forEachEntry(rows: rows) { i, o, _, source in
                    let from = delta + (i * t.outputs + o) * width, to = spare + (i * t.inputs + source) * width
                    for j in 0..<width { to[j] += scale * from[j] }
                }
            case .globalMean(let positions, _):
                let width = k * c
                for i in 0..<rows {
                    for p in 0..<positions {
                        let to = spare + (i * positions + p) * width, from = delta + i * width
                        for j in 0..<width { to[j] = from[j] / Double(positions) }
                    }
                }
            case .flatten(let positions, let channels):
                // From K × (positions·channels) per example to positions × K × channels.
                for i in 0..<rows {
                    for seed in 0..<k {
                        for p in 0..<positions {
                            (spare + ((i * positions + p) * k + seed) * channels)
                                .update(from: delta + (i * k + seed) * sizeIn + p * channels, count: channels)
                        }
                    }
                }
            case .layerNorm(let epsilon, let positions, _):
                for r in 0..<(rows * positions) {
                    let x = input + r * c
                    let (mean, sigma) = Self.moments(x, c, epsilon)
                    for seed in 0..<k {
                        let dy = delta + (r * k + seed) * c, dx = spare + (r * k + seed) * c
                        var meanDy = 0.0, meanDyY = 0.0
                        for j in 0..<c {
                            meanDy += dy[j]
                            meanDyY += dy[j] * (x[j] - mean) / sigma
                        }
                        meanDy /= Double(c)
                        meanDyY /= Double(c)
                        for j in 0..<c { dx[j] = (dy[j] - meanDy - (x[j] - mean) / sigma * meanDyY) / sigma }
                    }
                }
            case .activation(let phi):
                for r in 0..<(rows * sizeIn / c) {
                    let x = input + r * c
                    for seed in 0..<k {
                        let dy = delta + (r * k + seed) * c, dx = spare + (r * k + seed) * c
                        for j in 0..<c { dx[j] = dy[j] * phi.derivative(x[j]) }
                    }
                }
            case .push:
                guard let skip = stash[s]?.pointer else { throw NTKError(.internalError, "a residual without its end") }
                for e in 0..<(rows * sizeIn * k) { spare[e] = delta[e] + skip[e] }
            case .add(let from):
                guard let skip = stash[from]?.pointer else { throw NTKError(.internalError, "a residual end alone") }
                skip.update(from: delta, count: rows * sizeIn * k)
                spare.update(from: delta, count: rows * sizeIn * k)
            }
            swap(&delta, &spare)
        }
    }
}
