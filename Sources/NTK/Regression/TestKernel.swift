/// A test set seen through its kernel: `K(X_test, X)` (m × n, between m test points and the n
/// training points) and the test offsets `f₀` (m × k, or nil for 0), validated once: finite
/// entries here, shapes against the training side with `require(trainRows:outputs:)`.
public struct TestKernel {
    /// K_test_train, m × n.
    public let kernel: MatrixView
    /// The test offsets f₀, m × k, or nil for 0.
    public let offsets: MatrixView?

    /// The number of test points m.
    public var rows: Int { kernel.rows }

    /// - Throws: `dimensionMismatch` (offsets with another number of rows), `nonFinite`.
    public init(kernel: MatrixView, offsets: MatrixView? = nil) throws {
        if let f0 = offsets, f0.rows != kernel.rows {
            throw NTKError.dimensionMismatch("f0_test has \(f0.rows) rows but K_test_train has \(kernel.rows)")
        }
        try InputCheck.finite(kernel, "K_test_train")
        if let offsets { try InputCheck.finite(offsets, "f0_test") }
        self.kernel = kernel
        self.offsets = offsets
    }

    /// Throws `dimensionMismatch` unless the kernel has a column per training point and the
    /// offsets a column per output.
    func require(trainRows n: Int, outputs k: Int) throws {
        guard kernel.cols == n else {
            throw NTKError.dimensionMismatch("K_test_train has \(kernel.cols) columns but there are \(n) training "
                                             + "points")
        }
        if let f0 = offsets, f0.cols != k {
            throw NTKError.dimensionMismatch("f0_test is \(f0.rows) × \(f0.cols) but must be \(rows) × \(k)")
        }
    }

    /// Writes `f₀_test + K_test_train · coefficients` (m × k) into `out`, which must not overlap
    /// the inputs; `coefficients` is n × k.
    func predict(_ coefficients: MatrixView, into out: MutableMatrixView) throws {
        let k = coefficients.cols
        guard out.rows == rows, out.cols == k else {
            throw NTKError.dimensionMismatch("the prediction output is \(out.rows) × \(out.cols) but must be "
                                             + "\(rows) × \(k)")
        }
        try out.requireDisjoint(from: kernel, "the prediction output", "K_test_train")
        if let offsets {
            try out.requireDisjoint(from: offsets, "the prediction output", "f0_test")
            for i in 0..<rows { (out.base + i * out.ld).update(from: offsets.row(i), count: k) }
        }
        try MatrixProduct.gemm(kernel, coefficients, beta: offsets == nil ? 0 : 1, into: out)
        try InputCheck.finiteResult(out, "the test predictions")
    }

    /// Calls `body` with the test kernel of `kernel` and `offsets` given as `Matrix` values.
    static func with<R>(_ kernel: Matrix, _ offsets: Matrix?, _ body: (TestKernel) throws -> R) throws -> R {
        try kernel.withView { kv in
            try Matrix.withOptionalView(offsets) { try body(TestKernel(kernel: kv, offsets: $0)) }
        }
    }
}
