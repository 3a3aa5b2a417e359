/// The dense empirical NTK of a `TangentModel` (eq. 4) between rows A and B of the caller's data,
/// in the forms of `EmpiricalKernel.Output` (mean over outputs, per output, full k × k):
///
///     K_cc′(a, b) = J_c(a) · J_c′(b)      (sum over all P parameters)
///
/// Two methods, the two recipes of the field (the PyTorch tutorial's, neural-tangents'
/// `JACOBIAN_CONTRACTION` and `NTK_VECTOR_PRODUCTS`), equal to rounding:
/// - `.contraction` (the default): Jacobian blocks J(A_blk), J(B_blk) ((rows·k) × P, from the
///   model's `jacobian` or from one `vjp` per row) and a GEMM per block pair, about
///   2·|A|·|B|·k²·P flops plus k backward passes per row — `JacobianKernel` on each block pair;
/// - `.vectorProducts`: J(B_blk) as above, then one `jvp` over the rows of A with the
///   |B_blk|·k Jacobian rows as tangents — |A|·|B|·k forward-mode passes, no Jacobian of A.
///
/// Memory: Jacobian blocks sized so that two of them take at most half of `memoryLimit`
/// (default: the process-wide `MemoryBudget`); when all of A's and B's Jacobian rows fit, each
/// is computed once, otherwise B's blocks are recomputed for each block of A. The symmetric
/// case (B = nil) computes the lower block triangle and mirrors it: exactly symmetric.
public enum TangentModelKernel {
    /// How the kernel is computed from the model's products.
    public enum Method: Sendable {
        case contraction
        case vectorProducts
    }

    /// The kernel of `model` between `rows1` and `rows2` (nil: `rows1` itself) into `out`, an
    /// n1 × (n2 · entries) matrix: the entries of pair (i, j) start at `out[i, j · entries]`.
    /// - Throws: `invalidArgument` (row indices, sizes), `dimensionMismatch` (out), `nonFinite`
    ///   (a product returned NaN/Inf), `outOfMemory` (not even one row's Jacobian fits),
    ///   `tooLarge`, `cancelled`, and whatever the model's products throw.
    public static func compute(_ model: TangentModel, rows1: [Int], rows2: [Int]?,
                               output form: EmpiricalKernel.Output = .mean, method: Method = .contraction,
                               into out: MutableMatrixView, memoryLimit: Int? = nil,
                               progress: ProgressHandler = .none) throws {
        try TangentModelCheck.sizes(model)
        try TangentModelCheck.rows(rows1, "rows1")
        if let rows2 { try TangentModelCheck.rows(rows2, "rows2") }
        let k = model.outputCount, p = model.parameterCount, entries = form.entries(k)
        let n1 = rows1.count, n2 = rows2?.count ?? n1
        try EmpiricalKernel.checkShape(out, rows: n1, cols: try Sizes.product(n2, entries, "kernel columns"))
        let perRow = try Sizes.product(try Sizes.product(k, p, "Jacobian row"), 8, "Jacobian bytes")
        let budget = try MemoryBudget.resolve(memoryLimit)
        try MemoryBudget.require(try Sizes.product(2, perRow, "two Jacobian rows"), within: budget,
                                 for: "the Jacobians of two rows of a model with \(p) parameters and \(k) outputs")
        try progress.report(0)
        if n1 == 0 || n2 == 0 { return try progress.report(1) }
        let symmetric = rows2 == nil
        let together = symmetric ? n1 : n1 + n2
        // Blocks: all rows when both Jacobians fit half the budget, else two blocks in it.
        let fitsAll = together <= budget / 2 / perRow
        let rowsPerBlock = fitsAll ? max(n1, n2) : max(1, budget / 2 / (2 * perRow))
        let other = rows2 ?? rows1
        let blocks1 = stride(from: 0, to: n1, by: rowsPerBlock).map { $0..<min($0 + rowsPerBlock, n1) }
        let blocks2 = symmetric ? blocks1 : stride(from: 0, to: n2, by: rowsPerBlock).map { $0..<min($0 + rowsPerBlock,
                                                                                                       n2) }
        Log.info("model tangent kernel: \(method), \(n1) x \(n2) pairs, \(p) parameters, \(k) output(s); Jacobian "
                 + "rows need \(Log.bytes(together * perRow)) against \(Log.bytes(budget / 2)): "
                 + (fitsAll ? "each computed once" : "blocks of \(rowsPerBlock) rows, recomputed per block pair"))
        let width = k * p
        let jac1 = try Workspace(count: try Sizes.product(min(rowsPerBlock, n1), width, "Jacobian block"),
                                 for: "a block of Jacobian rows")
        let jac2 = symmetric && blocks1.count == 1 ? jac1 : try Workspace(
            count: try Sizes.product(min(rowsPerBlock, n2), width, "Jacobian block"), for: "a block of Jacobian rows")
        let pairs = symmetric ? blocks1.count * (blocks1.count + 1) / 2 : blocks1.count * blocks2.count
        var done = 0
        var loaded2: Range<Int>? = nil  // the block of B whose Jacobian rows jac2 holds
        for (i, b1) in blocks1.enumerated() {
            if method == .contraction {
                try jacobianRows(model, Array(rows1[b1]), into: jac1)
                if jac2 === jac1 { loaded2 = nil }
            }
            for b2 in symmetric ? Array(blocks2[0...i]) : blocks2 {
                let same = symmetric && b1 == b2
                if !(same && method == .contraction) && loaded2 != b2 {
                    try jacobianRows(model, Array(other[b2]), into: jac2)
                    loaded2 = b2
                }
                let target = MutableMatrixView(unchecked: out.base + b1.lowerBound * out.ld + b2.lowerBound * entries,
                                               rows: b1.count, cols: b2.count * entries, ld: out.ld)
                switch method {
                case .contraction:
                    try JacobianKernel.compute(UnsafePointer(jac1.pointer), n1: b1.count,
                                               same ? nil : UnsafePointer(jac2.pointer), n2: b2.count, outputs: k,
                                               parameters: p, output: form, into: target)
                case .vectorProducts:
                    try vectorProductTile(model, rows: Array(rows1[b1]), jacobian: jac2.matrix(b2.count * k, p),
                                          form: form, into: target)
                }
                done += 1
                try progress.report(0.99 * Double(done) / Double(pairs))
            }
        }
        if symmetric { try EmpiricalKernel.mirror(out, n: n1, form: form, k: k) }
        try InputCheck.finiteResult(out, "the model's tangent kernel")
        try progress.report(1)
    }

    /// The Jacobian rows of `rows` into `buffer` ((count·k) × P), in calls of `blockRows` rows.
    static func jacobianRows(_ model: TangentModel, _ rows: [Int], into buffer: Workspace) throws {
        let k = model.outputCount
        let all = buffer.matrix(rows.count * k, model.parameterCount)
        for r0 in stride(from: 0, to: rows.count, by: model.blockRows) {
            let r1 = min(r0 + model.blockRows, rows.count)
            try model.jacobianBlock(Array(rows[r0..<r1]), into: all.rowRange(r0 * k, r1 * k))
        }
    }

    /// One tile by NTK–vector products: `J(rows) Gᵀ` with G the Jacobian rows of B ((n2·k) × P),
    /// one `jvp` per block of `rows`, rearranged into the kernel form.
    static func vectorProductTile(_ model: TangentModel, rows: [Int], jacobian g: MutableMatrixView,
                                  form: EmpiricalKernel.Output, into target: MutableMatrixView) throws {
        let k = model.outputCount, n2 = g.rows / k, entries = form.entries(k)
        let block = min(rows.count, model.blockRows)
        let products = try Workspace(count: try Sizes.product(g.rows, block * k, "jvp outputs"), for: "jvp outputs")
        for r0 in stride(from: 0, to: rows.count, by: block) {
            let r1 = min(r0 + block, rows.count), count = r1 - r0
            let t = products.matrix(g.rows, count * k)
            try model.checkedJVP(Array(rows[r0..<r1]), g.readOnly, into: t)
            // t[(j, c′), (i, c)] = J_c(a_i) · J_c′(b_j).
            for i in 0..<count {
                let row = target.base + (r0 + i) * target.ld
                for j in 0..<n2 {
                    switch form {
                    case .mean:
                        var sum = 0.0
                        for c in 0..<k { sum += t[j * k + c, i * k + c] }
                        row[j] = sum / Double(k)
                    case .perOutput:
                        for c in 0..<k { row[j * entries + c] = t[j * k + c, i * k + c] }
                    case .full:
                        for c in 0..<k { for c2 in 0..<k { row[j * entries + c * k + c2] = t[j * k + c2, i * k + c] } }
                    }
                }
            }
        }
    }

    /// `K(x, x)` for each of `rows` alone: n × 1 for `.mean`, n × k for `.perOutput` (squared norms
    /// of the Jacobian rows, one block of rows at a time).
    public static func diagonal(_ model: TangentModel, rows: [Int], output form: EmpiricalKernel.Output = .mean,
                                into out: MutableMatrixView, memoryLimit: Int? = nil,
                                progress: ProgressHandler = .none) throws {
        guard form != .full else {
            throw NTKError.invalidArgument("the diagonal is available as mean or per_output, not full")
        }
        try TangentModelCheck.sizes(model)
        try TangentModelCheck.rows(rows, "rows")
        let k = model.outputCount, p = model.parameterCount, n = rows.count
        try EmpiricalKernel.checkShape(out, rows: n, cols: form.entries(k))
        let perRow = try Sizes.product(try Sizes.product(k, p, "Jacobian row"), 8, "Jacobian bytes")
        let budget = try MemoryBudget.resolve(memoryLimit)
        try MemoryBudget.require(perRow, within: budget, for: "the Jacobian of one row")
        try progress.report(0)
        let block = max(1, min(n, model.blockRows, budget / perRow))
        let jac = try Workspace(count: try Sizes.product(max(min(block, n), 1), k * p, "Jacobian block"),
                                for: "a block of Jacobian rows")
        for r0 in stride(from: 0, to: n, by: block) {
            let r1 = min(r0 + block, n)
            try model.jacobianBlock(Array(rows[r0..<r1]), into: jac.matrix((r1 - r0) * k, p))
            let view = jac.matrix((r1 - r0) * k, p).readOnly
            for i in r0..<r1 {
                var mean = 0.0
                for c in 0..<k {
                    let value = try VectorOperations.dot(view.row((i - r0) * k + c), view.row((i - r0) * k + c),
                                                         count: p)
                    mean += value
                    if form == .perOutput { out[i, c] = value }
                }
                if form == .mean { out[i, 0] = mean / Double(k) }
            }
            try progress.report(Double(r1) / Double(max(n, 1)))
        }
        try progress.report(1)
    }
}
