/// The tangent kernel of any model from its Jacobians (eq. 4): `J1` is n1 × k × P, `J2`
/// n2 × k × P (or nil for `J1`); the forms are those of `EmpiricalKernel.Output`. The mean over
/// outputs is one Gram matrix of the rows of J reshaped to n × (k·P), scaled by 1/k.
public enum JacobianKernel {
    /// Writes the kernel of `J1` (n1 × k × P, contiguous) and `J2` (n2 × k × P, or nil for `J1`)
    /// into `out`, an n1 × (n2 · entries) matrix in the `output` form.
    /// - Throws: `invalidArgument` (k < 1, negative sizes), `dimensionMismatch`, `nonFinite`,
    ///   `tooLarge`, `outOfMemory`, `cancelled`.
    package static func compute(_ j1: UnsafePointer<Double>, n1: Int, _ j2: UnsafePointer<Double>?, n2: Int,
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
        _ = try Sizes.product(try Sizes.product(try Sizes.product(n1, n2, "kernel size"), entries, "kernel size"), 8,
                              "kernel bytes")
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
                    let column = form == .full ? c * k + c2 : c
                    for j in 0..<n2 { out.base[i * out.ld + j * entries + column] = slice[i, j] }
                }
                try progress.report(Double(pair + 1) / Double(pairs))
            }
        }
    }
}

extension JacobianKernel {
    /// The tangent kernel of Jacobians `j1` ((n1·k) × P, as `MLP.jacobian` returns them) and `j2`
    /// ((n2·k) × P, nil: `j1`) with k outputs: n1 × (n2 · entries) in the `output` form.
    public static func compute(_ j1: Matrix, _ j2: Matrix? = nil, outputs k: Int,
                               output form: EmpiricalKernel.Output = .mean,
                               progress: ProgressHandler = .none) throws -> Matrix {
        guard k >= 1, j1.rows % k == 0, (j2?.rows ?? 0) % k == 0 else {
            throw NTKError.dimensionMismatch("Jacobians have \(j1.rows) and \(j2?.rows ?? j1.rows) rows, not "
                                             + "multiples of k = \(k)")
        }
        if let j2, j2.cols != j1.cols {
            throw NTKError.dimensionMismatch("J1 has \(j1.cols) parameters but J2 has \(j2.cols)")
        }
        let n1 = j1.rows / k, n2 = (j2?.rows ?? j1.rows) / k
        var out = try Matrix(rows: n1, cols: try Sizes.product(n2, form.entries(k), "kernel columns"))
        try j1.withView { v1 in
            try Matrix.withOptionalView(j2) { v2 in
                try out.withMutableView {
                    try compute(v1.base, n1: n1, v2?.base, n2: n2, outputs: k, parameters: j1.cols, output: form,
                                into: $0, progress: progress)
                }
            }
        }
        return out
    }
}
