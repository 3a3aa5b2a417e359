#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How much memory a blocked computation may use for its working set (blocks of kernel rows,
/// per-sample activations, cached cross-kernels): one policy for the whole library.
///
/// - The budget of a call is, in order: the call's own limit (an option), else the process-wide
///   setting (`MemoryBudget.setProcessDefault`, C `ntk_set_memory_budget`), else
///   `defaultFraction` (one quarter) of the machine's physical memory; 1 GiB when the physical
///   memory cannot be read.
/// - A computation whose minimum working set exceeds its budget throws `outOfMemory` before it
///   does any work (`require`), naming what it needs and how to raise the budget.
/// - The budget bounds working memory, not the caller's inputs and outputs.
public enum MemoryBudget {
    /// The fraction of physical memory that is the automatic budget.
    public static let defaultFraction = 0.25
    /// The budget when the physical memory is unknown.
    public static let fallback = 1 << 30

    private static let setting = Atomic<Int>(0)

    /// Bytes of physical memory (0 if unknown).
    public static var physicalMemory: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 0 }
        let (bytes, overflow) = Int(pages).multipliedReportingOverflow(by: Int(size))
        return overflow ? Int.max : bytes
    }

    /// The automatic budget: `defaultFraction` of physical memory (or `fallback`).
    public static var automatic: Int {
        let physical = physicalMemory
        return physical > 0 ? Int(Double(physical) * defaultFraction) : fallback
    }

    /// Sets the process-wide budget in bytes (0: back to automatic).
    /// - Throws: `invalidArgument` for a negative value.
    public static func setProcessDefault(_ bytes: Int) throws {
        guard bytes >= 0 else {
            throw NTKError.invalidArgument("the memory budget must be >= 0 bytes (0: automatic), got \(bytes)")
        }
        setting.store(bytes, ordering: .releasing)
        Log.info("memory budget: \(bytes == 0 ? "automatic, \(Log.bytes(automatic))" : Log.bytes(bytes)) for every "
                 + "blocked computation")
    }

    /// The process-wide budget in bytes: the setting, or the automatic budget.
    public static var processDefault: Int {
        let s = setting.load(ordering: .acquiring)
        return s > 0 ? s : automatic
    }

    /// The budget of one call: its own `limit` (nil or 0: the process-wide budget).
    public static func resolve(_ limit: Int?) throws -> Int {
        guard let limit, limit != 0 else { return processDefault }
        guard limit > 0 else {
            throw NTKError.invalidArgument("memory limit must be > 0 bytes (or 0 for the default), got \(limit)")
        }
        return limit
    }

    /// Throws `outOfMemory` when `bytes` (the smallest working set of `what`) exceed `budget`.
    public static func require(_ bytes: Int, within budget: Int, for what: @autoclosure () -> String) throws {
        guard bytes <= budget else {
            throw NTKError.outOfMemory("\(what()) needs at least \(Log.bytes(bytes)) of working memory but the "
                                       + "memory budget is \(Log.bytes(budget)); raise the budget (the call's memory "
                                           + "limit or ntk_set_memory_budget) or shrink the problem")
        }
    }
}
