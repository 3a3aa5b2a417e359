// The log handler: the core's `Log` messages forwarded to a C function pointer.
import CNTK
import NTK

/// A C handler and its user pointer, carried into the core's `@Sendable` log closure.
private struct CLogHandler: @unchecked Sendable {
    let function: ntk_log_fn
    let user: UnsafeMutableRawPointer?
}

@_cdecl("ntk_set_log_handler")
public func ntk_set_log_handler(_ handler: ntk_log_fn?, _ user: UnsafeMutableRawPointer?,
                                _ minLevel: ntk_log_level) -> Int32 {
    boundary("ntk_set_log_handler") {
        guard let level = LogLevel(rawValue: Int(minLevel.rawValue)) else {
            throw NTKError(.invalidArgument,
                           "min_level must be NTK_LOG_DEBUG, NTK_LOG_INFO or NTK_LOG_WARNING, got \(minLevel.rawValue)")
        }
        guard let handler else { return Log.setHandler(minimumLevel: level, nil) }
        let c = CLogHandler(function: handler, user: user)
        Log.setHandler(minimumLevel: level) { level, message in
            message.withCString { c.function(c.user, ntk_log_level(rawValue: UInt32(level.rawValue)), $0) }
        }
    }
}
