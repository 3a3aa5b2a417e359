/// The tangent kernel of a `TangentModel` on n training rows as a matrix-free operator
/// (`TangentOperator`), for CG kernel ridge and the Lanczos gradient flow at any n:
///
///     K V = (1/k) Σ_c J_c (J_cᵀ V)
///
/// - `transpose`: one `vjp` per block of rows with r·k cotangents — for column j of V and
///   output c the cotangent is V[:, j] on output c and 0 on the others — summed over the
///   blocks into r·k parameter-space vectors (column j's k vectors at rows j·k … j·k + k − 1
///   of an (r·k) × P matrix);
/// - `forward`: one `jvp` per block of rows with those r·k tangents; row i of column j takes
///   `(1/k) Σ_c [J(x_i) g_{j,c}]_c`.
/// A product costs one vjp and one jvp sweep over the rows, each with r·k vectors; memory
/// (r·k)·P doubles for the vectors plus (r·k)·blockRows·k for a block's products: nothing of
/// order n² or n·P.
final class TangentModelOperator: TangentOperator {
    let model: TangentModel
    let rows: [Int]
    var n: Int { rows.count }
    var transposedLength: Int { model.outputCount * model.parameterCount }
    var predictor: TangentPredictor { TangentModelPredictor(model) }

    /// - Throws: `invalidArgument` for the model's sizes or negative row indices.
    init(_ model: TangentModel, rows: [Int]) throws {
        try TangentModelCheck.sizes(model)
        try TangentModelCheck.rows(rows, "rows")
        self.model = model
        self.rows = rows
    }

    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws {
        let k = model.outputCount, p = model.parameterCount, r = v.cols, width = r * k
        g.update(repeating: 0, count: width * p)
        if width == 0 || n == 0 { return }
        let block = min(n, model.blockRows)
        let cotangents = try Workspace(count: try Sizes.product(width, block * k, "cotangents"), for: "cotangents")
        let products = try Workspace(count: try Sizes.product(width, p, "vjp outputs"), for: "vjp outputs")
        for r0 in stride(from: 0, to: n, by: block) {
            let r1 = min(r0 + block, n), count = r1 - r0
            let u = cotangents.matrix(width, count * k)
            u.fill(0)
            for j in 0..<r { for c in 0..<k { for i in 0..<count { u[j * k + c, i * k + c] = v[r0 + i, j] } } }
            let out = products.matrix(width, p)
            try model.checkedVJP(Array(rows[r0..<r1]), u.readOnly, into: out)
            try VectorOperations.axpy(1, products.pointer, g, count: width * p)
        }
    }

    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws {
        try TangentModelPredictor.apply(model, g, width: columns, rows: rows, into: out, progress: .none)
    }
}

/// `J(x)` of a `TangentModel` at test rows: one `jvp` per block of rows.
final class TangentModelPredictor: TangentPredictor {
    let model: TangentModel

    init(_ model: TangentModel) { self.model = model }

    func predict(_ g: UnsafePointer<Double>, width: Int, at test: TangentTestPoints, into out: MutableMatrixView,
                 progress: ProgressHandler) throws {
        guard case .rows(let rows) = test else {
            throw NTKError.invalidArgument("a model fitted with a model's Jacobian products predicts at row indices, "
                                           + "not at inputs X")
        }
        try TangentModelCheck.rows(rows, "test rows")
        try Self.apply(model, g, width: width, rows: rows, into: out, progress: progress)
    }

    /// `out[i, j] = (1/k) Σ_c [J(x_rows[i]) g_{j,c}]_c` (rows.count × width).
    static func apply(_ model: TangentModel, _ g: UnsafePointer<Double>, width: Int, rows: [Int],
                      into out: MutableMatrixView, progress: ProgressHandler) throws {
        let k = model.outputCount, p = model.parameterCount, n = rows.count, vectors = width * k
        try progress.report(0)
        if n == 0 || width == 0 { return try progress.report(1) }
        let block = min(n, model.blockRows)
        let products = try Workspace(count: try Sizes.product(vectors, block * k, "jvp outputs"), for: "jvp outputs")
        let tangents = MatrixView(unchecked: g, rows: vectors, cols: p, ld: p)
        for r0 in stride(from: 0, to: n, by: block) {
            let r1 = min(r0 + block, n), count = r1 - r0
            let t = products.matrix(vectors, count * k)
            try model.checkedJVP(Array(rows[r0..<r1]), tangents, into: t)
            for i in 0..<count {
                for j in 0..<width {
                    var sum = 0.0
                    for c in 0..<k { sum += t[j * k + c, i * k + c] }
                    out[r0 + i, j] = sum / Double(k)
                }
            }
            try progress.report(Double(r1) / Double(n))
        }
    }
}
