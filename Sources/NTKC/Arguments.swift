// Conversion of raw C arguments into the core's validated types. Every pointer, size and
// leading dimension is checked here before any memory is touched.
import NTK

/// The C progress callback: `int (*)(void *user, double fraction)`, non-zero cancels.
public typealias CProgress = @convention(c) (UnsafeMutableRawPointer?, Double) -> Int32

/// The core's `Progress` for a (possibly NULL) C callback and its user pointer.
func progress(_ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Progress {
    guard let callback else { return .none }
    return Progress { fraction in callback(user, fraction) == 0 }
}

/// A size argument (`int64_t`) that must be ≥ 0.
func size(_ n: Int64, _ name: String) throws -> Int {
    guard n >= 0 else { throw NTKError(.invalidArgument, "\(name) must be ≥ 0, got \(n)") }
    return Int(n)
}

/// A required input matrix `rows × cols` with leading dimension `ld` (≥ max(cols, 1)).
/// NULL is accepted only for an empty matrix.
func input(_ p: UnsafePointer<Double>?, _ rows: Int, _ cols: Int, ld: Int64, _ name: String) throws -> MatrixView {
    guard let base = p ?? (rows == 0 || cols == 0 ? emptyInput : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return try MatrixView(base, rows: rows, cols: cols, ld: Int(ld), name: name)
}

/// A required output matrix, as `input`.
func output(_ p: UnsafeMutablePointer<Double>?, _ rows: Int, _ cols: Int, ld: Int64, _ name: String) throws -> MutableMatrixView {
    guard let base = p ?? (rows == 0 || cols == 0 ? emptyOutput : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return try MutableMatrixView(base, rows: rows, cols: cols, ld: Int(ld), name: name)
}

/// A required output vector of `count` doubles.
func outputVector(_ p: UnsafeMutablePointer<Double>?, _ count: Int, _ name: String) throws -> UnsafeMutablePointer<Double> {
    guard let base = p ?? (count == 0 ? emptyOutput : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return base
}

/// A required out-parameter pointer.
func outPointer<T>(_ p: UnsafeMutablePointer<T>?, _ name: String) throws -> UnsafeMutablePointer<T> {
    guard let p else { throw NTKError(.invalidArgument, "\(name) is NULL") }
    return p
}

// Stand-in addresses for empty matrices passed as NULL; never dereferenced.
nonisolated(unsafe) private let emptyOutput = UnsafeMutablePointer<Double>.allocate(capacity: 1)
private var emptyInput: UnsafePointer<Double> { UnsafePointer(emptyOutput) }
