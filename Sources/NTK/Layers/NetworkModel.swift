import Synchronization

/// A `Network` on a fixed set of inputs (one per row of `data`) as a `TangentModel`: its tangent
/// kernel, kernel ridge by CG and Lanczos flows come from the model machinery
/// (`TangentModelKernel`, `TangentModelOperator`).
///
/// Products: `jacobian` by k backward passes per block (per-example gradients: one small GEMM
/// per example and affine layer); `vjp` by one backward pass per cotangent with the gradients
/// summed over the block (one GEMM per layer); `jvp` as the Jacobian block times the tangents
/// (k backward passes per call: there is no forward-mode pass yet).
public final class NetworkModel: TangentModel, @unchecked Sendable {
    public let network: Network
    let data: Matrix
    /// One pass per number of cotangents, kept between calls (their buffers are large: fresh ones
    /// per call cost page faults).
    private let passes = Mutex<[Int: LayerPass]>([:])

    /// A kept pass for `seeds` cotangents and blocks of `capacity` rows.
    private func pass(capacity: Int, seeds: Int) throws -> LayerPass {
        try passes.withLock { kept in
            if let pass = kept[seeds], pass.capacity == capacity { return pass }
            let pass = try LayerPass(network.program, capacity: capacity, seeds: seeds)
            kept[seeds] = pass
            return pass
        }
    }

    /// - Throws: as `Network.forward` for inputs of the wrong width or non-finite entries.
    public init(_ network: Network, data: Matrix) throws {
        try data.withView { try network.checkInput($0, "X") }
        (self.network, self.data) = (network, data)
    }

    /// The network on a copy of the rows of `x` (checked by the designated init).
    convenience init(_ network: Network, data x: MatrixView) throws {
        var data = try Matrix(rows: x.rows, cols: x.cols)
        try data.withMutableView { $0.copy(from: x) }
        try self.init(network, data: data)
    }

    public var parameterCount: Int { network.parameterCount }
    public var outputCount: Int { network.outputCount }
    public var blockRows: Int { network.blockRows(seeds: network.outputCount) }
    public var hasForward: Bool { true }
    public var hasJacobian: Bool { true }

    /// The inputs of `rows` as one contiguous block.
    private func inputs(_ rows: [Int]) throws -> Matrix {
        let d = data.cols
        var x = try Matrix(rows: rows.count, cols: d)
        try data.withView { all in
            try x.withMutableView { out in
                for (i, r) in rows.enumerated() {
                    guard r < all.rows else {
                        throw NTKError.invalidArgument("row \(r) is beyond the \(all.rows) inputs of the network model")
                    }
                    (out.base + i * out.ld).update(from: all.base + r * all.ld, count: d)
                }
            }
        }
        return x
    }

    public func forward(rows: [Int], into out: MutableMatrixView) throws {
        let x = try inputs(rows)
        try x.withView { try network.forward($0, into: out, reuse: pass) }
    }

    public func jacobian(rows: [Int], into out: MutableMatrixView) throws {
        let x = try inputs(rows)
        try x.withView { try network.jacobian($0, into: out, reuse: pass) }
    }

    public func jvp(rows: [Int], tangents: MatrixView, into out: MutableMatrixView) throws {
        let x = try inputs(rows)
        var j = try Matrix(rows: try Sizes.product(rows.count, outputCount, "Jacobian rows"), cols: parameterCount)
        try x.withView { xv in try j.withMutableView { try network.jacobian(xv, into: $0, reuse: pass) } }
        try j.withView { try MatrixProduct.gemm(tangents, $0, transposeB: true, into: out) }
    }

    public func vjp(rows: [Int], cotangents: MatrixView, into out: MutableMatrixView) throws {
        let x = try inputs(rows), k = outputCount, r = cotangents.rows
        // Cotangent j's entries for example i side by side: u[i, j·k + c] = cotangents[j, i·k + c].
        var u = try Matrix(rows: rows.count, cols: try Sizes.product(r, k, "cotangents"))
        try u.withMutableView { uv in
            for j in 0..<r {
                for i in 0..<rows.count {
                    (uv.base + i * uv.ld + j * k).update(from: cotangents.base + j * cotangents.ld + i * k, count: k)
                }
            }
        }
        try x.withView { xv in try u.withView { try network.vjp(xv, $0, cotangents: r, into: out, reuse: pass) } }
    }
}

extension Network {
    /// The empirical NTK between the rows of `x1` and `x2` (nil: `x1`'s own, exactly symmetric)
    /// in the forms of `EmpiricalKernel.Output` into `out` (n1 × (n2 · entries)), from the
    /// Jacobians of memory-bounded blocks of rows (`TangentModelKernel`; `.vectorProducts` pushes
    /// X2's Jacobian rows through `jvp`).
    public func empiricalKernel(_ x1: MatrixView, _ x2: MatrixView?, output: EmpiricalKernel.Output = .mean,
                                method: TangentModelKernel.Method = .contraction, into out: MutableMatrixView,
                                memoryLimit: Int? = nil, progress: ProgressHandler = .none) throws {
        try checkInput(x1, "X1")
        if let x2 { try checkInput(x2, "X2") }
        let n1 = x1.rows, n2 = x2?.rows ?? 0, d = architecture.inputDimension
        var data = try Matrix(rows: try Sizes.sum(n1, n2, "rows"), cols: d)
        try data.withMutableView { all in
            for i in 0..<n1 { (all.base + i * all.ld).update(from: x1.base + i * x1.ld, count: d) }
            if let x2 { for i in 0..<n2 { (all.base + (n1 + i) * all.ld).update(from: x2.base + i * x2.ld, count: d) } }
        }
        try TangentModelKernel.compute(try NetworkModel(self, data: data), rows1: Array(0..<n1),
                                       rows2: x2 == nil ? nil : Array(n1..<(n1 + n2)), output: output, method: method,
                                       into: out, memoryLimit: memoryLimit, progress: progress)
    }

    /// The diagonal `K(x, x)` at the rows of `x` alone (squared norms of Jacobian rows; mean
    /// over outputs, or per output) into `out` (n × entries).
    public func empiricalKernelDiagonal(_ x: MatrixView, output: EmpiricalKernel.Output = .mean,
                                        into out: MutableMatrixView) throws {
        try TangentModelKernel.diagonal(try NetworkModel(self, data: x), rows: Array(0..<x.rows), output: output,
                                        into: out)
    }

    /// `empiricalKernel` on `Matrix` inputs: n1 × (n2 · entries).
    public func empiricalKernel(_ x1: Matrix, _ x2: Matrix? = nil, output: EmpiricalKernel.Output = .mean,
                                memoryLimit: Int? = nil, progress: ProgressHandler = .none) throws -> Matrix {
        let n2 = x2?.rows ?? x1.rows
        var out = try Matrix(rows: x1.rows, cols: try Sizes.product(n2, output.entries(outputCount), "kernel columns"))
        try x1.withView { v1 in
            try Matrix.withOptionalView(x2) { v2 in
                try out.withMutableView {
                    try empiricalKernel(v1, v2, output: output, into: $0, memoryLimit: memoryLimit, progress: progress)
                }
            }
        }
        return out
    }
}
