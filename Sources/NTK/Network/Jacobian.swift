/// Jacobians of an MLP: the derivatives of its outputs with respect to every parameter.
extension MLP {
    /// The Jacobian `∂f(X)/∂θ`, n × k × P contiguous (entry `[s][c][p] = ∂f_c(x_s)/∂θ_p`,
    /// θ in the layout of `MLPArchitecture`), into `out`, in double or (θ rounded once, every
    /// step in single precision) single precision. Memory: the output, n·k·P entries.
    package func jacobian(_ x: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        try jacobianInEither(x, into: out)
    }

    /// `jacobian` in single precision. (Other modules call these two concrete forms: a generic
    /// call across the module boundary would run unspecialised, many times slower.)
    package func jacobian(_ x: SingleMatrixView, into out: UnsafeMutablePointer<Float>) throws {
        try jacobianInEither(x, into: out)
    }

    private func jacobianInEither<S: BLASScalar>(_ x: RowMajorView<S>, into out: UnsafeMutablePointer<S>) throws {
        try checkInput(x, "X")
        let a = architecture, k = a.outputDimension, p = a.parameterCount
        let n = x.rows
        _ = try Sizes.product(try Sizes.product(try Sizes.product(n, k, "Jacobian rows"), p, "Jacobian size"),
                              MemoryLayout<S>.stride, "Jacobian bytes")
        if n == 0 { return }
        let block = min(n, 256)
        let pass = try NetworkPass<S>(a, capacity: block, deltas: true)
        let theta = try ScalarParameters<S>(parameters, count: p)
        for r0 in stride(from: 0, to: n, by: block) {
            let rows = min(block, n - r0)
            try pass.run(x.rowRange(r0, r0 + rows), theta.pointer)
            for l in 0..<a.layerCount {
                let cols = a.fanIn(l) * a.fanOut(l) + (a.hasBias ? a.fanOut(l) : 0)
                let target = MutableRowMajorView(unchecked: out + r0 * k * p + a.weightOffset(l), rows: rows * k,
                                               cols: cols, ld: p)
                JacobianColumns.write(pass, rows: 0..<rows, layer: l, units: 0..<a.fanIn(l), bias: a.hasBias,
                                      into: target)
            }
        }
        try InputCheck.finiteResult(out, count: n * k * p, "the Jacobian")
    }
}

extension MLP {
    /// The Jacobian `∂f(X)/∂θ` of the rows of `x` (n × d) as an (n·k) × P matrix: row `s·k + c`
    /// holds `∂f_c(x_s)/∂θ` in the parameter layout of `MLPArchitecture`.
    public func jacobian(_ x: Matrix) throws -> Matrix {
        let a = architecture
        var j = try Matrix(rows: try Sizes.product(x.rows, a.outputDimension, "n·k"), cols: a.parameterCount)
        try x.withView { xv in try j.withMutableView { try jacobian(xv, into: $0.base) } }
        return j
    }
}

/// Explicit Jacobian columns of one layer, `∂f_c(x_s)/∂θ` for the rows of a pass.
enum JacobianColumns {
    /// Writes into `out` ((rows.count · k) × columns, row `s·k + c`) the derivatives with respect
    /// to `W_l[i, j]` for `i ∈ units`, all j (column `(i − units.lowerBound)·fanOut + j`), then,
    /// with `bias`, with respect to `b_l[j]`.
    static func write<S: BLASScalar>(_ pass: NetworkPass<S>, rows: Range<Int>, layer l: Int, units: Range<Int>,
                                     bias: Bool, into out: MutableRowMajorView<S>) {
        let a = pass.architecture, k = a.outputDimension, fanOut = a.fanOut(l)
        let scale = S(a.weightScale(l)), c0 = S(a.biasScale)
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
