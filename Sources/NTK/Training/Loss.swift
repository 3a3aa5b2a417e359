#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Training losses of outputs `f` (rows × k) against targets `y`, with their gradient
/// `∂L/∂f`, which drives both gradient descent and the function-space dynamics (eq. 13).
///
/// - `mse`: `L = (1/N) Σ ½ (f − y)²` over all N = rows·k entries (docs/conventions.md), `∂L/∂f = (f − y)/N`;
/// - `crossEntropy`: for k > 1 softmax over the outputs with targets that are probabilities
///   (one-hot labels), `L = −(1/rows) Σ_i Σ_c y_ic log softmax(f_i)_c`,
///   `∂L/∂f = (softmax(f) − y)/rows`; for k = 1 the logistic loss with y ∈ [0, 1],
///   `L = (1/rows) Σ_i [log(1 + e^{f_i}) − y_i f_i]`, `∂L/∂f = (σ(f) − y)/rows`.
///   Evaluated with log-sum-exp, so large outputs do not overflow.
public enum Loss: Sendable {
    case mse
    case crossEntropy

    /// Checks targets: finite; for cross-entropy, probabilities (k > 1: rows summing to 1 within
    /// 1e-6; k = 1: values in [0, 1]).
    public func validate(targets y: MatrixView) throws {
        try InputCheck.finite(y, "Y")
        guard self == .crossEntropy else { return }
        for i in 0..<y.rows {
            var sum = 0.0
            for c in 0..<y.cols {
                let v = y[i, c]
                guard v >= 0, v <= 1 else {
                    throw NTKError.invalidArgument("cross-entropy targets must be probabilities in [0, 1]; Y (row "
                                                   + "\(i), column \(c)) is \(v)")
                }
                sum += v
            }
            if y.cols > 1 && abs(sum - 1) > 1e-6 {
                throw NTKError.invalidArgument("cross-entropy targets must sum to 1 over the outputs; row \(i) sums "
                                               + "to \(sum)")
            }
        }
    }

    /// `L(f, y)` for `rows` rows of `k` outputs (contiguous f; y a view), and `∂L/∂f` into
    /// `gradient` (rows × k contiguous, may be nil). `totalRows` is the number of rows the loss
    /// is normalised by (larger than `rows` when a batch is processed in blocks).
    @discardableResult
    func evaluate(_ f: UnsafePointer<Double>, _ y: MatrixView, rows: Int, k: Int, totalRows: Int? = nil,
                  gradient: UnsafeMutablePointer<Double>?) -> Double {
        var total = 0.0
        let normalization = totalRows ?? rows
        switch self {
        case .mse:
            let scale = 1 / Double(max(normalization * k, 1))
            for i in 0..<rows {
                for c in 0..<k {
                    let r = f[i * k + c] - y[i, c]
                    total += 0.5 * r * r
                    gradient?[i * k + c] = r * scale
                }
            }
            return total * scale
        case .crossEntropy:
            let scale = 1 / Double(max(normalization, 1))
            for i in 0..<rows {
                let row = f + i * k
                if k == 1 {
                    let x = row[0], t = y[i, 0]
                    total += max(x, 0) + log1p(exp(-abs(x))) - t * x
                    gradient?[i] = (Activation.logistic(x) - t) * scale
                } else {
                    var top = -Double.infinity
                    for c in 0..<k { top = max(top, row[c]) }
                    var sum = 0.0
                    for c in 0..<k { sum += exp(row[c] - top) }
                    let logSum = top + log(sum)
                    for c in 0..<k {
                        let t = y[i, c]
                        if t != 0 { total -= t * (row[c] - logSum) }
                        gradient?[i * k + c] = (exp(row[c] - logSum) - t) * scale
                    }
                }
            }
            return total * scale
        }
    }
}
