#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise nonlinearities φ of dense networks, with their derivatives φ'.
///
/// Definitions (as neural-tangents' `stax`):
/// - `identity`: x
/// - `relu`: max(x, 0), φ'(0) = 0
/// - `leakyReLU(slope)`: x for x > 0, slope·x otherwise
/// - `abs`: |x|, φ'(0) = 0
/// - `tanh`, `erf`, `sin`
/// - `sigmoid`: 1/(1 + e^(−x)), evaluated without overflow
/// - `gelu`: the exact x·Φ(x) with Φ the standard normal CDF (not the tanh approximation)
/// - `softplus`: log(1 + e^x) = max(x, 0) + log1p(e^(−|x|))
public enum Activation: Equatable, Sendable, CustomStringConvertible {
    case identity
    case relu
    case leakyReLU(slope: Double)
    case abs
    case tanh
    case erf
    case sigmoid
    case gelu
    case softplus
    case sin

    /// The parameter of the activation (the leaky slope; 0 for the others).
    public var parameter: Double {
        if case .leakyReLU(let slope) = self { return slope }
        return 0
    }

    /// The name as neural-tangents and the Python package spell it, e.g. `leaky_relu(0.1)`.
    public var description: String {
        switch self {
        case .identity: "identity"
        case .relu: "relu"
        case .leakyReLU(let s): "leaky_relu(\(s))"
        case .abs: "abs"
        case .tanh: "tanh"
        case .erf: "erf"
        case .sigmoid: "sigmoid"
        case .gelu: "gelu"
        case .softplus: "softplus"
        case .sin: "sin"
        }
    }

    private static let twoOverRootPi = 2 / Double.pi.squareRoot()
    private static let inverseRootTwo = 1 / 2.0.squareRoot()
    private static let inverseRootTwoPi = 1 / (2 * Double.pi).squareRoot()

    @inline(__always)
    static func logistic(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
    }

    /// φ(x).
    @inline(__always)
    public func value(_ x: Double) -> Double {
        switch self {
        case .identity: x
        case .relu: x > 0 ? x : 0
        case .leakyReLU(let s): x > 0 ? x : s * x
        case .abs: Swift.abs(x)
        case .tanh: Glibc.tanh(x)
        case .erf: Glibc.erf(x)
        case .sigmoid: Self.logistic(x)
        case .gelu: 0.5 * x * (1 + Glibc.erf(x * Self.inverseRootTwo))
        case .softplus: max(x, 0) + log1p(exp(-Swift.abs(x)))
        case .sin: Glibc.sin(x)
        }
    }

    /// φ'(x).
    @inline(__always)
    public func derivative(_ x: Double) -> Double {
        switch self {
        case .identity: 1
        case .relu: x > 0 ? 1 : 0
        case .leakyReLU(let s): x > 0 ? 1 : s
        case .abs: x > 0 ? 1 : (x < 0 ? -1 : 0)
        case .tanh:
            { let t = Glibc.tanh(x); return 1 - t * t }()
        case .erf: Self.twoOverRootPi * exp(-x * x)
        case .sigmoid:
            { let s = Self.logistic(x); return s * (1 - s) }()
        case .gelu: 0.5 * (1 + Glibc.erf(x * Self.inverseRootTwo)) + x * Self.inverseRootTwoPi * exp(-0.5 * x * x)
        case .softplus: Self.logistic(x)
        case .sin: cos(x)
        }
    }

    /// Overwrites each pre-activation `z[i]` with φ(z[i]) and writes φ'(z[i]) into `derivative`
    /// (which may be nil) for `count` entries. The activation is chosen once, outside the loop.
    /// Single-precision entries are evaluated in double precision and rounded once.
    func apply<S: BinaryFloatingPoint>(_ z: UnsafeMutablePointer<S>, derivative: UnsafeMutablePointer<S>?,
                                       count: Int) {
        switch self {
        case .identity: Self.map(z, derivative, count) { ($0, 1) }
        case .relu: Self.map(z, derivative, count) { $0 > 0 ? ($0, 1) : (0, 0) }
        case .leakyReLU(let s): Self.map(z, derivative, count) { $0 > 0 ? ($0, 1) : (s * $0, s) }
        case .abs: Self.map(z, derivative, count) { x in (Swift.abs(x), x > 0 ? 1 : (x < 0 ? -1 : 0)) }
        case .tanh: Self.map(z, derivative, count) { x in let t = Glibc.tanh(x); return (t, 1 - t * t) }
        case .sigmoid: Self.map(z, derivative, count) { x in let v = Self.logistic(x); return (v, v * (1 - v)) }
        case .erf, .gelu, .softplus, .sin: Self.map(z, derivative, count) { (value($0), self.derivative($0)) }
        }
    }

    @inline(__always)
    private static func map<S: BinaryFloatingPoint>(_ z: UnsafeMutablePointer<S>,
                                                    _ derivative: UnsafeMutablePointer<S>?, _ count: Int,
                                                    _ f: (Double) -> (Double, Double)) {
        if let derivative {
            for i in 0..<count {
                let (v, d) = f(Double(z[i]))
                z[i] = S(v)
                derivative[i] = S(d)
            }
        } else {
            for i in 0..<count { z[i] = S(f(Double(z[i])).0) }
        }
    }
}
