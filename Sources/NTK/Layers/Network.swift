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

    /// P, the number of parameters.
    public var parameterCount: Int { program.parameterCount }
    /// k, the number of outputs.
    public var outputCount: Int { architecture.outputDimension }

    /// The parameter vector in use now (a snapshot).
    var parameters: MLP.ParameterVector { current.withLock { $0 } }

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

    /// Rows per block: the block's activations within 64 MiB (at least one row, at most 256).
    var blockRows: Int {
        let perRow = program.sizes.reduce(0, +) * 3 * 8
        return max(1, min(256, (64 << 20) / max(perRow, 1)))
    }

    func checkInput(_ x: MatrixView, _ name: String) throws {
        try NetworkInfiniteWidthKernel.check(architecture, x, name)
    }

    /// Runs `body` on each block of at most `blockRows` rows of `x` after its forward pass.
    func blocks(_ x: MatrixView, _ theta: MLP.ParameterVector,
                _ body: (LayerPass, Range<Int>) throws -> Void) throws {
        let block = min(max(x.rows, 1), blockRows)
        let pass = try LayerPass(program, capacity: block)
        for r0 in stride(from: 0, to: x.rows, by: block) {
            let r1 = min(r0 + block, x.rows)
            try pass.run(x.rowRange(r0, r1), theta.pointer)
            try body(pass, r0..<r1)
        }
    }

    /// The outputs `f(X)` (n × k) into `out`.
    public func forward(_ x: MatrixView, into out: MutableMatrixView) throws {
        try checkInput(x, "X")
        let k = outputCount
        guard out.rows == x.rows, out.cols == k else {
            throw NTKError.dimensionMismatch("output is \(out.rows) × \(out.cols) but f(X) is \(x.rows) × \(k)")
        }
        try out.requireDisjoint(from: x, "output", "X")
        try blocks(x, parameters) { pass, range in
            out.rowRange(range.lowerBound, range.upperBound).copy(from: pass.outputs)
        }
        try InputCheck.finiteResult(out, "the network's outputs")
    }

    /// The Jacobian `∂f(x_i)/∂θ` of each row, row `i·k + c` = output c of example i ((n·k) × P).
    public func jacobian(_ x: MatrixView, into out: MutableMatrixView) throws {
        try checkInput(x, "X")
        let k = outputCount, p = parameterCount
        guard out.rows == x.rows * k, out.cols == p else {
            throw NTKError.dimensionMismatch("the Jacobian is \(x.rows * k) × \(p), the output \(out.rows) × "
                                             + "\(out.cols)")
        }
        let theta = parameters
        let seed = try Workspace(count: Sizes.product(min(max(x.rows, 1), blockRows), k, "seeds"), for: "seeds")
        try blocks(x, theta) { pass, range in
            for c in 0..<k {
                let rows = range.count
                seed.pointer.update(repeating: 0, count: rows * k)
                for i in 0..<rows { seed.pointer[i * k + c] = 1 }
                try pass.backward(seed.matrix(rows, k).readOnly, theta: theta.pointer) { f, patches, delta in
                    for i in 0..<rows {
                        let row = out.base + ((range.lowerBound + i) * k + c) * out.ld + f.offset
                        try Self.gradient(f, patches, delta, example: i, into: row)
                    }
                }
            }
        }
        try InputCheck.finiteResult(out, "the Jacobian")
    }

    /// Σ_i J(x_i)ᵀ u_i for cotangents `u` (n × k): one backward pass per block, the gradient
    /// summed into `out` (P entries, overwritten).
    func vjp(_ x: MatrixView, _ u: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        let theta = parameters
        out.update(repeating: 0, count: parameterCount)
        try blocks(x, theta) { pass, range in
            let seed = MatrixView(unchecked: u.base + range.lowerBound * u.ld, rows: range.count, cols: u.cols,
                                  ld: u.ld)
            try pass.backward(seed, theta: theta.pointer) { f, patches, delta in
                let g = MutableMatrixView(unchecked: out + f.offset, rows: f.fanIn, cols: f.channelsOut,
                                          ld: f.channelsOut)
                try MatrixProduct.gemm(patches, transposeA: true, delta, alpha: f.weightScale, beta: 1, into: g)
                if f.hasBias {
                    let b = out + f.offset + f.weights
                    for r in 0..<delta.rows {
                        for j in 0..<f.channelsOut { b[j] += f.biasScale * delta[r, j] }
                    }
                }
            }
        }
    }

    /// One example's parameter gradient of an affine step into `row` (its W then b entries):
    /// ∂W = a P_iᵀ δ_i, ∂b = c Σ_positions δ_i.
    static func gradient(_ f: LayerProgram.Affine, _ patches: MatrixView, _ delta: MatrixView, example i: Int,
                         into row: UnsafeMutablePointer<Double>) throws {
        let q = f.positionsOut
        let p = MatrixView(unchecked: patches.base + i * q * patches.ld, rows: q, cols: f.fanIn, ld: patches.ld)
        let d = MatrixView(unchecked: delta.base + i * q * delta.ld, rows: q, cols: f.channelsOut, ld: delta.ld)
        let g = MutableMatrixView(unchecked: row, rows: f.fanIn, cols: f.channelsOut, ld: f.channelsOut)
        if q == 1 {  // an outer product: a hᵀ δ
            for r in 0..<f.fanIn {
                let h = f.weightScale * p.base[r]
                for j in 0..<f.channelsOut { g.base[r * f.channelsOut + j] = h * d.base[j] }
            }
        } else {
            try MatrixProduct.gemm(p, transposeA: true, d, alpha: f.weightScale, into: g)
        }
        guard f.hasBias else { return }
        let b = row + f.weights
        for j in 0..<f.channelsOut {
            var s = 0.0
            for r in 0..<q { s += d.base[r * d.ld + j] }
            b[j] = f.biasScale * s
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
