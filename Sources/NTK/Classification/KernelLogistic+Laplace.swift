#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the exact Hessian at the minimum gives (`ModeHessian`): the approximate leave-one-out
/// logits and log loss, the Laplace approximation of Gaussian-process classification (latent
/// covariance, log marginal likelihood), and ridge selection by the approximate LOO log loss.
extension KernelLogistic {
    /// Approximate leave-one-out logits (n × k) and their mean log loss, without refits.
    ///
    /// Leaving point i out removes `ℓᵢ` from J; one Newton step from the fitted w gives its
    /// logits `fᵢ⁻ = fᵢ + Sᵢ (I − Wᵢ Sᵢ)⁻¹ gᵢ` with `Sᵢ = S(Φᵢ)` (`ModeHessian`), `Wᵢ` the
    /// softmax Hessian and `gᵢ = πᵢ − e_{yᵢ}` (the rank-k update of H⁻¹ by the push-through
    /// identity). Exact for a quadratic loss (where it is kernel ridge's closed-form LOO);
    /// for cross-entropy one Newton step of the refit, typically within a few per cent of the
    /// refitted LOO log loss. Costs one `ModeHessian` and O(n k³) more.
    public func leaveOneOut(memoryLimit: Int? = nil) throws -> (logits: Matrix, logLoss: Double) {
        let hessian = try ModeHessian(self, memoryLimit: memoryLimit)
        let k = classes
        let blocks = try Workspace(count: try Sizes.product(n, k * k, "Hessian blocks"), for: "the LOO blocks")
        try hessian.blocks(features.features, into: blocks.pointer)
        var out = try Matrix(rows: n, cols: k)
        var total = 0.0
        var a = [Double](repeating: 0, count: k * k), g = [Double](repeating: 0, count: k)
        var row = [Double](repeating: 0, count: k), p = [Double](repeating: 0, count: k)
        for i in 0..<n {
            let s = blocks.pointer + i * k * k, pi = probabilities.pointer + i * k, y = labels.labels[i]
            // a = I − W S with W = diag π − π πᵀ.
            for c in 0..<k {
                for d in 0..<k {
                    var ws = pi[c] * s[c * k + d]
                    for e in 0..<k { ws -= pi[c] * pi[e] * s[e * k + d] }
                    a[c * k + d] = (c == d ? 1 : 0) - ws
                }
                g[c] = pi[c] - (c == y ? 1 : 0)
            }
            try SmallLinearSystem.solve(&a, &g, k)
            for c in 0..<k {
                var v = logits.pointer[i * k + c]
                for d in 0..<k { v += s[c * k + d] * g[d] }
                row[c] = v
                out[i, c] = v
            }
            total += row.withUnsafeBufferPointer { f in
                p.withUnsafeMutableBufferPointer { Softmax.row(f.baseAddress!, k, label: y, into: $0.baseAddress!) }
            }
        }
        return (out, total / Double(n))
    }

    /// The Laplace approximation of the log marginal likelihood of GP classification with prior
    /// covariance `K/λ` on each class's latent logits (the kernel as given, for `λ = 1`):
    /// `log q(y) = −J(ŵ) − ½ log det(H/λ)` (Rasmussen & Williams eq. 3.32, 3.44 in feature form).
    public func logMarginalLikelihood(memoryLimit: Int? = nil) throws -> Double {
        -objective - 0.5 * (try ModeHessian(self, memoryLimit: memoryLimit)).logDeterminant
    }

    /// The Laplace posterior covariance of the latent logits at m test points (m × k × k,
    /// contiguous): `S(φ(x)) + (k(x, x) − ‖φ(x)‖²)/λ · I`, with the test kernel against the
    /// model's points Z (m × c) and, optionally, the test points' own kernel values k(x, x)
    /// (the prior variance outside the features' span; without them, or for Nyström, the
    /// model's kernel ΦΦᵀ is taken as the prior). The mean is `predict`.
    public func latentCovariance(kernel: MatrixView, diagonal: UnsafePointer<Double>?,
                                 into out: UnsafeMutablePointer<Double>, memoryLimit: Int? = nil) throws {
        try InputCheck.finite(kernel, "K_test_train")
        let phi = try features.testFeatures(kernel)
        let m = kernel.rows, r = features.rank, k = classes
        let view = MatrixView(unchecked: UnsafePointer(phi.pointer), rows: m, cols: r, ld: max(r, 1))
        try ModeHessian(self, memoryLimit: memoryLimit).blocks(view, into: out)
        guard let diagonal else { return }
        for i in 0..<m {
            guard diagonal[i].isFinite else { throw NTKError.nonFinite("k_test_diagonal[\(i)] is not finite") }
            var norm = 0.0
            for a in 0..<r { norm += view[i, a] * view[i, a] }
            let extra = max(diagonal[i] - norm, 0) / ridge
            for c in 0..<k { out[i * k * k + c * k + c] += extra }
        }
    }

    /// Fits every ridge of `ridges` (from the largest, each warm-started from the previous
    /// solution) and keeps the one with the smallest approximate LOO log loss.
    /// Returns the chosen model and every ridge's score (in the order given).
    /// - Throws: as the initialiser; `invalidArgument` for an empty grid.
    static func select(features: KernelFeatures, labels: ClassLabels, ridges: [Double], settings: Settings,
                       memoryLimit: Int? = nil, progress: ProgressHandler) throws -> (KernelLogistic, [Double]) {
        guard !ridges.isEmpty else { throw NTKError.invalidArgument("the ridge grid is empty") }
        for z in ridges { try InputCheck.finite(z, "ridges") }
        let order = ridges.indices.sorted { ridges[$0] > ridges[$1] }
        var scores = [Double](repeating: .nan, count: ridges.count)
        var best: KernelLogistic? = nil, bestScore = Double.infinity
        var previous: KernelLogistic? = nil
        for (step, j) in order.enumerated() {
            let stage = progress.stage(Double(step) / Double(order.count), Double(step + 1) / Double(order.count))
            let model = try KernelLogistic(features: features, labels: labels, ridge: ridges[j], settings: settings,
                                           start: previous?.weights, progress: stage)
            scores[j] = try model.leaveOneOut(memoryLimit: memoryLimit).logLoss
            Log.info("kernel logistic: ridge \(ridges[j]): approximate LOO log loss \(scores[j])")
            if scores[j] < bestScore { (best, bestScore) = (model, scores[j]) }
            previous = model
        }
        guard let best else {
            throw NTKError.numericalFailure("no ridge of the grid gave a finite leave-one-out log loss")
        }
        Log.info("kernel logistic: selected ridge \(best.ridge) (approximate LOO log loss \(bestScore))")
        return (best, scores)
    }
}

/// `x ← A⁻¹ b` for a small dense system (k × k, row-major) by Gaussian elimination with
/// partial pivoting; A and b are overwritten.
enum SmallLinearSystem {
    static func solve(_ a: inout [Double], _ b: inout [Double], _ k: Int) throws {
        for col in 0..<k {
            var pivot = col
            for row in (col + 1)..<max(k, col + 1) where abs(a[row * k + col]) > abs(a[pivot * k + col]) { pivot = row }
            guard a[pivot * k + col] != 0 && a[pivot * k + col].isFinite else {
                throw NTKError.numericalFailure("a leave-one-out system is singular")
            }
            if pivot != col {
                for j in 0..<k { a.swapAt(col * k + j, pivot * k + j) }
                b.swapAt(col, pivot)
            }
            for row in (col + 1)..<max(k, col + 1) {
                let factor = a[row * k + col] / a[col * k + col]
                for j in col..<k { a[row * k + j] -= factor * a[col * k + j] }
                b[row] -= factor * b[col]
            }
        }
        for row in stride(from: k - 1, through: 0, by: -1) {
            var s = b[row]
            for j in (row + 1)..<max(k, row + 1) { s -= a[row * k + j] * b[j] }
            b[row] = s / a[row * k + row]
        }
    }
}
