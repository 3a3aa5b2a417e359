/// The tangent kernel of a `TangentModel` on n training rows as a matrix-free operator
/// (`TangentOperator`), for CG kernel ridge and the Lanczos gradient flow at any n:
///
///     K V = (1/k) Σ_c J_c (J_cᵀ V)
///
/// with the parameter-space vectors of column j of V (one per output c) at rows j·k + c of an
/// (r·k) × P matrix G, `G_c = V ᵀ J_c`. Three ways:
/// - **kept Jacobian**, when the model has `jacobian` and the n·k·P doubles of J(X) fit half the
///   memory budget: J(X) is computed once and every product is two GEMMs per output
///   (4·n·k·P·r flops), the model is not called again;
/// - **Jacobian blocks** (`TangentModelPredictor.prefersJacobian`), when the model has `jacobian`
///   and a product carries many vectors (r·k ≥ 8): each sweep computes J of one block of rows
///   at a time and multiplies it — k passes and k·P doubles written per row instead of r·k
///   vector products;
/// - **vector products** otherwise: one `vjp` per block with r·k cotangents (column j on output
///   c, zero elsewhere), summed over the blocks, then one `jvp` per block with the r·k tangents,
///   row i of column j taking `(1/k) Σ_c [J(x_i) g_{j,c}]_c`. For few vectors this is the
///   cheapest: a batched vjp is a few GEMMs and writes only P numbers.
/// Memory beyond a kept Jacobian: (r·k)·P doubles for G plus one block's products or Jacobian
/// rows — nothing of order n² or n·P.
final class TangentModelOperator: TangentOperator {
    let model: TangentModel
    let rows: [Int]
    /// J(X) ((n·k) × P) when it is kept.
    private let kept: Workspace?
    let predictor: TangentPredictor
    var n: Int { rows.count }
    var transposedLength: Int { model.outputCount * model.parameterCount }

    /// `predictor` applies J at test points after a fit (default: the model at row indices).
    /// - Throws: `invalidArgument` for the model's sizes or negative row indices; what the
    ///   model's `jacobian` throws when J(X) is kept.
    init(_ model: TangentModel, rows: [Int], budget: Int, predictor: TangentPredictor? = nil) throws {
        try TangentModelCheck.sizes(model)
        try TangentModelCheck.rows(rows, "rows")
        self.model = model
        self.rows = rows
        self.predictor = predictor ?? TangentModelPredictor(model)
        let k = model.outputCount, p = model.parameterCount
        let doubles = (try? Sizes.product(try Sizes.product(rows.count, k, "n·k"), p, "n·k·P")) ?? Int.max
        if model.hasJacobian, doubles <= budget / 2 / 8 {
            let jacobian = try Workspace(count: max(doubles, 1), for: "the model's Jacobian")
            for r0 in stride(from: 0, to: rows.count, by: model.blockRows) {
                let r1 = min(r0 + model.blockRows, rows.count)
                try model.jacobianBlock(Array(rows[r0..<r1]),
                                        into: MutableMatrixView(unchecked: jacobian.pointer + r0 * k * p,
                                                                rows: (r1 - r0) * k, cols: p, ld: p))
            }
            kept = jacobian
        } else {
            kept = nil
        }
        Log.info("model tangent kernel products: \(rows.count) rows, \(p) parameters, \(k) output(s); "
                 + (kept != nil ? "Jacobian kept (\(Log.bytes(rows.count * k * p * 8))), products by GEMM"
                    : "jvp/vjp (or Jacobian blocks for 8 or more vectors) per block of \(model.blockRows) rows"))
    }

    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws {
        let k = model.outputCount, p = model.parameterCount, r = v.cols, width = r * k
        g.update(repeating: 0, count: width * p)
        if width == 0 || n == 0 { return }
        if let kept {
            return try TangentModelPredictor.accumulateTranspose(kept.matrix(n * k, p).readOnly, v, k: k, into: g)
        }
        let block = min(n, model.blockRows)
        if TangentModelPredictor.prefersJacobian(model, width: r) {
            let jacobian = try Workspace(count: try Sizes.product(block * k, p, "Jacobian block"), for: "Jacobian rows")
            for r0 in stride(from: 0, to: n, by: block) {
                let r1 = min(r0 + block, n)
                try model.jacobianBlock(Array(rows[r0..<r1]), into: jacobian.matrix((r1 - r0) * k, p))
                try TangentModelPredictor.accumulateTranspose(jacobian.matrix((r1 - r0) * k, p).readOnly,
                                                             v.rowRange(r0, r1), k: k, into: g)
            }
            return
        }
        let cotangents = try Workspace(count: try Sizes.product(width, block * k, "cotangents"), for: "cotangents")
        let products = try Workspace(count: try Sizes.product(width, p, "vjp outputs"), for: "vjp outputs")
        for r0 in stride(from: 0, to: n, by: block) {
            let r1 = min(r0 + block, n), count = r1 - r0
            let u = cotangents.matrix(width, count * k)
            u.fill(0)
            for j in 0..<r { for c in 0..<k { for i in 0..<count { u[j * k + c, i * k + c] = v[r0 + i, j] } } }
            try model.checkedVJP(Array(rows[r0..<r1]), u.readOnly, into: products.matrix(width, p))
            try VectorOperations.axpy(1, products.pointer, g, count: width * p)
        }
    }

    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws {
        if let kept {
            let k = model.outputCount
            return try TangentModelPredictor.applyJacobian(kept.matrix(n * k, model.parameterCount).readOnly, g,
                                                           width: columns, k: k, into: out)
        }
        try TangentModelPredictor.apply(model, g, width: columns, rows: rows, into: out, progress: .none)
    }
}

/// `J(x)` of a `TangentModel` at test rows, a block of rows at a time: Jacobian blocks and a GEMM
/// when `prefersJacobian`, else one `jvp` per block.
final class TangentModelPredictor: TangentPredictor {
    let model: TangentModel

    init(_ model: TangentModel) { self.model = model }

    var inputDimension: Int? { nil }

    func predict(_ g: UnsafePointer<Double>, width: Int, at test: TangentTestPoints, into out: MutableMatrixView,
                 progress: ProgressHandler) throws {
        guard case .rows(let rows) = test else {
            throw NTKError.invalidArgument("a model fitted with a model's Jacobian products predicts at row indices, "
                                           + "not at inputs X")
        }
        try TangentModelCheck.rows(rows, "test rows")
        try Self.apply(model, g, width: width, rows: rows, into: out, progress: progress)
    }

    /// Whether Jacobian blocks beat `width`·k vector products: the model has `jacobian` and there
    /// are at least 8 vectors (a Jacobian row costs about k products and writes k·P doubles).
    static func prefersJacobian(_ model: TangentModel, width: Int) -> Bool {
        model.hasJacobian && width * model.outputCount >= 8
    }

    /// `g[(j, c)] += J_c(block)ᵀ v[:, j]` for a block's Jacobian rows ((count·k) × P) and rows of V
    /// (count × r): one GEMM per output.
    static func accumulateTranspose(_ jacobian: MatrixView, _ v: MatrixView, k: Int,
                                    into g: UnsafeMutablePointer<Double>) throws {
        let p = jacobian.cols, r = v.cols, count = v.rows
        for c in 0..<k {
            let jc = MatrixView(unchecked: jacobian.base + c * p, rows: count, cols: p, ld: k * p)
            try MatrixProduct.gemm(v, transposeA: true, jc, beta: 1,
                                   into: MutableMatrixView(unchecked: g + c * p, rows: r, cols: p, ld: k * p))
        }
    }

    /// `out = (1/k) Σ_c J_c g_cᵀ` (count × width) for a block's Jacobian rows ((count·k) × P).
    static func applyJacobian(_ jacobian: MatrixView, _ g: UnsafePointer<Double>, width: Int, k: Int,
                              into out: MutableMatrixView) throws {
        let p = jacobian.cols, count = out.rows
        for c in 0..<k {
            let jc = MatrixView(unchecked: jacobian.base + c * p, rows: count, cols: p, ld: k * p)
            try MatrixProduct.gemm(jc, MatrixView(unchecked: g + c * p, rows: width, cols: p, ld: k * p),
                                   transposeB: true, alpha: 1 / Double(k), beta: c == 0 ? 0 : 1, into: out)
        }
    }

    /// `out[i, j] = (1/k) Σ_c [J(x_rows[i]) g_{j,c}]_c` (rows.count × width).
    static func apply(_ model: TangentModel, _ g: UnsafePointer<Double>, width: Int, rows: [Int],
                      into out: MutableMatrixView, progress: ProgressHandler) throws {
        let k = model.outputCount, p = model.parameterCount, n = rows.count, vectors = width * k
        try progress.report(0)
        if n == 0 || width == 0 { return try progress.report(1) }
        let block = min(n, model.blockRows), jacobian = prefersJacobian(model, width: width)
        let scratch = try Workspace(count: try Sizes.product(jacobian ? p : vectors, block * k, "block products"),
                                    for: jacobian ? "Jacobian rows" : "jvp outputs")
        let tangents = MatrixView(unchecked: g, rows: vectors, cols: p, ld: p)
        for r0 in stride(from: 0, to: n, by: block) {
            let r1 = min(r0 + block, n), count = r1 - r0
            if jacobian {
                try model.jacobianBlock(Array(rows[r0..<r1]), into: scratch.matrix(count * k, p))
                try applyJacobian(scratch.matrix(count * k, p).readOnly, g, width: width, k: k,
                                  into: out.rowRange(r0, r1))
            } else {
                let t = scratch.matrix(vectors, count * k)
                try model.checkedJVP(Array(rows[r0..<r1]), tangents, into: t)
                for i in 0..<count {
                    for j in 0..<width {
                        var sum = 0.0
                        for c in 0..<k { sum += t[j * k + c, i * k + c] }
                        out[r0 + i, j] = sum / Double(k)
                    }
                }
            }
            try progress.report(Double(r1) / Double(n))
        }
    }
}
