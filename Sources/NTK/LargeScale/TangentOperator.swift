/// The tangent kernel of n training rows as an operator, the one thing the matrix-free solvers
/// (`EmpiricalNTKRidge`, `EmpiricalGradientFlow`) need: with `J_c` the n × P Jacobian of
/// output c and the mean over the k outputs (docs/conventions.md),
///
///     K V = (1/k) Σ_c J_c (J_cᵀ V)
///
/// as two products through parameter space — `transpose` (J(X)ᵀV, one parameter-space vector
/// per output and column of V) and `forward` (J(X) applied to such vectors) — and a
/// `predictor` that applies J(x) at test points after the fit. Two kinds: libntk's own MLP (`EmpiricalNTKOperator`,
/// per-layer GEMMs) and any model given by its Jacobian–vector products
/// (`TangentModelOperator`; a layered `Network` on its inputs is one, `NetworkModel`).
protocol TangentOperator: AnyObject {
    /// n, the training rows.
    var n: Int { get }
    /// Doubles of J(X)ᵀ v for one column v.
    var transposedLength: Int { get }
    /// `g ← J(X)ᵀ V`: `V.cols · transposedLength` doubles.
    func transpose(_ v: MatrixView, into g: UnsafeMutablePointer<Double>) throws
    /// `out ← (1/k) Σ_c J_c(X) g_c` (n × columns) for `columns` groups of parameter-space vectors.
    func forward(_ g: UnsafePointer<Double>, columns: Int, into out: MutableMatrixView) throws
    /// What predicts at test points after the fit (keeps no training data).
    var predictor: TangentPredictor { get }
}

extension TangentOperator {
    /// `out = K V` (n × nrhs) into `out`, with `g` holding `V.cols · transposedLength` doubles. With a
    /// partition the rows are one part of the data: `JᵀV` is summed over the parts (one
    /// reduction) before `J(JᵀV)`.
    func apply(_ v: MatrixView, into out: MutableMatrixView, g: Workspace, partition: DataPartition? = nil) throws {
        try transpose(v, into: g.pointer)
        try partition.sum(g.pointer, v.cols * transposedLength)
        try forward(UnsafePointer(g.pointer), columns: v.cols, into: out)
    }

    /// A workspace for `columns` parameter-space vector groups.
    func parameterVectors(columns: Int, for what: String) throws -> Workspace {
        try Workspace(count: try Sizes.product(max(columns, 1), transposedLength, "parameter vectors"), for: what)
    }
}

/// Test points of a prediction: inputs (libntk's networks) or row indices (a `TangentModel`).
public enum TangentTestPoints {
    case inputs(MatrixView)
    case rows([Int])

    var count: Int {
        switch self {
        case .inputs(let x): x.rows
        case .rows(let r): r.count
        }
    }
}

/// Applies `J(x)` at test points to parameter-space vectors kept from a fit.
protocol TangentPredictor: AnyObject {
    /// d of the test inputs (a network's), or nil when test points are row indices (a model's).
    var inputDimension: Int? { get }
    /// `out (m × width) = (1/k) Σ_c J_c(test) g_c` for `width` groups of parameter-space vectors
    /// (as `TangentOperator.transpose` wrote them).
    func predict(_ g: UnsafePointer<Double>, width: Int, at test: TangentTestPoints, into out: MutableMatrixView,
                 progress: ProgressHandler) throws
}

/// Where a matrix-free solver's kernel comes from: libntk's MLP or layered network on inputs
/// X, or a model's Jacobian products on rows of the caller's data. A layered network is a
/// snapshot (`Network.frozen`): the fit keeps the parameters it started with.
enum TangentSource {
    case network(MLP, MatrixView)
    case layered(Network, MatrixView)
    case model(TangentModel, [Int])

    /// n, the training rows.
    var n: Int {
        switch self {
        case .network(_, let x), .layered(_, let x): x.rows
        case .model(_, let rows): rows.count
        }
    }

    /// Throws unless the inputs are valid (input width and finiteness; model sizes and rows).
    func check() throws {
        switch self {
        case .network(let mlp, let x): try mlp.checkInput(x, "X")
        case .layered(let net, let x): try net.checkInput(x, "X")
        case .model(let model, let rows):
            try TangentModelCheck.sizes(model)
            try TangentModelCheck.rows(rows, "rows")
        }
    }

    /// The operator, keeping what fits `budget` bytes.
    func makeOperator(budget: Int) throws -> TangentOperator {
        switch self {
        case .network(let mlp, let x): try EmpiricalNTKOperator(mlp, x: x, budget: budget)
        case .layered(let net, let x):
            try TangentModelOperator(try NetworkModel(net, data: x), rows: Array(0..<x.rows), budget: budget,
                                     predictor: NetworkPredictor(net))
        case .model(let model, let rows): try TangentModelOperator(model, rows: rows, budget: budget)
        }
    }

    /// Rows of the Nyström preconditioner's kernel within `budget` bytes: `K(X[rows], C)`
    /// (rows.count × m), or `K(C, C)` (m × m) when `rows` is nil, for centres given as rows of the
    /// data or as points (a network's inputs).
    /// - Throws: `invalidArgument` for a model's centres given as points (its centres are rows),
    ///   bad centres, whatever the kernel throws.
    func kernelColumns(_ centers: PreconditionerCenters, rows: Range<Int>?, into out: MutableMatrixView,
                       budget: Int, progress: ProgressHandler) throws {
        switch (self, centers) {
        case (.network(_, let x), .rows(let indices)), (.layered(_, let x), .rows(let indices)):
            let d = x.cols, m = indices.count
            let c = try Workspace(count: try Sizes.product(m, d, "centres"), for: "the centres")
            for (r, i) in indices.enumerated() { (c.pointer + r * d).update(from: x.row(i), count: d) }
            try kernelColumns(.points(MatrixView(unchecked: UnsafePointer(c.pointer), rows: m, cols: d,
                                                 ld: max(d, 1))),
                              rows: rows, into: out, budget: budget, progress: progress)
        case (.network(let mlp, let x), .points(let c)):
            try mlp.checkInput(c, "the preconditioner's centres")
            let x1 = rows.map { x.rowRange($0.lowerBound, $0.upperBound) } ?? c
            try EmpiricalKernel.compute(mlp, x1, c, into: out, memoryLimit: budget, progress: progress)
        case (.layered(let net, let x), .points(let c)):
            try net.checkInput(c, "the preconditioner's centres")
            let x1 = rows.map { x.rowRange($0.lowerBound, $0.upperBound) } ?? c
            try net.empiricalKernel(x1, c, into: out, memoryLimit: budget, progress: progress)
        case (.model(let model, let data), .rows(let indices)):
            let columns = indices.map { data[$0] }
            try TangentModelKernel.compute(model, rows1: rows.map { Array(data[$0]) } ?? columns, rows2: columns,
                                           into: out, memoryLimit: budget, progress: progress)
        case (.model, .points):
            throw NTKError.invalidArgument("preconditioner centres given as points need a network (a model's "
                                           + "centres are rows of its data)")
        }
    }
}

/// The centres of a Nyström preconditioner: indices of rows of the data, or points.
enum PreconditionerCenters {
    case rows([Int])
    case points(MatrixView)
}

/// `J(x)` of a layered `Network` (a snapshot of its parameters) at test inputs: the network on
/// those inputs as a `NetworkModel`, applied by Jacobian blocks or products.
final class NetworkPredictor: TangentPredictor {
    let network: Network

    init(_ network: Network) { self.network = network }

    var inputDimension: Int? { network.architecture.inputDimension }

    func predict(_ g: UnsafePointer<Double>, width: Int, at test: TangentTestPoints, into out: MutableMatrixView,
                 progress: ProgressHandler) throws {
        guard case .inputs(let x) = test else {
            throw NTKError.invalidArgument("a model fitted with a network predicts at inputs X, not at row indices")
        }
        try network.checkInput(x, "X_test")
        try TangentModelPredictor.apply(try NetworkModel(network, data: x), g, width: width, rows: Array(0..<x.rows),
                                        into: out, progress: progress)
    }
}
