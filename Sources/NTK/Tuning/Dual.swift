#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A forward-mode (dual) number: a value and its partial derivatives with respect to three
/// inputs (for the Gaussian expectations: q1, q2 and c). Arithmetic and the elementary functions
/// below propagate the partials by the chain rule, so a formula written with `Dual` returns its
/// exact gradient to rounding (no step size, unlike finite differences).
struct Dual {
    var value: Double
    var partials: SIMD3<Double>

    init(_ value: Double, _ partials: SIMD3<Double> = .zero) {
        self.value = value
        self.partials = partials
    }

    /// The input variable number `index` (0, 1 or 2) at `value`.
    static func variable(_ value: Double, _ index: Int) -> Dual {
        var p = SIMD3<Double>.zero
        p[index] = 1
        return Dual(value, p)
    }

    /// f(self) given f(value) and f'(value).
    @inline(__always)
    func chain(_ f: Double, _ df: Double) -> Dual { Dual(f, df * partials) }

    static func + (a: Dual, b: Dual) -> Dual { Dual(a.value + b.value, a.partials + b.partials) }
    static func - (a: Dual, b: Dual) -> Dual { Dual(a.value - b.value, a.partials - b.partials) }
    static func * (a: Dual, b: Dual) -> Dual { Dual(a.value * b.value, b.value * a.partials + a.value * b.partials) }
    static func / (a: Dual, b: Dual) -> Dual {
        let q = a.value / b.value
        return Dual(q, (a.partials - q * b.partials) / b.value)
    }
    static func + (a: Dual, b: Double) -> Dual { Dual(a.value + b, a.partials) }
    static func + (a: Double, b: Dual) -> Dual { Dual(a + b.value, b.partials) }
    static func - (a: Dual, b: Double) -> Dual { Dual(a.value - b, a.partials) }
    static func - (a: Double, b: Dual) -> Dual { Dual(a - b.value, -b.partials) }
    static func * (a: Double, b: Dual) -> Dual { Dual(a * b.value, a * b.partials) }
    static func * (a: Dual, b: Double) -> Dual { Dual(a.value * b, b * a.partials) }
    static func / (a: Dual, b: Double) -> Dual { Dual(a.value / b, a.partials / b) }
    static func / (a: Double, b: Dual) -> Dual {
        let q = a / b.value
        return Dual(q, (-q / b.value) * b.partials)
    }
    static prefix func - (a: Dual) -> Dual { Dual(-a.value, -a.partials) }

    func squareRoot() -> Dual {
        let r = value.squareRoot()
        return chain(r, 0.5 / r)
    }

    static func exp(_ a: Dual) -> Dual {
        let e = Glibc.exp(a.value)
        return a.chain(e, e)
    }

    static func log(_ a: Dual) -> Dual { a.chain(Glibc.log(a.value), 1 / a.value) }

    static func asin(_ a: Dual) -> Dual {
        let x = a.value
        return a.chain(Glibc.asin(x), 1 / ((1 - x) * (1 + x)).squareRoot())
    }

    static func sinh(_ a: Dual) -> Dual { a.chain(Glibc.sinh(a.value), Glibc.cosh(a.value)) }
    static func cosh(_ a: Dual) -> Dual { a.chain(Glibc.cosh(a.value), Glibc.sinh(a.value)) }
}
