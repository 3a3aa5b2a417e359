#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One point of a regularisation path: gradient flow with MSE up to time `time` (possibly
/// `+∞`) with ridge `ridge`, learning rate `learningRate` and `nTargets` target entries.
///
/// On the kernel's eigen-directions (eigenvalue λ ≥ 0) the prediction of kernel gradient flow is
/// `f_t = f_0 + K V diag(g(λ)) Vᵀ (Y − f_0)` with the filter
///
///     g(λ) = (1 − exp(−η t (λ + z) / N)) / (λ + z)          (eq. 20 and 22 in docs/equations.md)
///
/// which solves `df/dt = −(η/N) [K (f − Y) + z (f − f_0)]`, the flow of the loss
/// `(1/N) [½‖f − Y‖² + ½ z ‖θ − θ₀‖²]` of the linearised model. Special cases:
/// - `t = ∞`: `g = 1/(λ + z)`, kernel ridge regression (eq. 5, 21; z = 0: kernel regression);
/// - `λ + z → 0` at finite t: `g → η t / N` (evaluated with `expm1`, so there is no 0/0);
/// - the shrinkage `λ g(λ) ∈ [0, 1]` is what eq. 22 compares: `λ/(λ + z)` for ridge,
///   `1 − exp(−η t λ / N)` for early stopping.
public struct SpectralFilter: Sendable, Equatable {
    /// Training time t ≥ 0 (`.infinity`: the limit, kernel ridge).
    public let time: Double
    /// Ridge z ≥ 0, absolute.
    public let ridge: Double
    /// Learning rate η > 0.
    public let learningRate: Double
    /// N, the number of target entries (n · k) that normalises the loss.
    public let nTargets: Int

    /// - Throws: `invalidArgument` unless `time ≥ 0` (or `+∞`), `ridge ≥ 0` finite,
    ///   `learningRate > 0` finite and `nTargets ≥ 1`.
    public init(time: Double = .infinity, ridge: Double = 0, learningRate: Double = 1, nTargets: Int = 1) throws {
        guard !time.isNaN, time >= 0 else { throw NTKError.invalidArgument("time must be ≥ 0 (or +inf), got \(time)") }
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be ≥ 0, got \(ridge)") }
        try InputCheck.finite(learningRate, "learning rate")
        guard learningRate > 0 else { throw NTKError.invalidArgument("learning rate must be > 0, got \(learningRate)") }
        guard nTargets >= 1 else {
            throw NTKError.invalidArgument("the number of target entries must be ≥ 1, got \(nTargets)")
        }
        self.time = time
        self.ridge = ridge
        self.learningRate = learningRate
        self.nTargets = nTargets
    }

    /// Kernel ridge regression with ridge `z` (gradient flow at `t = ∞`).
    public static func ridge(_ z: Double) throws -> SpectralFilter { try SpectralFilter(time: .infinity, ridge: z) }

    /// `g(λ)` for an eigenvalue `λ ≥ 0`. At `t = ∞` with `λ + z = 0` the direction is not
    /// learned at all and `g = 0` (the pseudo-inverse, minimum-norm convention).
    @inline(__always)
    public func value(_ lambda: Double) -> Double {
        let s = lambda + ridge
        if time == .infinity { return Self.inverse(s) }
        let scaledTime = learningRate * time / Double(nTargets)
        if s == 0 { return scaledTime }
        return -expm1(-s * scaledTime) / s
    }

    /// `1/s` for `s > 0`, else 0: the filter at t = ∞ of a direction with `λ + z = s`.
    @inline(__always)
    static func inverse(_ s: Double) -> Double { s > 0 ? 1 / s : 0 }

    /// `1 − λ g(λ)`, what the fit leaves of a direction's residual, without cancellation:
    /// `z/(λ + z)` at t = ∞, `(z + λ e^{−η t (λ + z)/N})/(λ + z)` at finite t (1 where λ + z = 0).
    @inline(__always)
    public func residualFactor(_ lambda: Double) -> Double {
        let s = lambda + ridge
        guard s > 0 else { return 1 }
        if time == .infinity { return ridge / s }
        return (ridge + lambda * exp(-s * learningRate * time / Double(nTargets))) / s
    }

    /// The shrinkage factor `λ g(λ)` in [0, 1].
    @inline(__always)
    public func shrinkage(_ lambda: Double) -> Double { lambda * value(lambda) }
}
