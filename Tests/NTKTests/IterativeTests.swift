@testable import NTK
import XCTest

/// The iterative solvers on explicit matrices, against naive dense references: Gaussian
/// elimination for CG's solution, `Qᵀ A Q` and `Qᵀ Q` for the Lanczos recurrence.
final class IterativeTests: XCTestCase {
    /// A badly scaled SPD matrix: D S D with S well conditioned and D spanning three decades.
    func problem(_ n: Int, k: Int, seed: UInt64) throws -> (Matrix, Matrix) {
        let s = try randomSPD(n, p: n, shift: 0.5, seed: seed)
        var a = s
        for i in 0..<n { for j in 0..<n { a[i, j] *= pow(10, 1.5 * Double(i + j) / Double(n)) } }
        var rng = TestRandom(seed: seed + 1)
        return (a, try rng.matrix(n, k))
    }

    /// Gaussian elimination with partial pivoting: the independent reference for A X = B.
    func naiveSolve(_ a: Matrix, _ b: Matrix) throws -> Matrix {
        let n = a.rows, k = b.cols
        var m = a, x = b
        for c in 0..<n {
            let p = (c..<n).max { abs(m[$0, c]) < abs(m[$1, c]) }!
            for j in 0..<n { let t = m[c, j]; m[c, j] = m[p, j]; m[p, j] = t }
            for j in 0..<k { let t = x[c, j]; x[c, j] = x[p, j]; x[p, j] = t }
            for r in (c + 1)..<n {
                let f = m[r, c] / m[c, c]
                for j in c..<n { m[r, j] -= f * m[c, j] }
                for j in 0..<k { x[r, j] -= f * x[c, j] }
            }
        }
        for c in stride(from: n - 1, through: 0, by: -1) {
            for j in 0..<k {
                var s = x[c, j]
                for q in (c + 1)..<n { s -= m[c, q] * x[q, j] }
                x[c, j] = s / m[c, c]
            }
        }
        return x
    }

    /// The inverse diagonal of A, as a `Preconditioner`.
    struct Jacobi: Preconditioner {
        let inverse: [Double]
        func apply(_ r: MatrixView, into out: MutableMatrixView) throws {
            for i in 0..<r.rows { for c in 0..<r.cols { out[i, c] = inverse[i] * r[i, c] } }
        }
    }

    func solve(_ a: Matrix, _ b: Matrix, preconditioner: Preconditioner?, tolerance: Double = 1e-12,
               cap: Int = 2000) throws -> (Matrix, ConjugateGradient.Outcome, Int) {
        var products = 0
        let cg = ConjugateGradient(rows: a.rows, columns: b.cols, apply: { v, out, _ in
            products += 1
            try a.withView { try MatrixProduct.gemm($0, v, into: out) }
        }, preconditioner: preconditioner, reduce: nil, name: "test CG")
        var x = try Matrix(rows: b.rows, cols: b.cols)
        let outcome = try b.withView { bv in
            try x.withMutableView { try cg.solve(bv, into: $0, settings: try .init(tolerance: tolerance, maxIterations: cap)) }
        }
        return (x, outcome, products)
    }

    func testBlockCGSolvesEveryColumn() throws {
        let (a, b) = try problem(40, k: 3, seed: 5)
        let reference = try naiveSolve(a, b)
        let scale = reference.elements.map(abs).max() ?? 1
        for preconditioner in [nil, Jacobi(inverse: (0..<40).map { 1 / a[$0, $0] })] as [Preconditioner?] {
            let (x, outcome, products) = try solve(a, b, preconditioner: preconditioner)
            XCTAssertTrue(outcome.converged)
            XCTAssertEqual(products, outcome.iterations, "one block product per iteration")
            XCTAssertEqual(outcome.residuals.count, outcome.iterations)
            XCTAssertLessThanOrEqual(outcome.residuals.last ?? 1, 1e-12)
            XCTAssertLessThan(maxAbsDifference(x, reference) / scale, 1e-8)
        }
    }

    func testThePreconditionerPaysOffOnABadlyScaledMatrix() throws {
        let (a, b) = try problem(60, k: 1, seed: 8)
        let plain = try solve(a, b, preconditioner: nil, tolerance: 1e-10).1
        let jacobi = try solve(a, b, preconditioner: Jacobi(inverse: (0..<60).map { 1 / a[$0, $0] }), tolerance: 1e-10).1
        XCTAssertTrue(plain.converged && jacobi.converged)
        XCTAssertLessThan(jacobi.iterations, plain.iterations)
    }

    func testCapAndZeroRightHandSide() throws {
        let (a, b) = try problem(30, k: 2, seed: 2)
        let capped = try solve(a, b, preconditioner: nil, cap: 3)
        XCTAssertFalse(capped.1.converged)
        XCTAssertEqual(capped.1.iterations, 3)
        let zero = try solve(a, try Matrix(rows: 30, cols: 2), preconditioner: nil)
        XCTAssertTrue(zero.1.converged)
        XCTAssertEqual(zero.1.iterations, 0)
        XCTAssertEqual(zero.0.elements.map(abs).max(), 0)
        assertThrows(.invalidArgument, try ConjugateGradient.Settings(tolerance: 0, maxIterations: 1))
        assertThrows(.invalidArgument, try ConjugateGradient.Settings(tolerance: 1e-8, maxIterations: 0))
        assertThrows(.nonFinite, try ConjugateGradient.Settings(tolerance: .nan, maxIterations: 5))
    }

    /// A product in single precision (A and v rounded to Float, float sums): relative error ~1e-7.
    func floatProduct(_ a: Matrix, _ v: MatrixView, into out: MutableMatrixView) {
        for i in 0..<a.rows {
            for c in 0..<v.cols {
                var sum: Float = 0
                for j in 0..<a.cols { sum += Float(a[i, j]) * Float(v[j, c]) }
                out[i, c] = Double(sum)
            }
        }
    }

    /// CG on inexact (float) products: alone it stops on a recursive residual that drifted from
    /// the true one, so its solution is float-accurate only; with reliable updates from exact
    /// products it stops on the true residual and matches Gaussian elimination as exact CG does.
    func testReliableUpdatesMakeInexactProductsExact() throws {
        let (a, b) = try problem(40, k: 2, seed: 11)
        let reference = try naiveSolve(a, b)
        let scale = reference.elements.map(abs).max() ?? 1
        var exactProducts = 0
        func run(reliable: Bool) throws -> (Matrix, ConjugateGradient.Outcome) {
            var cg = ConjugateGradient(rows: 40, columns: 2, apply: { v, out, _ in self.floatProduct(a, v, into: out) },
                                       preconditioner: Jacobi(inverse: (0..<40).map { 1 / a[$0, $0] }), reduce: nil,
                                       name: "float CG")
            if reliable {
                cg.exactApply = { v, out in
                    exactProducts += 1
                    try a.withView { try MatrixProduct.gemm($0, v, into: out) }
                }
            }
            var x = try Matrix(rows: 40, cols: 2)
            let outcome = try b.withView { bv in
                try x.withMutableView { try cg.solve(bv, into: $0, settings: try .init(tolerance: 1e-12, maxIterations: 400)) }
            }
            return (x, outcome)
        }
        let (plain, _) = try run(reliable: false)
        XCTAssertGreaterThan(maxAbsDifference(plain, reference) / scale, 1e-9, "float products alone are inexact")
        let (x, outcome) = try run(reliable: true)
        XCTAssertTrue(outcome.converged)
        XCTAssertFalse(outcome.stalled)
        XCTAssertLessThanOrEqual(outcome.residuals.last ?? 1, 1e-12)
        XCTAssertEqual(outcome.updates, exactProducts)
        XCTAssertGreaterThanOrEqual(outcome.updates, 2)
        XCTAssertLessThan(maxAbsDifference(x, reference) / scale, 1e-8)
    }

    /// Products too inexact to make progress — those of A + 2 diag(A), whose corrections leave
    /// 2/3 of each true residual — stall the reliable updates; `EmpiricalNTKRidge.refine` then
    /// finishes with exact CG on the correction and reaches the exact solution, counting both
    /// solves' iterations.
    func testStalledInexactProductsFallBackToExactOnes() throws {
        let (a, b) = try problem(30, k: 1, seed: 3)
        let reference = try naiveSolve(a, b)
        let scale = reference.elements.map(abs).max() ?? 1
        let exact: (MatrixView, MutableMatrixView) throws -> Void = { v, out in
            try a.withView { try MatrixProduct.gemm($0, v, into: out) }
        }
        var mixed = ConjugateGradient(rows: 30, columns: 1, apply: { v, out, _ in
            try exact(v, out)
            for i in 0..<30 { out[i, 0] += 2 * a[i, i] * v[i, 0] }
        }, preconditioner: nil, reduce: nil, name: "perturbed CG")
        mixed.exactApply = exact
        let fallback = ConjugateGradient(rows: 30, columns: 1, apply: { v, out, _ in try exact(v, out) },
                                         preconditioner: nil, reduce: nil, name: "exact CG")
        var x = try Matrix(rows: 30, cols: 1)
        let settings = try ConjugateGradient.Settings(tolerance: 1e-11, maxIterations: 3000)
        let alone = try b.withView { bv in try x.withMutableView { try mixed.solve(bv, into: $0, settings: settings) } }
        XCTAssertTrue(alone.stalled)
        XCTAssertFalse(alone.converged)
        let outcome = try b.withView { bv in
            try x.withMutableView { try EmpiricalNTKRidge.refine(mixed, fallback: { fallback }, b: bv, into: $0,
                                                                 settings: settings) { _ in } }
        }
        XCTAssertTrue(outcome.converged)
        XCTAssertEqual(outcome.residuals.count, outcome.iterations)
        XCTAssertLessThan(maxAbsDifference(x, reference) / scale, 1e-7)
    }

    /// The Nyström preconditioner keeps U = K_nm L⁻ᵀ in single precision, built and read back in
    /// blocks of rows (here 5 and 4 rows: partial last blocks): U Uᵀ is K_nm K_mm⁻¹ K_mn to
    /// single precision (against Gaussian elimination), and `apply` inverts M = U Uᵀ + z′I of
    /// the stored U exactly (M · apply(r) = r to 1e-12 of each entry's terms), for z > 0 and for
    /// z = 0 (z′ = 10⁻⁶ × the mean diagonal of K_mm).
    func testNystromPreconditionerInvertsItsSinglePrecisionFactor() throws {
        let n = 37, centers = [3, 8, 15, 20, 29, 33], m = centers.count
        let a = try randomSPD(n, p: n, shift: 0.1, seed: 4)
        var knm = try Matrix(rows: n, cols: m), kmm = try Matrix(rows: m, cols: m)
        for i in 0..<n { for (c, j) in centers.enumerated() { knm[i, c] = a[i, j] } }
        for (r, i) in centers.enumerated() { for (c, j) in centers.enumerated() { kmm[r, c] = a[i, j] } }
        var kmn = try Matrix(rows: m, cols: n)
        for i in 0..<n { for c in 0..<m { kmn[c, i] = knm[i, c] } }
        let solved = try naiveSolve(kmm, kmn)  // K_mm⁻¹ K_mn
        var rng = TestRandom(seed: 12)
        let r = try rng.matrix(n, 2)
        for z in [0.05, 0.0] {
            var rowsSeen: [Range<Int>] = []
            let p = try NystromPreconditioner(n: n, m: m, ridge: z, partition: nil, blockRows: (5, 4), centerKernel: {
                $0.copy(from: try kmm.withView { $0 })
            }, rows: { rows, out in
                rowsSeen.append(rows)
                for (s, i) in rows.enumerated() { for c in 0..<m { out[s, c] = knm[i, c] } }
            })
            XCTAssertEqual(rowsSeen, stride(from: 0, to: n, by: 5).map { $0..<min(n, $0 + 5) })
            let shift = z > 0 ? z : 1e-6 * (0..<m).map { kmm[$0, $0] }.reduce(0, +) / Double(m)
            XCTAssertEqual(p.shift, shift, accuracy: 1e-15 * shift)
            var u = try Matrix(rows: n, cols: m)
            for i in 0..<n { for c in 0..<m { u[i, c] = Double(p.u.pointer[i * m + c]) } }
            var worst = 0.0, scale = 0.0
            for i in 0..<n {
                for j in 0..<n {
                    var uu = 0.0, nystrom = 0.0
                    for c in 0..<m { uu += u[i, c] * u[j, c]; nystrom += knm[i, c] * solved[c, j] }
                    worst = max(worst, abs(uu - nystrom))
                    scale = max(scale, abs(nystrom))
                }
            }
            XCTAssertLessThan(worst / scale, 1e-6, "U Uᵀ against K_nm K_mm⁻¹ K_mn")
            XCTAssertGreaterThan(worst / scale, 1e-12, "U is rounded to single precision")
            var x = try Matrix(rows: n, cols: 2)
            try r.withView { rv in try x.withMutableView { try p.apply(rv, into: $0) } }
            // Each entry of M x against the sum of its terms' magnitudes (backward error: at z = 0,
            // M's condition number is about 10⁶ and x's forward error grows with it).
            var residual = 0.0
            for i in 0..<n {
                for c in 0..<2 {
                    var mx = shift * x[i, c], magnitude = abs(mx)
                    for j in 0..<n {
                        for q in 0..<m { mx += u[i, q] * u[j, q] * x[j, c]; magnitude += abs(u[i, q] * u[j, q] * x[j, c]) }
                    }
                    residual = max(residual, abs(mx - r[i, c]) / magnitude)
                }
            }
            XCTAssertLessThan(residual, 1e-12, "M · apply(r) = r, z = \(z)")
        }
    }

    /// Q orthonormal and Qᵀ A Q tridiagonal with the recurrence's α and β; at j = n the space is
    /// invariant.
    func testLanczosBuildsAnOrthonormalKrylovBasis() throws {
        let n = 25
        let a = try randomSPD(n, p: n, shift: 0.1, seed: 4)
        var rng = TestRandom(seed: 9)
        let start = (0..<n).map { _ in rng.next() }
        let basis = UnsafeMutablePointer<Double>.allocate(capacity: (n + 1) * n)
        defer { basis.deallocate() }
        let lanczos = try Lanczos(order: n) { q, w in
            for i in 0..<n { w[i] = (0..<n).reduce(0.0) { $0 + a[i, $1] * q[$1] } }
        }
        var checks = 0
        let r = try start.withUnsafeBufferPointer { s in
            try lanczos.run(start: s.baseAddress!, basis: basis, maxSteps: n, checkEvery: 5,
                            check: { _ in checks += 1; return false }, afterStep: { _ in })
        }
        XCTAssertTrue(r.invariant)
        XCTAssertEqual(r.steps, n)
        XCTAssertEqual(checks, 5, "every 5 steps, the last one included")
        for i in 0..<n {
            for j in 0..<n {
                let qtq = (0..<n).reduce(0.0) { $0 + basis[i * n + $1] * basis[j * n + $1] }
                XCTAssertEqual(qtq, i == j ? 1 : 0, accuracy: 1e-12)
                var qtaq = 0.0
                for p in 0..<n { for q in 0..<n { qtaq += basis[i * n + p] * a[p, q] * basis[j * n + q] } }
                let expected = i == j ? r.alphas[i] : abs(i - j) == 1 ? r.betas[min(i, j)] : 0
                XCTAssertEqual(qtaq, expected, accuracy: 1e-10)
            }
        }
        let norm = start.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for i in 0..<n { XCTAssertEqual(basis[i], start[i] / norm, accuracy: 1e-15) }
        // A shifted rank-5 matrix has 6 distinct eigenvalues: the space is invariant after ~6 steps.
        let low = try randomSPD(n, p: 5, shift: 0.1, seed: 6)
        let short = try Lanczos(order: n) { q, w in
            for i in 0..<n { w[i] = (0..<n).reduce(0.0) { $0 + low[i, $1] * q[$1] } }
        }
        let early = try start.withUnsafeBufferPointer { s in
            try short.run(start: s.baseAddress!, basis: basis, maxSteps: n, checkEvery: 5,
                          check: { _ in false }, afterStep: { _ in })
        }
        XCTAssertTrue(early.invariant)
        XCTAssertLessThanOrEqual(early.steps, 8)
    }
}
