#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The seeded generator of initial parameters, documented so that others can reproduce it:
/// SplitMix64 from `seed` gives 64-bit words u; `(u >> 11) · 2⁻⁵³` is uniform in [0, 1);
/// each pair of uniforms (u1, u2) gives two N(0, 1) draws by Box–Muller,
/// `√(−2 ln(1 − u1)) · cos(2π u2)` then `· sin(2π u2)`. θ is filled in layout order, each entry
/// multiplied by its standard deviation (see `Parameterization`).
public struct NormalGenerator {
    private var state: UInt64
    private var spare: Double?

    /// The generator for `seed`.
    public init(seed: UInt64) { state = seed }

    mutating func nextWord() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next N(0, 1) draw.
    public mutating func next() -> Double {
        if let s = spare {
            spare = nil
            return s
        }
        let u1 = Double(nextWord() >> 11) * 0x1p-53, u2 = Double(nextWord() >> 11) * 0x1p-53
        let radius = (-2 * log(1 - u1)).squareRoot(), angle = 2 * Double.pi * u2
        spare = radius * sin(angle)
        return radius * cos(angle)
    }
}
