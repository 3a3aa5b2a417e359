/// A kernel `k(x, x′)` on points of ℝᵈ that can be evaluated between any two sets of rows:
/// what the large-scale solvers need to compute `K(X, C)` block by block instead of storing
/// an n × n matrix.
public protocol PointKernel: Sendable {
    /// d, the number of columns of every point set.
    var inputDimension: Int { get }
    /// `K(x1, x2)` (n1 × n2) into `out`; `x2 = nil` means `x1` with itself (exactly symmetric).
    func evaluate(_ x1: MatrixView, _ x2: MatrixView?, into out: MutableMatrixView, progress: ProgressHandler) throws
    /// `k(x, x)` for each row of `x`.
    func diagonal(_ x: MatrixView, into out: UnsafeMutablePointer<Double>) throws
    /// A short description for logs ("infinite-width relu NTK, 3 dense layers").
    var summary: String { get }
}

/// The infinite-width NTK or NNGP of an MLP architecture as a `PointKernel`
/// (`InfiniteWidthKernel` does the work).
public struct InfiniteWidthPointKernel: PointKernel {
    /// Which of the two kernels.
    public enum Kind: Sendable {
        case ntk
        case nngp
    }

    public let architecture: MLPArchitecture
    public let kind: Kind
    /// Kolmogorov-rule size for tanh, sigmoid and softplus (0: automatic).
    public let points: Int

    public init(_ architecture: MLPArchitecture, kind: Kind = .ntk, points: Int = 0) {
        self.architecture = architecture
        self.kind = kind
        self.points = points
    }

    public var inputDimension: Int { architecture.inputDimension }

    public var summary: String {
        "infinite-width \(architecture.activation) \(kind == .ntk ? "NTK" : "NNGP"), "
            + "\(architecture.layerCount) dense layers"
    }

    public func evaluate(_ x1: MatrixView, _ x2: MatrixView?, into out: MutableMatrixView,
                         progress: ProgressHandler) throws {
        try InfiniteWidthKernel.compute(architecture, x1, x2, nngp: kind == .nngp ? out : nil,
                                        ntk: kind == .ntk ? out : nil,
                                        points: points, progress: progress, log: false)
    }

    public func diagonal(_ x: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        try InfiniteWidthKernel.diagonal(architecture, x, nngp: kind == .nngp ? out : nil,
                                         ntk: kind == .ntk ? out : nil,
                                         points: points)
    }
}

/// The infinite-width NTK or NNGP of a network built from layers (`NetworkArchitecture`) as a
/// `PointKernel` (`NetworkInfiniteWidthKernel` does the work): Nyström, Falkon and the kernel
/// logistic regression on convolutional, pooled and residual architectures.
public struct NetworkInfiniteWidthPointKernel: PointKernel {
    public let architecture: NetworkArchitecture
    public let kind: InfiniteWidthPointKernel.Kind
    /// Kolmogorov-rule size for tanh, sigmoid and softplus (0: automatic).
    public let points: Int

    /// - Throws: `invalidArgument` when the architecture has no infinite-width limit of this
    ///   kind (see `CovarianceProgram`), before any data is seen.
    public init(_ architecture: NetworkArchitecture, kind: InfiniteWidthPointKernel.Kind = .ntk,
                points: Int = 0) throws {
        _ = try CovarianceProgram(architecture, points: points)
        self.architecture = architecture
        self.kind = kind
        self.points = points
    }

    public var inputDimension: Int { architecture.inputDimension }

    public var summary: String {
        "infinite-width \(kind == .ntk ? "NTK" : "NNGP") of a \(architecture.layers.count)-layer network on "
            + "\(architecture.inputShape)"
    }

    public func evaluate(_ x1: MatrixView, _ x2: MatrixView?, into out: MutableMatrixView,
                         progress: ProgressHandler) throws {
        try NetworkInfiniteWidthKernel.compute(architecture, x1, x2, nngp: kind == .nngp ? out : nil,
                                               ntk: kind == .ntk ? out : nil, points: points, progress: progress,
                                               log: false)
    }

    public func diagonal(_ x: MatrixView, into out: UnsafeMutablePointer<Double>) throws {
        try NetworkInfiniteWidthKernel.diagonal(architecture, x, nngp: kind == .nngp ? out : nil,
                                                ntk: kind == .ntk ? out : nil, points: points)
    }
}

/// The n × c cross-kernel `K(X, C)` between n data points and c centres, delivered by blocks
/// of rows so that the large-scale solvers never need it whole.
public protocol CrossKernel {
    /// n, the number of data points.
    var rows: Int { get }
    /// c, the number of centres.
    var columns: Int { get }
    /// Whether `block` computes its entries (true) or points into stored memory (false).
    var computesBlocks: Bool { get }
    /// Rows `range` of `K(X, C)`: a view of stored memory, or computed into `scratch` (at least
    /// `range.count × columns`, contiguous) and returned as a view of it.
    func block(_ range: Range<Int>, scratch: MutableMatrixView) throws -> MatrixView
    /// The rows `indices` of `K(X, C)` into `out` (indices.count × columns).
    func rows(_ indices: [Int], into out: MutableMatrixView) throws
}

extension CrossKernel {
    /// One row at a time through `block` (stored rows are copied).
    public func rows(_ indices: [Int], into out: MutableMatrixView) throws {
        for (r, i) in indices.enumerated() {
            let row = MutableMatrixView(unchecked: out.base + r * out.ld, rows: 1, cols: columns, ld: max(columns, 1))
            let source = try block(i..<(i + 1), scratch: row)
            if source.base != UnsafePointer(row.base) { row.copy(from: source) }
        }
    }
}

/// A cross-kernel the caller computed: an n × c matrix in memory.
public struct StoredCrossKernel: CrossKernel {
    public let matrix: MatrixView
    /// - Throws: `nonFinite` (naming the matrix `name`) for NaN or infinite entries.
    public init(_ matrix: MatrixView, name: String = "K_nm") throws {
        try InputCheck.finite(matrix, name)
        self.matrix = matrix
    }
    public var rows: Int { matrix.rows }
    public var columns: Int { matrix.cols }
    public var computesBlocks: Bool { false }
    public func block(_ range: Range<Int>, scratch: MutableMatrixView) throws -> MatrixView {
        matrix.rowRange(range.lowerBound, range.upperBound)
    }
}

/// `K(X, C)` of a `PointKernel`, each block computed when asked for.
public struct ComputedCrossKernel: CrossKernel {
    public let kernel: PointKernel
    public let x: MatrixView
    public let centers: MatrixView

    /// - Throws: `dimensionMismatch` when X or C do not have the kernel's input dimension.
    public init(_ kernel: PointKernel, x: MatrixView, centers: MatrixView) throws {
        for (points, name) in [(x, "X"), (centers, "the centres")] where points.cols != kernel.inputDimension {
            throw NTKError.dimensionMismatch("\(name) has \(points.cols) columns but the input dimension is "
                                             + "\(kernel.inputDimension)")
        }
        self.kernel = kernel
        self.x = x
        self.centers = centers
    }

    public var rows: Int { x.rows }
    public var columns: Int { centers.rows }
    public var computesBlocks: Bool { true }
    public func block(_ range: Range<Int>, scratch: MutableMatrixView) throws -> MatrixView {
        let out = MutableMatrixView(unchecked: scratch.base, rows: range.count, cols: columns, ld: max(columns, 1))
        try kernel.evaluate(x.rowRange(range.lowerBound, range.upperBound), centers, into: out, progress: .none)
        return out.readOnly
    }

    /// The rows of X gathered, then one kernel evaluation.
    public func rows(_ indices: [Int], into out: MutableMatrixView) throws {
        let d = x.cols
        let gathered = try Workspace(count: max(try Sizes.product(indices.count, d, "gathered rows"), 1),
                                     for: "the preconditioner's rows")
        for (r, i) in indices.enumerated() { (gathered.pointer + r * d).update(from: x.row(i), count: d) }
        try kernel.evaluate(MatrixView(unchecked: UnsafePointer(gathered.pointer), rows: indices.count, cols: d,
                                       ld: max(d, 1)), centers, into: out, progress: .none)
    }
}

/// Writes block predictions into a caller's output: `block` holds rows `rows` of `groups` sets of
/// k columns side by side (rows.count × groups·k); set g's row i goes to `out + g·total·ld + i·ld`,
/// plus the offsets (total × k) when given. Shared by the large-scale predictors.
/// - Throws: `numericalFailure` (naming `what`) when a prediction is not finite.
func scatterPredictions(_ block: MutableMatrixView, rows: Range<Int>, groups: Int, outputs k: Int, total: Int,
                        offsets: MatrixView?, into out: UnsafeMutablePointer<Double>, ld: Int, _ what: String) throws {
    var finite = true
    for g in 0..<groups {
        for (local, i) in rows.enumerated() {
            let dst = out + g * total * ld + i * ld
            for j in 0..<k {
                dst[j] = block[local, g * k + j] + (offsets?[i, j] ?? 0)
                finite = finite && dst[j].isFinite
            }
        }
    }
    guard finite else { throw NTKError.numericalFailure("\(what) overflowed (non-finite values)") }
}

