import Synchronization

/// How much a log message matters; the values are Python's `logging` levels.
public enum LogLevel: Int, Sendable, Comparable {
    /// Details for whoever debugs the library.
    case debug = 10
    /// A decision a user would want to know: solver, blocks and memory, quadrature, iterations.
    case info = 20
    /// Something that may cost accuracy or time: generic BLAS kernels, jitter added, clamped
    /// negative eigenvalues, a divergent run.
    case warning = 30

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The library's log: one process-wide handler, none by default (silent).
///
/// `Log.setHandler(minimumLevel: .info) { level, message in print(level, message) }` receives
/// every later message at or above the level; messages below it are never formatted, so an
/// unset or high level costs one atomic load per message site. The handler is called on the
/// thread doing the work (in practice the caller's), outside any lock of the log, so it may
/// set another handler. Messages are single lines naming the operation, e.g.
/// `"empirical NTK: structured method, 4096 x 4096 pairs, ..."`.
public enum Log {
    public typealias Handler = @Sendable (LogLevel, String) -> Void

    private struct State: Sendable {
        var handler: Handler?
        var minimum: LogLevel
    }

    private static let state = Mutex(State(handler: nil, minimum: .warning))
    /// The minimum level, or Int.max with no handler: the fast check before formatting.
    private static let threshold = Atomic<Int>(Int.max)

    /// Installs `handler` for messages at or above `minimumLevel` (nil: no logging).
    public static func setHandler(minimumLevel: LogLevel = .info, _ handler: Handler?) {
        state.withLock { $0 = State(handler: handler, minimum: minimumLevel) }
        threshold.store(handler == nil ? Int.max : minimumLevel.rawValue, ordering: .releasing)
        if handler != nil { BLAS.logConfiguration() }
    }

    /// Whether a message at `level` would reach a handler.
    public static func isEnabled(_ level: LogLevel) -> Bool {
        level.rawValue >= threshold.load(ordering: .acquiring)
    }

    /// Sends `message()` at `level` if a handler wants it.
    public static func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        let handler = state.withLock { $0.minimum <= level ? $0.handler : nil }
        handler?(level, message())
    }

    public static func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public static func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public static func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }

    /// `bytes` as a short human size: "512 B", "64.0 MiB", "4.50 GiB".
    static func bytes(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b < 1024 { return "\(bytes) B" }
        if b < 1024 * 1024 { return "\(format(b / 1024, 1)) KiB" }
        if b < 1024 * 1024 * 1024 { return "\(format(b / 1048576, 1)) MiB" }
        return "\(format(b / 1073741824, 2)) GiB"
    }

    /// A count as a short human number: "950", "4.2e6" style with SI suffixes ("4.2 M", "1.3 G").
    static func count(_ value: Double) -> String {
        let a = abs(value)
        if a < 1e3 { return format(value, 0) }
        if a < 1e6 { return "\(format(value / 1e3, 1)) k" }
        if a < 1e9 { return "\(format(value / 1e6, 1)) M" }
        if a < 1e12 { return "\(format(value / 1e9, 1)) G" }
        return "\(format(value / 1e12, 1)) T"
    }

    /// `x` with `digits` decimals (no Foundation).
    static func format(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (abs(x) * scale).rounded()
        let whole = Int(r / scale), frac = Int(r - Double(whole) * scale)
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
    }
}
