/// Jacobians of an MLP, and tangent kernels of any model from its Jacobian (eq. 4).
extension MLP {
    /// The Jacobian `∂f(X)/∂θ`, n × k × P contiguous (entry `[s][c][p] = ∂f_c(x_s)/∂θ_p`,
    /// θ in the layout of `MLPArchitecture`), into `out`. Memory: the output, n·k·P doubles.
    public func jacobian(_ x: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        try checkInput(x, "X")
        let a = architecture, k = a.outputDimension, p = a.parameterCount
        let n = x.rows
        _ = try Sizes.product(try Sizes.product(try Sizes.product(n, k, "Jacobian rows"), p, "Jacobian size"), 8, "Jacobian bytes")
        if n == 0 { return }
        let block = min(n, 256)
        let pass = try NetworkPass(a, capacity: block, deltas: true)
        let theta = parameters
        for r0 in stride(from: 0, to: n, by: block) {
            let rows = min(block, n - r0)
            try pass.run(x.rowRange(r0, r0 + rows), theta)
            for l in 0..<a.layerCount {
                let cols = a.fanIn(l) * a.fanOut(l) + (a.hasBias ? a.fanOut(l) : 0)
                let target = MutableMatrixView(unchecked: out + r0 * k * p + a.weightOffset(l), rows: rows * k, cols: cols, ld: p)
                JacobianColumns.write(pass, rows: 0..<rows, layer: l, units: 0..<a.fanIn(l), bias: a.hasBias, into: target)
            }
        }
        try InputCheck.finiteResult(out, count: n * k * p, "the Jacobian")
    }
}

/// Explicit Jacobian columns of one layer, `∂f_c(x_s)/∂θ` for the rows of a pass.
enum JacobianColumns {
    /// Writes into `out` ((rows.count · k) × columns, row `s·k + c`) the derivatives with respect
    /// to `W_l[i, j]` for `i ∈ units`, all j (column `(i − units.lowerBound)·fanOut + j`), then,
    /// with `bias`, with respect to `b_l[j]`.
    static func write(_ pass: NetworkPass, rows: Range<Int>, layer l: Int, units: Range<Int>, bias: Bool,
                      into out: MutableMatrixView) {
        let a = pass.architecture, k = a.outputDimension, fanOut = a.fanOut(l)
        let scale = a.weightScale(l), c0 = a.biasScale
        let h = pass.input(l), output = l == a.layerCount - 1
        let delta = output ? nil : pass.delta(l)
        for (s, row) in rows.enumerated() {
            for c in 0..<k {
                let dst = out.base + (s * k + c) * out.ld
                var col = 0
                if let delta {
                    // Hidden layer: the signal Δ_l^c(x_s).
                    let signal = delta.row(row) + c * fanOut
                    for i in units {
                        let hi = scale * h[row, i]
                        for j in 0..<fanOut { dst[col + j] = hi * signal[j] }
                        col += fanOut
                    }
                    if bias { for j in 0..<fanOut { dst[col + j] = c0 * signal[j] } }
                } else {
                    // Output layer: the signal is the unit vector e_c.
                    for i in units {
                        let hi = scale * h[row, i]
                        for j in 0..<fanOut { dst[col + j] = j == c ? hi : 0 }
                        col += fanOut
                    }
                    if bias { for j in 0..<fanOut { dst[col + j] = j == c ? c0 : 0 } }
                }
            }
        }
    }
}

/// The tangent kernel of any model from its Jacobians (eq. 4): `J1` is n1 × k × P, `J2`
/// n2 × k × P (or nil for `J1`); the forms are those of `EmpiricalKernel.Output`. The mean over
/// outputs is one Gram matrix of the rows of J reshaped to n × (k·P), scaled by 1/k.
public enum JacobianKernel {
    public static func compute(_ j1: UnsafePointer<Double>, n1: Int, _ j2: UnsafePointer<Double>?, n2: Int,
                               outputs k: Int, parameters p: Int, output form: EmpiricalKernel.Output = .mean,
                               into out: MutableMatrixView, progress: ProgressHandler = .none) throws {
        guard k >= 1 else { throw NTKError.invalidArgument("the number of outputs must be ≥ 1, got \(k)") }
        guard p >= 0, n1 >= 0, n2 >= 0 else { throw NTKError.invalidArgument("sizes must be ≥ 0") }
        if j2 == nil && n2 != n1 {
            throw NTKError.dimensionMismatch("J2 is absent (symmetric kernel) so n2 must equal n1 = \(n1), got \(n2)")
        }
        let width = try Sizes.product(k, p, "k·P")
        let a = try MatrixView(j1, rows: n1, cols: width, name: "J1")
        let b = try j2.map { try MatrixView($0, rows: n2, cols: width, name: "J2") }
        let entries = form.entries(k)
        _ = try Sizes.product(try Sizes.product(try Sizes.product(n1, n2, "kernel size"), entries, "kernel size"), 8, "kernel bytes")
        try EmpiricalKernel.checkShape(out, rows: n1, cols: n2 * entries)
        switch form {
        case .mean:
            try Gram.compute(a, b, alpha: 1 / Double(k), into: out, progress: progress)
        case .perOutput, .full:
            try InputCheck.finite(a, "J1")
            if let b { try InputCheck.finite(b, "J2") }
            let other = b ?? a
            let scratch = try Workspace(count: max(try Sizes.product(n1, n2, "kernel size"), 1), for: "a kernel slice")
            let slice = MutableMatrixView(unchecked: scratch.pointer, rows: n1, cols: n2, ld: max(n2, 1))
            try progress.report(0)
            let pairs = form == .full ? k * k : k
            for pair in 0..<pairs {
                let (c, c2) = form == .full ? (pair / k, pair % k) : (pair, pair)
                try MatrixProduct.gemm(a.columns(c * p, (c + 1) * p), other.columns(c2 * p, (c2 + 1) * p),
                                       transposeB: true, into: slice)
                for i in 0..<n1 {
                    for j in 0..<n2 { out.base[i * out.ld + j * entries + (form == .full ? c * k + c2 : c)] = slice[i, j] }
                }
                try progress.report(Double(pair + 1) / Double(pairs))
            }
        }
    }
}
