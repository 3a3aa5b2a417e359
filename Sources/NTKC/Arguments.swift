// Conversion of raw C arguments into the core's validated types. Every pointer, size,
// leading dimension, enum value and options struct is checked here before any memory is
// touched; messages use the header's names (never Swift type names).
import CNTK
import NTK

/// The core's progress handler for a (possibly NULL) C callback and its user pointer:
/// the C callback returns non-zero to cancel.
func progress(_ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> ProgressHandler {
    guard let callback else { return .none }
    return ProgressHandler { fraction in callback(user, fraction) == 0 ? .proceed : .cancel }
}

/// The core's data partition of an `ntk_reduce_fn` (nil: none). A non-zero return becomes
/// `cancelled`, naming the reduction.
func partition(_ reduce: ntk_reduce_fn?, _ user: UnsafeMutableRawPointer?) -> DataPartition? {
    guard let reduce else { return nil }
    let context = ReduceContext(user: user)
    return DataPartition { values, count in
        guard reduce(values, Int64(count), context.user) == 0 else {
            throw NTKError(.cancelled, "the data partition's reduction failed (options->reduce returned non-zero)")
        }
    }
}

/// The caller's `reduce_user`, carried into the core's `@Sendable` closure: the caller promised
/// the callback may be called from the thread that called the library.
private struct ReduceContext: @unchecked Sendable { let user: UnsafeMutableRawPointer? }

/// A size argument (`int64_t`) that must be ≥ 0.
func size(_ n: Int64, _ name: String) throws -> Int {
    guard n >= 0 else { throw NTKError(.invalidArgument, "\(name) must be >= 0, got \(n)") }
    return Int(n)
}

/// `options->memory_limit`: bytes (> 0), or nil for 0 (the memory budget); negative is invalid.
func memoryLimitOption(_ value: Int64) throws -> Int? {
    guard value >= 0 else {
        throw NTKError(.invalidArgument, "options->memory_limit must be >= 0 (0: the memory budget), got \(value)")
    }
    return value == 0 ? nil : Int(value)
}

/// A required input matrix `rows × cols` with leading dimension `ld` (≥ max(cols, 1)).
/// NULL is accepted only for an empty matrix.
func input<S>(_ p: UnsafePointer<S>?, _ rows: Int, _ cols: Int, ld: Int64, _ name: String) throws -> RowMajorView<S> {
    guard let base = p ?? (rows == 0 || cols == 0 ? UnsafePointer(empty()) : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return try RowMajorView(base, rows: rows, cols: cols, ld: p == nil ? max(cols, 1) : Int(ld), name: name)
}

/// A required output matrix, as `input`.
func output<S>(_ p: UnsafeMutablePointer<S>?, _ rows: Int, _ cols: Int, ld: Int64,
               _ name: String) throws -> MutableRowMajorView<S> {
    guard let base = p ?? (rows == 0 || cols == 0 ? empty() : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return try MutableRowMajorView(base, rows: rows, cols: cols, ld: p == nil ? max(cols, 1) : Int(ld), name: name)
}

/// An optional input matrix: NULL means "absent".
func optionalInput(_ p: UnsafePointer<Double>?, _ rows: Int, _ cols: Int, ld: Int64,
                   _ name: String) throws -> MatrixView? {
    guard p != nil else { return nil }
    return try input(p, rows, cols, ld: ld, name)
}

/// An optional output matrix: NULL means "not wanted".
func optionalOutput<S>(_ p: UnsafeMutablePointer<S>?, _ rows: Int, _ cols: Int, ld: Int64,
                       _ name: String) throws -> MutableRowMajorView<S>? {
    guard p != nil else { return nil }
    return try output(p, rows, cols, ld: ld, name)
}

/// A required output vector of `count` entries.
func outputVector<S>(_ p: UnsafeMutablePointer<S>?, _ count: Int, _ name: String) throws -> UnsafeMutablePointer<S> {
    guard let base = p ?? (count == 0 ? empty() : nil) else {
        throw NTKError(.invalidArgument, "\(name) is NULL")
    }
    return base
}

/// A network's parameter vector θ passed in (`count` must be the network's P; NULL allowed when
/// P = 0).
func parametersIn(_ theta: UnsafePointer<Double>?, count: Int64, _ p: Int) throws -> UnsafePointer<Double> {
    guard count == Int64(p) else {
        throw NTKError(.dimensionMismatch, "count is \(count) but the network has \(p) parameters")
    }
    guard let theta = theta ?? (p == 0 ? UnsafePointer(bitPattern: 8) : nil) else {
        throw NTKError(.invalidArgument, "theta is NULL")
    }
    return theta
}

/// A buffer for a network's parameter vector θ (`count` must be the network's P).
func parametersOut(_ theta: UnsafeMutablePointer<Double>?, count: Int64, _ p: Int) throws
    -> UnsafeMutablePointer<Double> {
    guard count == Int64(p) else {
        throw NTKError(.dimensionMismatch, "count is \(count) but the network has \(p) parameters")
    }
    return try outputVector(theta, p, "theta")
}

/// A required input vector of `count` doubles, as an array (at most 2^28 entries).
func inputVector(_ p: UnsafePointer<Double>?, _ count: Int, _ name: String) throws -> [Double] {
    if count == 0 { return [] }
    guard let p else { throw NTKError(.invalidArgument, "\(name) is NULL") }
    guard count <= 1 << 28 else { throw NTKError(.tooLarge, "\(name) has \(count) entries, beyond the limit 2^28") }
    return Array(UnsafeBufferPointer(start: p, count: count))
}

/// A required out-parameter or descriptor pointer.
func required<T>(_ p: UnsafeMutablePointer<T>?, _ name: String) throws -> UnsafeMutablePointer<T> {
    guard let p else { throw NTKError(.invalidArgument, "\(name) is NULL") }
    return p
}

/// A required descriptor pointer.
func required<T>(_ p: UnsafePointer<T>?, _ name: String) throws -> T {
    guard let p else { throw NTKError(.invalidArgument, "\(name) is NULL") }
    return p.pointee
}

/// `X2` of a kernel `K(X1, X2)`: NULL means X1's own kernel, and then n2 must equal n1.
func secondSet<S>(_ x2: UnsafePointer<S>?, n1: Int, n2: Int, d: Int, ld: Int64) throws -> RowMajorView<S>? {
    guard let x2 else {
        guard n2 == n1 else {
            throw NTKError(.dimensionMismatch,
                           "X2 is NULL (the kernel of X1 with itself) so n2 must equal n1 = \(n1), got \(n2)")
        }
        return nil
    }
    return try input(x2, n2, d, ld: ld, "X2")
}

// MARK: options structs

/// The caller's options struct `T` read over `defaults`: a NULL pointer gives the defaults; a
/// struct whose leading `size_t size` is smaller than ours (an older header) contributes its
/// first `size` bytes and keeps our defaults for the rest; a larger one (a newer header) is
/// accepted only if the bytes we do not know are zero.
func options<T>(_ p: UnsafePointer<T>?, defaults: T, _ name: String) throws -> T {
    guard let p else { return defaults }
    let raw = UnsafeRawPointer(p)
    let given = raw.loadUnaligned(as: Int.self)
    let ours = MemoryLayout<T>.size
    guard given >= MemoryLayout<Int>.size else {
        throw NTKError(.invalidArgument,
                       "\(name)->size is \(given): initialise the struct with its _init function or initialiser")
    }
    if given > ours {
        guard given <= 1 << 16 else {
            throw NTKError(.invalidArgument, "\(name)->size is \(given), not the size of an options struct")
        }
        let extra = UnsafeRawBufferPointer(start: raw + ours, count: given - ours)
        guard extra.allSatisfy({ $0 == 0 }) else {
            throw NTKError(.invalidArgument,
                           "\(name) comes from a newer libntk (size \(given) > \(ours)) and sets options this "
                               + "library does not know")
        }
    }
    var result = defaults
    withUnsafeMutableBytes(of: &result) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw,
                                                                                     count: min(given, ours))) }
    return result
}

/// Writes `defaults` into a caller's options struct (the `*_options_init` functions).
func initialise<T>(_ p: UnsafeMutablePointer<T>?, _ defaults: T, _ name: String) throws {
    try required(p, name).pointee = defaults
}

// MARK: data descriptors

/// The core's `Targets` of an `ntk_targets *` for n training points.
func targets(_ p: UnsafePointer<ntk_targets>?, rows n: Int) throws -> Targets {
    let t = try required(p, "targets")
    let k = try size(t.k, "targets->k")
    return try Targets(y: try input(t.Y, n, k, ld: t.ldy, "targets->Y"),
                       offsets: try optionalInput(t.f0, n, k, ld: t.ldf0, "targets->f0"))
}

/// The core's `TestKernel` of an `ntk_test_kernel` against n training points and k outputs.
func testKernel(_ t: ntk_test_kernel, trainRows n: Int, outputs k: Int) throws -> TestKernel {
    let m = try size(t.m, "test->m")
    return try TestKernel(kernel: try input(t.K_test_train, m, n, ld: t.ldk, "test->K_test_train"),
                          offsets: try optionalInput(t.f0, m, k, ld: t.ldf0, "test->f0"))
}

/// An optional `ntk_test_kernel *` (NULL: no test set).
func optionalTestKernel(_ p: UnsafePointer<ntk_test_kernel>?, trainRows n: Int, outputs k: Int) throws -> TestKernel? {
    try p.map { try testKernel($0.pointee, trainRows: n, outputs: k) }
}

// A stand-in address for empty matrices passed as NULL; never dereferenced.
nonisolated(unsafe) private let emptyStorage = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
private func empty<S>() -> UnsafeMutablePointer<S> { emptyStorage.assumingMemoryBound(to: S.self) }
