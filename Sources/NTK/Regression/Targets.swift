/// The training targets of a regression: `Y` (n × k) and the offsets `f₀` (n × k, the model's
/// outputs on the training points at initialisation, after training for boosting, or nil for
/// 0), validated once: equal shapes, finite entries. Every solver takes its targets in this
/// form, so each shape rule is written here only.
public struct Targets {
    /// The targets Y, n × k.
    public let y: MatrixView
    /// The offsets f₀, n × k, or nil for 0.
    public let offsets: MatrixView?

    /// The number of training points n.
    public var rows: Int { y.rows }
    /// The number of outputs k.
    public var outputs: Int { y.cols }

    /// - Throws: `dimensionMismatch` (offsets of another shape), `nonFinite`.
    public init(y: MatrixView, offsets: MatrixView? = nil) throws {
        if let f0 = offsets, f0.rows != y.rows || f0.cols != y.cols {
            throw NTKError.dimensionMismatch("f0_train is \(f0.rows) × \(f0.cols) but Y is \(y.rows) × \(y.cols)")
        }
        try InputCheck.finite(y, "Y")
        if let offsets { try InputCheck.finite(offsets, "f0_train") }
        self.y = y
        self.offsets = offsets
    }

    /// Throws `dimensionMismatch` unless there is one target row per training point of a kernel
    /// of order `n` (`kernel` names it in the message).
    func requireRows(_ n: Int, _ kernel: String) throws {
        guard rows == n else { throw NTKError.dimensionMismatch("Y has \(rows) rows but \(kernel) is \(n) × \(n)") }
    }

    /// `Y − f₀` (n × k, contiguous) in a new workspace.
    func residual() throws -> Workspace {
        let n = rows, k = outputs
        let r = try Workspace(count: max(try Sizes.product(n, k, "size of Y"), 1), for: "the residual Y - f0")
        for i in 0..<n {
            for c in 0..<k { r.pointer[i * k + c] = y[i, c] - (offsets?[i, c] ?? 0) }
        }
        return r
    }

    /// Calls `body` with the targets of `y` and `offsets` given as `Matrix` values.
    static func with<R>(_ y: Matrix, _ offsets: Matrix?, _ body: (Targets) throws -> R) throws -> R {
        try y.withView { yv in try Matrix.withOptionalView(offsets) { try body(Targets(y: yv, offsets: $0)) } }
    }
}
