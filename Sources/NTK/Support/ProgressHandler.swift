/// What a progress handler tells the running operation.
public enum ProgressAction: Sendable {
    /// Go on with the work.
    case proceed
    /// Stop: the operation throws `NTKError` of kind `.cancelled` at its next check.
    case cancel
}

/// A caller's progress handler, as every long operation of the core takes it.
///
/// `handler(fraction)` receives the fraction of the work done, in [0, 1] and non-decreasing,
/// and answers `.proceed` or `.cancel`; a cancelled operation throws `NTKError` of kind
/// `.cancelled` at the next check and leaves its outputs unspecified. Operations call it at
/// the start (0), between blocks of work, and at the end (1), on the calling thread.
/// (The C API's callback returns non-zero to cancel; Python's returns a falsy value other
/// than `None`, or raises.)
public struct ProgressHandler {
    let handler: ((Double) -> ProgressAction)?

    /// A handler that receives each fraction and answers whether to go on.
    public init(_ handler: ((_ fraction: Double) -> ProgressAction)? = nil) { self.handler = handler }

    /// No reporting, no cancellation.
    public static var none: ProgressHandler { ProgressHandler(nil) }

    /// Whether there is a handler to report to.
    var isActive: Bool { handler != nil }

    func report(_ fraction: Double) throws {
        guard let handler else { return }
        if handler(min(max(fraction, 0), 1)) == .cancel { throw NTKError.cancelled }
    }
}

extension ProgressHandler {
    /// A handler for one stage of a longer operation: its fractions 0…1 are reported to this
    /// handler as `from…to`; cancellation passes through.
    func stage(_ from: Double, _ to: Double) -> ProgressHandler {
        guard let handler else { return .none }
        return ProgressHandler { handler(from + (to - from) * min(max($0, 0), 1)) }
    }
}
