/// Checked size arithmetic: every product of sizes that the library relies on goes through
/// here, so an overflowing request becomes `NTKError.tooLarge` instead of a trap.
public enum Sizes {
    /// `a · b`, or `tooLarge` naming `what` if it overflows `Int`.
    public static func product(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        if overflow { throw NTKError.tooLarge("\(what()) (\(a) × \(b)) overflows a 64-bit size") }
        return p
    }

    /// `a + b`, or `tooLarge` if it overflows.
    public static func sum(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        if overflow { throw NTKError.tooLarge("\(what()) (\(a) + \(b)) overflows a 64-bit size") }
        return s
    }

    /// A size or leading dimension as the 32-bit integer that OpenBLAS/LAPACKE (LP64) take.
    public static func blasInt(_ n: Int, _ what: @autoclosure () -> String) throws -> Int32 {
        guard n >= 0 else { throw NTKError.invalidArgument("\(what()) must be non-negative, got \(n)") }
        guard n <= Int(Int32.max) else {
            throw NTKError.tooLarge("\(what()) = \(n) exceeds the 32-bit BLAS limit \(Int32.max)")
        }
        return Int32(n)
    }
}
