#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The training side of a classification: class labels `y_i ∈ {0, …, k−1}` for n points and the
/// offsets `f₀` (n × k logits the kernel model adds to, as `Targets` does for regression: a
/// network's outputs for boosting, eq. 24; nil for 0), validated once.
public struct ClassLabels {
    /// The labels, one per training point.
    public let labels: [Int]
    /// k ≥ 2, the number of classes (a class may have no training point: its logits are then
    /// pushed down only as far as the ridge allows).
    public let classes: Int
    /// The offsets f₀, n × k, or nil for 0.
    public let offsets: MatrixView?

    /// The number of training points n.
    public var rows: Int { labels.count }

    /// - Throws: `invalidArgument` (fewer than 2 classes, a label outside 0..<k, no points),
    ///   `dimensionMismatch` (offsets of another shape), `nonFinite`.
    public init(_ labels: [Int], classes: Int, offsets: MatrixView? = nil) throws {
        guard classes >= 2 else {
            throw NTKError.invalidArgument("classification needs at least 2 classes, got \(classes) (one class "
                                           + "only: every point is predicted as it without a model)")
        }
        guard !labels.isEmpty else { throw NTKError.invalidArgument("classification needs at least one point") }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw NTKError.invalidArgument("label \(labels[bad]) of point \(bad) is outside 0..<\(classes)")
        }
        if let f0 = offsets {
            guard f0.rows == labels.count, f0.cols == classes else {
                throw NTKError.dimensionMismatch("f0_train is \(f0.rows) × \(f0.cols) but must be \(labels.count) "
                                                 + "× \(classes) (points × classes)")
            }
            try InputCheck.finite(f0, "f0_train")
        }
        self.labels = labels
        self.classes = classes
        self.offsets = offsets
    }
}

/// Softmax cross-entropy, one row of logits at a time: the likelihood of kernel logistic
/// regression and of Gaussian-process classification (eq. 13's loss, summed over points).
///
/// For logits f ∈ ℝᵏ and label y: `π = softmax(f)`, loss `ℓ = log Σ_c exp f_c − f_y` (computed
/// with the maximum subtracted, so no logit overflows), gradient `π − e_y` and Hessian
/// `W = diag(π) − π πᵀ` (positive semi-definite, `W 1 = 0`).
enum Softmax {
    /// Writes `π = softmax(f)` into `p` and returns the loss of label `y`.
    @inline(__always)
    static func row(_ f: UnsafePointer<Double>, _ k: Int, label y: Int, into p: UnsafeMutablePointer<Double>)
        -> Double {
        var top = -Double.infinity
        for c in 0..<k { top = max(top, f[c]) }
        var sum = 0.0
        for c in 0..<k {
            p[c] = exp(f[c] - top)
            sum += p[c]
        }
        for c in 0..<k { p[c] /= sum }
        return top + log(sum) - f[y]
    }

    /// The loss of label `y` at logits `f + t·d` (no probabilities kept).
    @inline(__always)
    static func loss(_ f: UnsafePointer<Double>, _ d: UnsafePointer<Double>, _ t: Double, _ k: Int, label y: Int)
        -> Double {
        var top = -Double.infinity
        for c in 0..<k { top = max(top, f[c] + t * d[c]) }
        var sum = 0.0
        for c in 0..<k { sum += exp(f[c] + t * d[c] - top) }
        return top + log(sum) - (f[y] + t * d[y])
    }

    /// `u ← W u = π ∘ u − π (πᵀu)` in place.
    @inline(__always)
    static func hessianProduct(_ p: UnsafePointer<Double>, _ u: UnsafeMutablePointer<Double>, _ k: Int) {
        var dot = 0.0
        for c in 0..<k { dot += p[c] * u[c] }
        for c in 0..<k { u[c] = p[c] * (u[c] - dot) }
    }
}
