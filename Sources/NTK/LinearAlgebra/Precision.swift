/// Conversions between double-precision work and single-precision storage (contiguous
/// vectors of `count` elements).
enum Precision {
    /// `single[i] = Float(x[i])` (round to nearest), and `x[i]` becomes that rounded value, so
    /// what is computed from `x` afterwards agrees with what `widen` will read back.
    static func round(_ x: UnsafeMutablePointer<Double>, count: Int, into single: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            let rounded = Float(x[i])
            single[i] = rounded
            x[i] = Double(rounded)
        }
    }

    /// `out[i] = Double(single[i])` (exact).
    static func widen(_ single: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Double>) {
        for i in 0..<count { out[i] = Double(single[i]) }
    }
}
