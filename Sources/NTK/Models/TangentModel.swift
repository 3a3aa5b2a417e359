/// A differentiable model f(x; θ) — P parameters, k outputs — that libntk knows only through
/// products with its Jacobian on rows of the caller's data, referenced by index (libntk never
/// sees the inputs). With `J(x)` the k × P Jacobian `∂f(x)/∂θ` at the model's fixed parameters:
///
/// - `jvp`: for tangents v₁ … v_r (r × P), `J(x_i) v_j` at each row i (r × count × k);
/// - `vjp`: for cotangents u₁ … u_r (r × count × k), `Σ_i J(x_i)ᵀ u_j[i]` (r × P);
/// - `forward` (optional): f(x_i) (count × k);
/// - `jacobian` (optional): `J(x_i)` (count × k × P), when the model has it cheaper than
///   k `vjp`s per row (JAX's `vmap(jacrev)`, `torch.func.jacrev` over a batch).
///
/// Its tangent kernel (eq. 4) is `K_cc′(x, x′) = J_c(x) · J_c′(x′)`, the mean over outputs by
/// default, exactly as for libntk's own networks (`EmpiricalKernel`); `TangentModelKernel`
/// computes it dense and `TangentModelOperator` applies it matrix-free to the CG and Lanczos
/// solvers. Every call gets at most `blockRows` rows. Calls come from the calling thread only,
/// unless `isThreadSafe` (then the Jacobian rows of a kernel are built on several threads).
/// A product that throws stops the operation with its error; the library checks what the
/// products return (non-finite values fail with `nonFinite`).
///
/// Views passed to the products are contiguous (`ld == cols`).
public protocol TangentModel: AnyObject {
    /// P, the number of parameters (≥ 1).
    var parameterCount: Int { get }
    /// k, the number of outputs (≥ 1).
    var outputCount: Int { get }
    /// The most rows per call (≥ 1).
    var blockRows: Int { get }
    /// Whether the products may be called from several threads at once.
    var isThreadSafe: Bool { get }
    /// Whether `forward` is implemented.
    var hasForward: Bool { get }
    /// Whether `jacobian` is implemented.
    var hasJacobian: Bool { get }
    /// `out` (r × (count·k)) ← `J(x_rows) v` for each row of `tangents` (r × P).
    func jvp(rows: [Int], tangents: MatrixView, into out: MutableMatrixView) throws
    /// `out` (r × P) ← `J(x_rows)ᵀ u` for each row of `cotangents` (r × (count·k)).
    func vjp(rows: [Int], cotangents: MatrixView, into out: MutableMatrixView) throws
    /// `out` (count × k) ← f(x_rows).
    func forward(rows: [Int], into out: MutableMatrixView) throws
    /// `out` ((count·k) × P) ← J(x_rows).
    func jacobian(rows: [Int], into out: MutableMatrixView) throws
}

extension TangentModel {
    public var blockRows: Int { 256 }
    public var isThreadSafe: Bool { false }
    public var hasForward: Bool { false }
    public var hasJacobian: Bool { false }

    public func forward(rows: [Int], into out: MutableMatrixView) throws {
        throw NTKError.invalidArgument("the model has no forward pass")
    }

    public func jacobian(rows: [Int], into out: MutableMatrixView) throws {
        throw NTKError.invalidArgument("the model has no Jacobian (only its products)")
    }
}

/// The checks every use of a `TangentModel` shares.
enum TangentModelCheck {
    /// Throws unless the model's sizes are usable.
    static func sizes(_ model: TangentModel) throws {
        guard model.parameterCount >= 1 else {
            throw NTKError.invalidArgument("the model must have >= 1 parameter, got \(model.parameterCount)")
        }
        guard model.outputCount >= 1 else {
            throw NTKError.invalidArgument("the model must have >= 1 output, got \(model.outputCount)")
        }
        guard model.blockRows >= 1 else {
            throw NTKError.invalidArgument("the model's block of rows must be >= 1, got \(model.blockRows)")
        }
        _ = try Sizes.blasInt(model.parameterCount, "the number of parameters")
    }

    /// Throws unless every row index is ≥ 0 (the model knows its data's extent; libntk does not).
    static func rows(_ rows: [Int], _ name: @autoclosure () -> String) throws {
        for (i, r) in rows.enumerated() where r < 0 {
            throw NTKError.invalidArgument("\(name())[\(i)] is \(r); row indices must be >= 0")
        }
    }

    /// Throws `nonFinite` naming the product and the entry when `out` has NaN or ±Inf.
    static func result(_ out: MutableMatrixView, _ product: String) throws {
        try InputCheck.finite(out.readOnly, "the model's \(product) output")
    }
}

extension TangentModel {
    /// `jvp` with its output checked.
    func checkedJVP(_ rows: [Int], _ tangents: MatrixView, into out: MutableMatrixView) throws {
        try jvp(rows: rows, tangents: tangents, into: out)
        try TangentModelCheck.result(out, "jvp")
    }

    /// `vjp` with its output checked.
    func checkedVJP(_ rows: [Int], _ cotangents: MatrixView, into out: MutableMatrixView) throws {
        try vjp(rows: rows, cotangents: cotangents, into: out)
        try TangentModelCheck.result(out, "vjp")
    }

    /// The Jacobian rows of `rows` (at most `blockRows` of them) into `out` ((count·k) × P):
    /// from `jacobian` when the model has it, else one `vjp` per row with the k unit cotangents.
    func jacobianBlock(_ rows: [Int], into out: MutableMatrixView) throws {
        let k = outputCount
        if hasJacobian {
            try jacobian(rows: rows, into: out)
            return try TangentModelCheck.result(out, "jacobian")
        }
        let identity = try Workspace(count: k * k, for: "unit cotangents")
        identity.pointer.update(repeating: 0, count: k * k)
        for c in 0..<k { identity.pointer[c * k + c] = 1 }
        let units = identity.matrix(k, k).readOnly
        if isThreadSafe && rows.count > 1 {
            try Parallel.forEach(count: rows.count) { i, _ in
                try self.checkedVJP([rows[i]], units, into: out.rowRange(i * k, (i + 1) * k))
            }
            return
        }
        for (i, r) in rows.enumerated() {
            try checkedVJP([r], units, into: out.rowRange(i * k, (i + 1) * k))
        }
    }

    /// f(x_rows) (count × k) in blocks of `blockRows`.
    package func forwardRows(_ rows: [Int], into out: MutableMatrixView) throws {
        guard hasForward else { throw NTKError.invalidArgument("the model has no forward pass") }
        for r0 in stride(from: 0, to: rows.count, by: blockRows) {
            let r1 = min(r0 + blockRows, rows.count)
            let part = out.rowRange(r0, r1)
            try forward(rows: Array(rows[r0..<r1]), into: part)
            try TangentModelCheck.result(part, "forward pass")
        }
    }
}
