// Status codes, the thread-local error message, and `boundary`, the wrapper every exported
// function runs its body in: it turns any thrown error into a status code and a message, so
// nothing a caller passes can unwind or trap across the C ABI.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CNTK
import NTK

/// A pointer to the bytes of a static string literal (NUL-terminated, lives for the process).
@inline(__always)
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The calling thread's last error message, kept in a pthread key (no Foundation).
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        // The destructor frees a thread's message when the thread exits.
        _ = pthread_key_create(&key) { free($0) }
        return key
    }()

    static func set(_ message: String) {
        free(pthread_getspecific(key))
        _ = pthread_setspecific(key, strdup(message))
    }

    static var current: UnsafePointer<CChar> {
        guard let p = pthread_getspecific(key) else { return cString("") }
        return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
    }
}

/// Runs an exported function's body: 0 on success, else the error's status code with the
/// message (prefixed by the function's name) stored for `ntk_last_error`.
func boundary(_ function: StaticString, _ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch let error as NTKError {
        LastError.set("\(function): \(error.message)")
        return statusCode(error.kind)
    } catch {
        LastError.set("\(function): unexpected error \(error)")
        return NTK_ERR_INTERNAL.rawValue
    }
}

@_cdecl("ntk_status_string")
public func ntk_status_string(_ status: Int32) -> UnsafePointer<CChar> {
    if status == 0 { return cString("success") }
    switch ntk_status(rawValue: status) {
    case NTK_ERR_INVALID_ARGUMENT: return cString("invalid argument")
    case NTK_ERR_DIMENSION_MISMATCH: return cString("dimension mismatch")
    case NTK_ERR_NON_FINITE: return cString("non-finite input")
    case NTK_ERR_NOT_POSITIVE_DEFINITE: return cString("matrix not positive definite")
    case NTK_ERR_OUT_OF_MEMORY: return cString("out of memory")
    case NTK_ERR_CANCELLED: return cString("cancelled")
    case NTK_ERR_NUMERICAL: return cString("numerical failure")
    case NTK_ERR_TOO_LARGE: return cString("dimension too large")
    case NTK_ERR_INVALID_HANDLE: return cString("invalid handle")
    case NTK_ERR_INTERNAL: return cString("internal error")
    case NTK_ERR_CALLBACK: return cString("a callback failed")
    default: return cString("unknown status code")
    }
}

@_cdecl("ntk_last_error")
public func ntk_last_error() -> UnsafePointer<CChar> { LastError.current }

@_cdecl("ntk_version_number")
public func ntk_version_number() -> Int32 { Int32(Version.number) }

@_cdecl("ntk_version_string")
public func ntk_version_string() -> UnsafePointer<CChar> { cString(Version.string) }
