/// The library version; `include/ntk.h` carries the same numbers as macros and
/// `Tests/c` checks that header and library agree.
public enum Version {
    public static let major = 0
    public static let minor = 2
    public static let patch = 0
    /// `major · 10000 + minor · 100 + patch`, as `NTK_VERSION_NUMBER`.
    public static let number = major * 10000 + minor * 100 + patch
    public static let string: StaticString = "0.2.0"
}
