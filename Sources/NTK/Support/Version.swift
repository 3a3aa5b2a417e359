/// The library version; `include/ntk.h` carries the same numbers as macros and
/// `Tests/c` checks that header and library agree.
public enum Version {
    /// The major version (`NTK_VERSION_MAJOR`).
    public static let major = 0
    /// The minor version (`NTK_VERSION_MINOR`).
    public static let minor = 2
    /// The patch version (`NTK_VERSION_PATCH`).
    public static let patch = 0
    /// `major · 10000 + minor · 100 + patch`, as `NTK_VERSION_NUMBER`.
    public static let number = major * 10000 + minor * 100 + patch
    /// "major.minor.patch".
    public static let string: StaticString = "0.2.0"
}
