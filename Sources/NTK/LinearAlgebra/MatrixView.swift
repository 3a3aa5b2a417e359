/// Row-major views of memory owned by someone else (a C caller, a numpy array, a `Matrix`), of
/// doubles (`MatrixView`, `MutableMatrixView`: everywhere) or of singles (`SingleMatrixView`,
/// `MutableSingleMatrixView`: the single-precision empirical NTK).
///
/// Element (i, j) lives at `base[i * ld + j]`; `ld ≥ cols` lets a caller pass a sub-matrix of a
/// larger array. The initialisers validate the shape, so code that receives a view may rely on
/// `rows ≥ 0`, `cols ≥ 0`, `ld ≥ max(cols, 1)` and on `(rows − 1) · ld + cols` not overflowing.
/// They cannot check that the memory really has that extent: that is the caller's contract.

/// A read-only row-major view of double-precision entries.
public typealias MatrixView = RowMajorView<Double>
/// A writable row-major view of double-precision entries.
public typealias MutableMatrixView = MutableRowMajorView<Double>
/// A read-only row-major view of single-precision entries.
public typealias SingleMatrixView = RowMajorView<Float>
/// A writable row-major view of single-precision entries.
public typealias MutableSingleMatrixView = MutableRowMajorView<Float>

/// A read-only row-major view.
public struct RowMajorView<Scalar> {
    /// Address of entry (0, 0).
    public let base: UnsafePointer<Scalar>
    /// The number of rows.
    public let rows: Int
    /// The number of columns.
    public let cols: Int
    /// The leading dimension: entry (i, j) is at `base[i * ld + j]`.
    public let ld: Int

    /// - Throws: `invalidArgument` for negative sizes or `ld < cols`, `tooLarge` on overflow.
    public init(_ base: UnsafePointer<Scalar>, rows: Int, cols: Int, ld: Int? = nil,
                name: String = "matrix") throws {
        let ld = ld ?? max(cols, 1)
        _ = try Shape.validate(rows: rows, cols: cols, ld: ld, elementBytes: MemoryLayout<Scalar>.stride, name: name)
        self.base = base
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// The number of entries from the first element to one past the last.
    var extent: Int { rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols }

    /// Entry (i, j) (unchecked: the caller keeps i, j within the shape).
    @inline(__always) public subscript(i: Int, j: Int) -> Scalar { base[i * ld + j] }

    /// Row `i` as a pointer to `cols` contiguous entries.
    @inline(__always) func row(_ i: Int) -> UnsafePointer<Scalar> { base + i * ld }
}

/// A writable row-major view.
public struct MutableRowMajorView<Scalar> {
    /// Address of entry (0, 0).
    public let base: UnsafeMutablePointer<Scalar>
    /// The number of rows.
    public let rows: Int
    /// The number of columns.
    public let cols: Int
    /// The leading dimension: entry (i, j) is at `base[i * ld + j]`.
    public let ld: Int

    /// A view of `rows × cols` entries at `base` with leading dimension `ld` (default `max(cols, 1)`).
    /// - Throws: `invalidArgument` for negative sizes or `ld < cols`, `tooLarge` on overflow or a
    ///   dimension beyond 2³¹ − 1.
    public init(_ base: UnsafeMutablePointer<Scalar>, rows: Int, cols: Int, ld: Int? = nil,
                name: String = "output") throws {
        let ld = ld ?? max(cols, 1)
        _ = try Shape.validate(rows: rows, cols: cols, ld: ld, elementBytes: MemoryLayout<Scalar>.stride, name: name)
        self.base = base
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// The same memory as a read-only view.
    public var readOnly: RowMajorView<Scalar> {
        // The shape was validated when `self` was made.
        RowMajorView(unchecked: UnsafePointer(base), rows: rows, cols: cols, ld: ld)
    }

    var extent: Int { rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols }

    /// Entry (i, j) (unchecked: the caller keeps i, j within the shape).
    @inline(__always) public subscript(i: Int, j: Int) -> Scalar {
        get { base[i * ld + j] }
        nonmutating set { base[i * ld + j] = newValue }
    }

    /// Sets every element of the view (not the padding between rows) to `value`.
    func fill(_ value: Scalar) {
        for i in 0..<rows { (base + i * ld).update(repeating: value, count: cols) }
    }

    /// Throws `invalidArgument` if this output shares memory with `input`: the library's routines
    /// read their inputs while writing outputs, so aliasing would give silently wrong results.
    func requireDisjoint(from input: RowMajorView<Scalar>, _ outputName: String, _ inputName: String) throws {
        guard extent > 0, input.extent > 0 else { return }
        let o0 = UnsafeRawPointer(base), o1 = UnsafeRawPointer(base + extent)
        let i0 = UnsafeRawPointer(input.base), i1 = UnsafeRawPointer(input.base + input.extent)
        if o0 < i1 && i0 < o1 {
            throw NTKError.invalidArgument("\(outputName) overlaps \(inputName) in memory; pass a separate buffer")
        }
    }
}

extension RowMajorView {
    init(unchecked base: UnsafePointer<Scalar>, rows: Int, cols: Int, ld: Int) {
        self.base = base
        self.rows = rows
        self.cols = cols
        self.ld = ld
    }

    /// Rows `from..<to` as a view sharing this memory.
    func rowRange(_ from: Int, _ to: Int) -> RowMajorView {
        RowMajorView(unchecked: base + from * ld, rows: to - from, cols: cols, ld: ld)
    }
}

/// Shape validation shared by both views.
enum Shape {
    /// Checks sizes and returns the extent `(rows − 1)·ld + cols` (0 for an empty matrix).
    static func validate(rows: Int, cols: Int, ld: Int, elementBytes: Int = MemoryLayout<Double>.stride,
                         name: String) throws -> Int {
        guard rows >= 0, cols >= 0 else {
            throw NTKError.invalidArgument("\(name) has negative size \(rows) × \(cols)")
        }
        guard ld >= max(cols, 1) else {
            throw NTKError.invalidArgument("leading dimension of \(name) is \(ld) but must be ≥ max(columns, 1) = "
                                           + "\(max(cols, 1))")
        }
        // Every dimension must fit 32-bit BLAS, empty matrices included: a view of 0 columns
        // and 2^62 rows would otherwise make row loops run (uselessly) for ever.
        guard rows <= Int(Int32.max), cols <= Int(Int32.max) else {
            throw NTKError.tooLarge("\(name) is \(rows) × \(cols), beyond the 32-bit BLAS limit \(Int32.max) per "
                                    + "dimension")
        }
        if rows == 0 || cols == 0 { return 0 }
        let lastRow = try Sizes.product(rows - 1, ld, "extent of \(name)")
        let extent = try Sizes.sum(lastRow, cols, "extent of \(name)")
        _ = try Sizes.product(extent, elementBytes, "bytes of \(name)")
        return extent
    }
}
