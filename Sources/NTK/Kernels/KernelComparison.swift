/// Measures that compare kernels as they move during training.
public enum KernelComparison {
    /// Kernel distance `1 − ⟨A, B⟩_F / (‖A‖_F ‖B‖_F)` of two kernels given as arrays of the same
    /// length (any shape): 0 for identical kernels, invariant to scaling either one, at most 2.
    /// - Throws: `dimensionMismatch`, `nonFinite`, `invalidArgument` when either kernel is zero.
    public static func distance(_ a: MatrixView, _ b: MatrixView) throws -> Double {
        guard a.rows == b.rows, a.cols == b.cols else {
            throw NTKError.dimensionMismatch("the kernels have different sizes")
        }
        try InputCheck.finite(a, "A")
        try InputCheck.finite(b, "B")
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<a.rows {
            for j in 0..<a.cols {
                let x = a[i, j], y = b[i, j]
                ab += x * y
                aa += x * x
                bb += y * y
            }
        }
        guard aa > 0, bb > 0 else { throw NTKError.invalidArgument("kernel distance is undefined for a zero kernel") }
        return max(0, 1 - ab / (aa.squareRoot() * bb.squareRoot()))
    }

    /// Kernel–target alignment `⟨K, Y Yᵀ⟩_F / (‖K‖_F ‖Y Yᵀ‖_F)` for K (n × n) and targets Y (n × k).
    public static func alignment(_ k: MatrixView, _ y: MatrixView) throws -> Double {
        try InputCheck.square(k, "K")
        guard y.rows == k.rows else {
            throw NTKError.dimensionMismatch("Y has \(y.rows) rows but K is \(k.rows) × \(k.rows)")
        }
        try InputCheck.finite(k, "K")
        try InputCheck.finite(y, "Y")
        let n = k.rows, c = y.cols
        let yyt = try Workspace(count: max(try Sizes.product(n, n, "Y Yᵀ"), 1), for: "Y Yᵀ")
        try Gram.compute(y, nil, into: yyt.matrix(n, n))
        var inner = 0.0, kk = 0.0, tt = 0.0
        for i in 0..<n {
            for j in 0..<n {
                let a = k[i, j], b = yyt.pointer[i * n + j]
                inner += a * b
                kk += a * a
                tt += b * b
            }
        }
        guard kk > 0, tt > 0, c > 0 else {
            throw NTKError.invalidArgument("alignment is undefined for a zero kernel or zero targets")
        }
        return inner / (kk.squareRoot() * tt.squareRoot())
    }
}
