import Synchronization

/// A network built from layers (`NetworkArchitecture`) with its parameters θ: forward pass,
/// Jacobian and, through `NetworkModel`, the tangent kernel and every matrix-free solver of a
/// `TangentModel`.
///
/// θ is drawn from `NormalGenerator(seed:)` layer by layer in the architecture's parameter
/// layout (each Dense/Conv: W then b); like `MLP`, every computation reads a snapshot of θ and
/// `setParameters` swaps a new vector in atomically.
public final class Network: @unchecked Sendable {
    /// The architecture; the parameters live in the network.
    public let architecture: NetworkArchitecture
    let program: LayerProgram
    private let current: Mutex<MLP.ParameterVector>

    /// A network with parameters drawn from `NormalGenerator(seed:)`.
    public init(_ architecture: NetworkArchitecture, seed: UInt64 = 0) throws {
        self.architecture = architecture
        program = try LayerProgram(architecture)
        let theta = try Workspace(count: program.parameterCount, for: "the parameters")
        var rng = NormalGenerator(seed: seed)
        for case .affine(let f) in program.steps {
            let base = theta.pointer + f.offset
            for i in 0..<f.weights { base[i] = f.initialWeightStd * rng.next() }
            if f.hasBias { for j in 0..<f.channelsOut { base[f.weights + j] = f.initialBiasStd * rng.next() } }
        }
        current = Mutex(MLP.ParameterVector(theta))
    }

    private init(_ architecture: NetworkArchitecture, program: LayerProgram, parameters: MLP.ParameterVector) {
        self.architecture = architecture
        self.program = program
        current = Mutex(parameters)
    }

    /// A network with this architecture and the parameters in use now, which later changes of
    /// this one do not touch (what a fitted solver keeps).
    public func frozen() -> Network {
        Network(architecture, program: program, parameters: parameters)
    }

    /// P, the number of parameters.
    public var parameterCount: Int { program.parameterCount }
    /// k, the number of outputs.
    public var outputCount: Int { architecture.outputDimension }

    /// The parameter vector in use now (a snapshot).
    package var parameters: MLP.ParameterVector { current.withLock { $0 } }

    /// θ as an array.
    public var parameterArray: [Double] {
        let p = parameters
        return Array(UnsafeBufferPointer(start: p.pointer, count: parameterCount))
    }

    /// Copies θ (P doubles) into `out`.
    package func copyParameters(into out: UnsafeMutablePointer<Double>) {
        out.update(from: parameters.pointer, count: parameterCount)
    }

    /// Replaces θ by the `count` doubles at `theta`.
    /// - Throws: `dimensionMismatch` unless `count` is P; `nonFinite` for NaN/Inf.
    package func setParameters(_ theta: UnsafePointer<Double>, count: Int) throws {
        let p = parameterCount
        guard count == p else { throw NTKError.dimensionMismatch("\(count) parameters given, the network has \(p)") }
        try InputCheck.finite(MatrixView(unchecked: theta, rows: 1, cols: p, ld: p), "parameters")
        let copy = try Workspace(count: p, for: "the parameters")
        copy.pointer.update(from: theta, count: p)
        let vector = MLP.ParameterVector(copy)
        current.withLock { $0 = vector }
    }

    /// Replaces θ from an array.
    public func setParameters(_ theta: [Double]) throws {
        var storage = theta.isEmpty ? [0.0] : theta  // a valid pointer even for no parameters
        try storage.withUnsafeMutableBufferPointer { try setParameters($0.baseAddress!, count: theta.count) }
    }

    /// Rows per block: a pass with `seeds` cotangents within 64 MiB (at least one row, at most 256).
    func blockRows(seeds: Int = 1) -> Int {
        max(1, min(256, (64 << 20) / max(LayerPass.bytesPerRow(program, seeds: seeds), 1)))
    }

    package func checkInput(_ x: MatrixView, _ name: String) throws {
        try architecture.checkInput(x, name)
    }

    /// Runs `body` on each block of rows of `x` after its forward pass (a pass for `seeds`
    /// cotangents per backward; `reuse` supplies one, e.g. kept between a model's calls).
    func blocks(_ x: MatrixView, _ theta: MLP.ParameterVector, seeds: Int = 1,
                reuse: ((Int, Int) throws -> LayerPass)? = nil,
                _ body: (LayerPass, Range<Int>) throws -> Void) throws {
        let capacity = blockRows(seeds: seeds)
        let pass = try reuse?(capacity, seeds) ?? LayerPass(program, capacity: min(max(x.rows, 1), capacity),
                                                           seeds: seeds)
        let block = pass.capacity
        for r0 in stride(from: 0, to: x.rows, by: block) {
            let r1 = min(r0 + block, x.rows)
            try pass.run(x.rowRange(r0, r1), theta.pointer)
            try body(pass, r0..<r1)
        }
    }

    /// The outputs `f(X)` (n × k) into `out`.
    public func forward(_ x: MatrixView, into out: MutableMatrixView) throws {
        try forward(x, into: out, reuse: nil)
    }

    func forward(_ x: MatrixView, into out: MutableMatrixView, reuse: ((Int, Int) throws -> LayerPass)?) throws {
        try checkInput(x, "X")
        let k = outputCount
        guard out.rows == x.rows, out.cols == k else {
            throw NTKError.dimensionMismatch("output is \(out.rows) × \(out.cols) but f(X) is \(x.rows) × \(k)")
        }
        try out.requireDisjoint(from: x, "output", "X")
        try blocks(x, parameters, reuse: reuse) { pass, range in
            out.rowRange(range.lowerBound, range.upperBound).copy(from: pass.outputs)
        }
        try InputCheck.finiteResult(out, "the network's outputs")
    }

    /// The Jacobian `∂f(x_i)/∂θ` of each row, row `i·k + c` = output c of example i ((n·k) × P).
    public func jacobian(_ x: MatrixView, into out: MutableMatrixView) throws {
        try jacobian(x, into: out, reuse: nil)
    }

    func jacobian(_ x: MatrixView, into out: MutableMatrixView, reuse: ((Int, Int) throws -> LayerPass)?) throws {
        try checkInput(x, "X")
        let k = outputCount, p = parameterCount
        guard out.rows == x.rows * k, out.cols == p else {
            throw NTKError.dimensionMismatch("the Jacobian is \(x.rows * k) × \(p), the output \(out.rows) × "
                                             + "\(out.cols)")
        }
        let theta = parameters
        // The k unit cotangents of every example side by side: one backward pass per block.
        let seed = try Workspace(count: Sizes.product(min(max(x.rows, 1), blockRows(seeds: k)), k * k, "seeds"),
                                 for: "seeds")
        let scratch = try Workspace(count: Sizes.product(max(parameterCount, 1), k, "gradients"),
                                    for: "one example's gradients")
        try blocks(x, theta, seeds: k, reuse: reuse) { pass, range in
            let rows = range.count
            seed.pointer.update(repeating: 0, count: rows * k * k)
            for i in 0..<rows { for c in 0..<k { seed.pointer[i * k * k + c * k + c] = 1 } }
            try pass.backward(seed.matrix(rows, k * k).readOnly, seeds: k, theta: theta.pointer) { f, patches, delta in
                for i in 0..<rows {
                    try Self.gradients(f, patches, delta, example: i, seeds: k, scratch: scratch.pointer) { c in
                        out.base + ((range.lowerBound + i) * k + c) * out.ld + f.offset
                    }
                }
            }
        }
        try InputCheck.finiteResult(out, "the Jacobian")
    }

    /// Σ_i J(x_i)ᵀ u_i for r cotangents at once: `u` is n × (r·k) (cotangent j in columns
    /// j·k..<(j+1)·k), `out` r × P (overwritten). One backward pass per block, the gradients
    /// summed over the block by one GEMM per affine layer.
    func vjp(_ x: MatrixView, _ u: MatrixView, cotangents r: Int, into out: MutableMatrixView,
             reuse: ((Int, Int) throws -> LayerPass)? = nil) throws {
        try accumulateGradients(x, parameters, cotangents: r, into: out, reuse: reuse) { _, range in
            MatrixView(unchecked: u.base + range.lowerBound * u.ld, rows: range.count, cols: u.cols, ld: u.ld)
        }
    }

    /// Σ_i J(x_i)ᵀ u_i at parameters `theta` for r cotangents per example that `cotangents(pass,
    /// rows)` supplies for each block after its forward pass (rows × (r·k), cotangent j in
    /// columns j·k..<(j+1)·k; the loss gradient of training, or given vectors): `out` r × P,
    /// overwritten.
    func accumulateGradients(_ x: MatrixView, _ theta: MLP.ParameterVector, cotangents r: Int,
                             into out: MutableMatrixView, reuse: ((Int, Int) throws -> LayerPass)?,
                             _ cotangents: (LayerPass, Range<Int>) throws -> MatrixView) throws {
        for j in 0..<r { out.base.advanced(by: j * out.ld).update(repeating: 0, count: parameterCount) }
        let scratch = try Workspace(count: Sizes.product(program.parameterCount, r, "gradients"), for: "gradients")
        try blocks(x, theta, seeds: r, reuse: reuse) { pass, range in
            try pass.backward(try cotangents(pass, range), seeds: r, theta: theta.pointer) { f, patches, delta in
                // G = a Pᵀ δ: fanIn × r·channelsOut, cotangent j's gradient in its column block.
                let g = MutableMatrixView(unchecked: scratch.pointer, rows: f.fanIn, cols: r * f.channelsOut,
                                          ld: r * f.channelsOut)
                try MatrixProduct.gemm(patches, transposeA: true, delta, alpha: f.weightScale, into: g)
                for j in 0..<r {
                    let w = out.base + j * out.ld + f.offset
                    for a in 0..<f.fanIn {
                        let from = g.base + a * g.ld + j * f.channelsOut, to = w + a * f.channelsOut
                        for o in 0..<f.channelsOut { to[o] += from[o] }
                    }
                    guard f.hasBias else { continue }
                    for row in 0..<delta.rows {
                        let d = delta.base + row * delta.ld + j * f.channelsOut
                        for o in 0..<f.channelsOut { w[f.weights + o] += f.biasScale * d[o] }
                    }
                }
            }
        }
    }

    /// One example's parameter gradients of an affine step for its K cotangents, each into the
    /// row `destination(c)` (the step's W then b entries): ∂W = a P_iᵀ δ_i (one GEMM for all K,
    /// through `scratch`), ∂b = c Σ_positions δ_i.
    static func gradients(_ f: LayerProgram.Affine, _ patches: MatrixView, _ delta: MatrixView, example i: Int,
                          seeds k: Int, scratch: UnsafeMutablePointer<Double>,
                          destination: (Int) -> UnsafeMutablePointer<Double>) throws {
        let q = f.positionsOut, width = k * f.channelsOut
        let p = MatrixView(unchecked: patches.base + i * q * patches.ld, rows: q, cols: f.fanIn, ld: patches.ld)
        let d = MatrixView(unchecked: delta.base + i * q * delta.ld, rows: q, cols: width, ld: delta.ld)
        let g = MutableMatrixView(unchecked: scratch, rows: f.fanIn, cols: width, ld: width)
        if q == 1 {  // an outer product: a hᵀ δ
            for r in 0..<f.fanIn {
                let h = f.weightScale * p.base[r]
                for j in 0..<width { g.base[r * width + j] = h * d.base[j] }
            }
        } else {
            try MatrixProduct.gemm(p, transposeA: true, d, alpha: f.weightScale, into: g)
        }
        for c in 0..<k {
            let row = destination(c)
            for a in 0..<f.fanIn { (row + a * f.channelsOut).update(from: g.base + a * width + c * f.channelsOut,
                                                                     count: f.channelsOut) }
            guard f.hasBias else { continue }
            let b = row + f.weights
            for j in 0..<f.channelsOut {
                var s = 0.0
                for r in 0..<q { s += d.base[r * d.ld + c * f.channelsOut + j] }
                b[j] = f.biasScale * s
            }
        }
    }
}

extension Network {
    /// `f(X)` for a `Matrix` of inputs (n × d): n × k.
    public func callAsFunction(_ x: Matrix) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: outputCount)
        try x.withView { xv in try out.withMutableView { try forward(xv, into: $0) } }
        return out
    }

    /// The Jacobian ((n·k) × P) of a `Matrix` of inputs.
    public func jacobian(_ x: Matrix) throws -> Matrix {
        var out = try Matrix(rows: try Sizes.product(x.rows, outputCount, "Jacobian rows"), cols: parameterCount)
        try x.withView { xv in try out.withMutableView { try jacobian(xv, into: $0) } }
        return out
    }
}
