/// A dense row-major matrix of doubles owned by Swift: the value type of the Swift API.
///
/// `elements[i * cols + j]` is entry (i, j); change entries through `m[i, j]` (the shape is
/// fixed). Like `Array`, it has value semantics and traps on an out-of-range subscript (a
/// programming error in Swift code); everything reachable from the C API works on views instead
/// and validates its input. Literals: `let m: Matrix = [[1, 2], [3, 4]]` (rows of equal length).
/// Arithmetic: `a + b`, `a - b` (same shape, else `dimensionMismatch`), `s * a`, `a * s`.
public struct Matrix: Equatable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The number of rows.
    public let rows: Int
    /// The number of columns.
    public let cols: Int
    /// The entries in row-major order (read-only: write through the subscript).
    public private(set) var elements: [Double]

    /// The number of columns (the same as `cols`).
    public var columns: Int { cols }

    /// A `rows × cols` matrix with every entry `value`.
    public init(rows: Int, cols: Int, repeating value: Double = 0) throws {
        guard rows >= 0, cols >= 0 else {
            throw NTKError.invalidArgument("matrix size \(rows) × \(cols) is negative")
        }
        let count = try Sizes.product(rows, cols, "matrix element count")
        self.rows = rows
        self.cols = cols
        self.elements = Array(repeating: value, count: count)
    }

    /// A matrix from row-major `elements`; throws if the count is not `rows · cols`.
    public init(rows: Int, cols: Int, elements: [Double]) throws {
        guard rows >= 0, cols >= 0 else {
            throw NTKError.invalidArgument("matrix size \(rows) × \(cols) is negative")
        }
        let count = try Sizes.product(rows, cols, "matrix element count")
        guard elements.count == count else {
            throw NTKError.dimensionMismatch("\(elements.count) elements given for a \(rows) × \(cols) matrix")
        }
        self.rows = rows
        self.cols = cols
        self.elements = elements
    }

    /// A matrix from its rows, e.g. `Matrix([[1, 2], [3, 4]])`; throws if the rows are ragged.
    public init(_ rowArrays: [[Double]]) throws {
        let cols = rowArrays.first?.count ?? 0
        for (i, r) in rowArrays.enumerated() where r.count != cols {
            throw NTKError.dimensionMismatch("row \(i) has \(r.count) entries, row 0 has \(cols)")
        }
        try self.init(rows: rowArrays.count, cols: cols, elements: rowArrays.flatMap { $0 })
    }

    /// A matrix literal, row by row. A ragged literal is a programming error and traps, as an
    /// out-of-range index does; use `init(_:)` for rows that come from data.
    public init(arrayLiteral rows: [Double]...) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "Matrix literal rows have different lengths")
        self.rows = rows.count
        self.cols = cols
        self.elements = rows.flatMap { $0 }
    }

    /// Row `i` as an array.
    public func row(_ i: Int) -> [Double] { Array(elements[i * cols..<(i + 1) * cols]) }

    /// Entry-wise sum; throws `dimensionMismatch` unless the shapes agree.
    public static func + (a: Matrix, b: Matrix) throws -> Matrix { try a.combined(with: b, +) }

    /// Entry-wise difference; throws `dimensionMismatch` unless the shapes agree.
    public static func - (a: Matrix, b: Matrix) throws -> Matrix { try a.combined(with: b, -) }

    /// Every entry times `s`.
    public static func * (s: Double, a: Matrix) -> Matrix {
        var m = a
        m.elements = a.elements.map { s * $0 }
        return m
    }

    /// Every entry times `s`.
    public static func * (a: Matrix, s: Double) -> Matrix { s * a }

    private func combined(with other: Matrix, _ op: (Double, Double) -> Double) throws -> Matrix {
        guard rows == other.rows, cols == other.cols else {
            throw NTKError.dimensionMismatch("matrices of shapes \(rows) × \(cols) and \(other.rows) × \(other.cols)")
        }
        var m = self
        m.elements = zip(elements, other.elements).map { op($0, $1) }
        return m
    }

    /// The `n × n` identity.
    public static func identity(_ n: Int) throws -> Matrix {
        var m = try Matrix(rows: n, cols: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    /// Entry (i, j); traps outside `0..<rows`, `0..<cols`.
    public subscript(i: Int, j: Int) -> Double {
        get { elements[i * cols + j] }
        set { elements[i * cols + j] = newValue }
    }

    /// The transpose.
    public var transposed: Matrix {
        var t = Matrix(uncheckedRows: cols, cols: rows)
        for i in 0..<rows { for j in 0..<cols { t.elements[j * rows + i] = elements[i * cols + j] } }
        return t
    }

    /// Calls `body` with a read-only view of the elements.
    public func withView<R>(name: String = "matrix", _ body: (MatrixView) throws -> R) throws -> R {
        try elements.withUnsafeBufferPointer { buf in
            // An empty array may have no base address; any non-null pointer serves for 0 elements.
            let base = buf.baseAddress ?? UnsafePointer(Matrix.emptyBase)
            return try body(MatrixView(unchecked: base, rows: rows, cols: cols, ld: max(cols, 1)))
        }
    }

    /// Calls `body` with a writable view of the elements.
    public mutating func withMutableView<R>(name: String = "matrix",
                                            _ body: (MutableMatrixView) throws -> R) throws -> R {
        let (r, c) = (rows, cols)
        return try elements.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress ?? Matrix.emptyBase
            return try body(MutableMatrixView(base, rows: r, cols: c, ld: max(c, 1), name: name))
        }
    }

    /// Calls `body` with a view of `matrix`, or nil when there is none.
    public static func withOptionalView<R>(_ matrix: Matrix?, _ body: (MatrixView?) throws -> R) throws -> R {
        guard let matrix else { return try body(nil) }
        return try matrix.withView { try body($0) }
    }

    /// The shape and the top-left 8 × 8 entries.
    public var description: String {
        var s = "Matrix(\(rows) × \(cols))"
        for i in 0..<min(rows, 8) {
            s += "\n  " + (0..<min(cols, 8)).map { String(self[i, $0]) }.joined(separator: "  ")
            if cols > 8 { s += "  …" }
        }
        if rows > 8 { s += "\n  …" }
        return s
    }

    /// The first `count` consecutive `rows × cols` blocks of `flat` (count · rows · cols entries,
    /// row-major): how the grid solvers' contiguous outputs become one matrix per grid point.
    static func slices(of flat: [Double], count: Int, rows: Int, cols: Int) throws -> [Matrix] {
        let size = rows * cols
        return try (0..<count).map { t in try Matrix(rows: rows, cols: cols,
                                                     elements: Array(flat[(t * size)..<((t + 1) * size)])) }
    }

    /// A matrix of the given (already validated) size filled with zeros.
    init(uncheckedRows rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        self.elements = Array(repeating: 0, count: rows * cols)
    }

    /// Stand-in base address for empty matrices (never dereferenced).
    nonisolated(unsafe) private static let emptyBase = UnsafeMutablePointer<Double>.allocate(capacity: 1)
}
