import CBLAS

/// Ridge regression on explicit features (eq. 3 in docs/equations.md): random-features regression and
/// the one-step NTK model, whose features are the Jacobian rows `S_i = ∇θ f(x_i)`.
///
///     β = (zI + SᵀS)⁻¹ Sᵀ Y      (primal, P × P)
///       = Sᵀ (zI + SSᵀ)⁻¹ Y      (dual, n × n: the kernel form with K = SSᵀ)
///
/// The two are equal (push-through identity `(zI + SᵀS)⁻¹Sᵀ = Sᵀ(zI + SSᵀ)⁻¹`); `.automatic`
/// solves the smaller system, P × P when P < n. Predictions are `S β` and `S_test β`.
/// With `z = 0` the solved system must be positive definite (full column rank for the primal,
/// full row rank for the dual), else `notPositiveDefinite`.
public enum FeatureRidge {
    /// Which linear system is solved; both give the same weights to rounding.
    public enum Form: Sendable {
        case automatic
        case primal
        case dual
    }

    /// Fits and predicts. `weights` (P × k), `trainOut` (n × k) and `testOut` (m × k, needs
    /// `sTest`) are each optional.
    public static func fit(s: MatrixView, y: MatrixView, ridge: Double, form: Form = .automatic,
                           sTest: MatrixView? = nil, weights: MutableMatrixView? = nil,
                           trainOut: MutableMatrixView? = nil, testOut: MutableMatrixView? = nil,
                           progress: ProgressHandler = .none) throws {
        let n = s.rows, p = s.cols, k = y.cols
        guard y.rows == n else { throw NTKError.dimensionMismatch("Y has \(y.rows) rows but S has \(n)") }
        if let sTest, sTest.cols != p {
            throw NTKError.dimensionMismatch("S_test has \(sTest.cols) features but S has \(p)")
        }
        if testOut != nil && sTest == nil { throw NTKError.invalidArgument("test predictions need S_test") }
        for (out, rows, name) in [(weights, p, "weights"), (trainOut, n, "train predictions"),
                                  (testOut, sTest?.rows ?? 0, "test predictions")] {
            if let out, out.rows != rows || out.cols != k {
                throw NTKError.dimensionMismatch("the \(name) output is \(out.rows) × \(out.cols) but must be "
                                                 + "\(rows) × \(k)")
            }
        }
        for (out, name) in [(weights, "weights"), (trainOut, "train predictions"), (testOut, "test predictions")] {
            guard let out else { continue }
            try out.requireDisjoint(from: s, "the \(name) output", "S")
            try out.requireDisjoint(from: y, "the \(name) output", "Y")
            if let sTest { try out.requireDisjoint(from: sTest, "the \(name) output", "S_test") }
        }
        try InputCheck.finite(ridge, "ridge")
        guard ridge >= 0 else { throw NTKError.invalidArgument("ridge must be ≥ 0, got \(ridge)") }
        for (value, what) in [(n, "rows of S"), (p, "features"), (k, "outputs"), (s.ld, "leading dimension of S")] {
            _ = try Sizes.blasInt(value, what)
        }
        try InputCheck.finite(s, "S")
        try InputCheck.finite(y, "Y")
        if let sTest { try InputCheck.finite(sTest, "S_test") }

        let beta = try Workspace(count: max(try Sizes.product(p, k, "size of the weights"), 1), for: "the weights")
        let usePrimal = form == .primal || (form == .automatic && p < n)
        if usePrimal {
            // (zI + SᵀS) β = Sᵀ Y.
            let gram = try Workspace(count: max(try Sizes.product(p, p, "size of SᵀS"), 1), for: "SᵀS")
            if p > 0 && n > 0 {
                cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, Int32(p), Int32(n), 1, s.base, Int32(s.ld), 0,
                            gram.pointer, Int32(p))
            } else {
                gram.matrix(p, p).fill(0)
            }
            Symmetry.mirrorLowerToUpper(gram.pointer, n: p, ld: p)
            try MatrixProduct.gemm(s, transposeA: true, y, into: beta.matrix(p, k))
            let factor = try CholeskyFactorization(gram.matrix(p, p).readOnly, ridge: ridge, progress: progress)
            try factor.solve(beta.matrix(p, k).readOnly, into: beta.matrix(p, k))
        } else {
            // (zI + SSᵀ) α = Y, β = Sᵀ α.
            let kernel = try Workspace(count: max(try Sizes.product(n, n, "size of SSᵀ"), 1), for: "SSᵀ")
            try Gram.compute(s, nil, into: kernel.matrix(n, n))
            let factor = try CholeskyFactorization(kernel.matrix(n, n).readOnly, ridge: ridge, progress: progress)
            let alpha = try Workspace(count: max(try Sizes.product(n, k, "size of Y"), 1), for: "dual coefficients")
            try factor.solve(y, into: alpha.matrix(n, k))
            try MatrixProduct.gemm(s, transposeA: true, alpha.matrix(n, k).readOnly, into: beta.matrix(p, k))
        }
        try InputCheck.finiteResult(beta.pointer, count: p * k, "the weights")
        let b = beta.matrix(p, k).readOnly
        if let weights { for i in 0..<p { (weights.base + i * weights.ld).update(from: b.row(i), count: k) } }
        if let trainOut { try MatrixProduct.gemm(s, b, into: trainOut) }
        if let testOut, let sTest { try MatrixProduct.gemm(sTest, b, into: testOut) }
    }
}

extension FeatureRidge {
    /// `Matrix` version of `fit`: returns the weights β (P × k), the train predictions (n × k)
    /// and, with `sTest`, the test predictions.
    public static func fit(s: Matrix, y: Matrix, ridge: Double, form: Form = .automatic, sTest: Matrix? = nil)
        throws -> (weights: Matrix, train: Matrix, test: Matrix?) {
        var weights = try Matrix(rows: s.cols, cols: y.cols)
        var train = try Matrix(rows: s.rows, cols: y.cols)
        var test = try Matrix(rows: sTest?.rows ?? 0, cols: y.cols)
        try s.withView { sv in
            try y.withView { yv in
                try Matrix.withOptionalView(sTest) { st in
                    try weights.withMutableView { w in
                        try train.withMutableView { tr in
                            try test.withMutableView { te in
                                try fit(s: sv, y: yv, ridge: ridge, form: form, sTest: st, weights: w, trainOut: tr,
                                        testOut: st == nil ? nil : te)
                            }
                        }
                    }
                }
            }
        }
        return (weights, train, sTest == nil ? nil : test)
    }
}
