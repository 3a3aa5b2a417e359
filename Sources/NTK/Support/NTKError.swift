/// The one error type thrown by the libntk core.
///
/// Every failure carries a `Kind` (which the C boundary maps one-to-one to a stable status code
/// of the C API, `ntk_status` in `include/ntk.h`) and a message that names the argument and the reason, e.g.
/// `"K (row 3, column 7) is NaN"`. The C boundary turns it into a status code plus the
/// thread-local `ntk_last_error()` message; the Python binding into an `ntk.NTKError` subclass.
public struct NTKError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Kinds of failure.
    public enum Kind: Sendable, CaseIterable {
        /// A null pointer, a negative size, a bad flag, an out-of-range scalar.
        case invalidArgument
        /// Sizes that do not fit together (e.g. `A` is n × d but `B` is m × d' with d ≠ d').
        case dimensionMismatch
        /// NaN or ±Inf in an input array or scalar.
        case nonFinite
        /// A matrix that must be symmetric positive definite is not (Cholesky failed).
        case notPositiveDefinite
        /// Memory for a workspace could not be allocated.
        case outOfMemory
        /// The caller's progress callback asked to stop.
        case cancelled
        /// A numerical routine failed (e.g. an eigensolver did not converge).
        case numericalFailure
        /// A size beyond what the library or 32-bit BLAS can address.
        case tooLarge
        /// A handle that is NULL, freed, or of another type.
        case invalidHandle
        /// A bug in libntk: please report it.
        case internalError
        /// A caller's callback (a model's Jacobian product or forward pass) reported a failure.
        case callbackFailed
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// What went wrong, naming the argument, e.g. "K (row 3, column 7) is nan".
    public let message: String

    /// An error of `kind` with `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// "kind: message".
    public var description: String { "\(kind): \(message)" }

    static func invalidArgument(_ m: String) -> NTKError { NTKError(.invalidArgument, m) }
    static func dimensionMismatch(_ m: String) -> NTKError { NTKError(.dimensionMismatch, m) }
    static func nonFinite(_ m: String) -> NTKError { NTKError(.nonFinite, m) }
    static func notPositiveDefinite(_ m: String) -> NTKError { NTKError(.notPositiveDefinite, m) }
    static func outOfMemory(_ m: String) -> NTKError { NTKError(.outOfMemory, m) }
    static func tooLarge(_ m: String) -> NTKError { NTKError(.tooLarge, m) }
    static func numericalFailure(_ m: String) -> NTKError { NTKError(.numericalFailure, m) }
    static let cancelled = NTKError(.cancelled, "cancelled by the progress callback")
}
