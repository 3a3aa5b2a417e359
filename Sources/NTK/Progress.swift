/// A caller's progress callback, as the core sees it.
///
/// `callback(fraction)` receives the fraction of the work done, in [0, 1] and non-decreasing,
/// and returns `true` to go on or `false` to cancel; a cancelled operation throws
/// `NTKError.cancelled` at the next check and leaves outputs unspecified. Operations call it at
/// the start (0), between blocks of work, and at the end (1).
public struct Progress {
    let callback: ((Double) -> Bool)?

    public init(_ callback: ((Double) -> Bool)? = nil) { self.callback = callback }

    /// No reporting, no cancellation.
    public static var none: Progress { Progress(nil) }

    /// Whether there is a callback to report to.
    var isActive: Bool { callback != nil }

    func report(_ fraction: Double) throws {
        guard let callback else { return }
        if !callback(min(max(fraction, 0), 1)) { throw NTKError.cancelled }
    }
}
