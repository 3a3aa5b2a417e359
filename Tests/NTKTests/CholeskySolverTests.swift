@testable import NTK
import XCTest

final class CholeskySolverTests: XCTestCase {
    /// Residual ‖(K + zI)X − Y‖∞ relative to ‖Y‖∞: independent of how X was computed.
    func relativeResidual(_ k: Matrix, ridge: Double, _ x: Matrix, _ y: Matrix) throws -> Double {
        var r = try naiveAB(k, x)
        for i in 0..<r.rows { for j in 0..<r.cols { r[i, j] += ridge * x[i, j] - y[i, j] } }
        return (r.elements.map(abs).max() ?? 0) / (y.elements.map(abs).max() ?? 1)
    }

    func testSolveSmallAndBlocked() throws {
        var rng = TestRandom(seed: 4)
        // 1700 > blockedThreshold: the blocked factorization runs.
        for (n, ridge) in [(5, 0.0), (60, 0.5), (1700, 1e-3)] {
            let k = try randomSPD(n, p: 20, shift: 0.05, seed: UInt64(n))
            let y = try rng.matrix(n, 3)
            let x = try choleskySolve(k, y, ridge: ridge)
            XCTAssertLessThan(try relativeResidual(k, ridge: ridge, x, y), 1e-11, "n = \(n)")
        }
    }

    func testFactorReuseAndLogDeterminant() throws {
        let k = try Matrix([[4, 2], [2, 3]])
        let f = try CholeskyFactorization(k, ridge: 1)
        // det([[5, 2], [2, 4]]) = 16.
        XCTAssertEqual(f.logDeterminant, log(16.0), accuracy: 1e-14)
        let x = try f.solve(try Matrix([[1], [0]]))
        // Inverse of [[5,2],[2,4]] is [[4,-2],[-2,5]]/16.
        XCTAssertEqual(x[0, 0], 0.25, accuracy: 1e-15)
        XCTAssertEqual(x[1, 0], -0.125, accuracy: 1e-15)
    }

    func testSymmetrizesNearlySymmetricInput() throws {
        var k = try Matrix([[2, 1], [1, 2]])
        k[0, 1] += 1e-9  // within the 1e-6 tolerance: used as (K + Kᵀ)/2
        let x = try choleskySolve(k, try Matrix([[1], [1]]))
        // (K + Kᵀ)/2 = [[2, 1 + 5e-10], [1 + 5e-10, 2]]; solution 1/(3 + 5e-10) each.
        XCTAssertEqual(x[0, 0], 1 / (3 + 5e-10), accuracy: 1e-15)
    }

    /// The pivoted factor's quadratic forms against w A wᵀ computed directly, for a full-rank
    /// matrix (the triangular product alone) and rank-deficient ones (rank 3 of 7, and 0: the
    /// triangular product plus the trailing rows' GEMM), several rows, to 1e-12 relative.
    func testPivotedCholeskyQuadraticForms() throws {
        var rng = TestRandom(seed: 41)
        for (n, features) in [(5, 8), (7, 3), (4, 0)] {
            let f = try rng.matrix(n, max(features, 1))
            let a = features == 0 ? try Matrix(rows: n, cols: n) : try naiveABt(f, f)
            let w = try rng.matrix(6, n)
            let factor = try a.withView { try PivotedCholesky($0) }
            XCTAssertEqual(factor.rank, min(n, features))
            var got = [Double](repeating: 1, count: 6)
            var permuted = try Matrix(rows: 6, cols: n), product = w
            try w.withView { wv in
                try permuted.withMutableView { pv in
                    try product.withMutableView { qv in
                        try factor.addQuadraticForms(wv, permuted: pv, product: qv, into: &got)
                    }
                }
            }
            for i in 0..<6 {
                var want = 0.0
                for j in 0..<n { for k in 0..<n { want += w[i, j] * a[j, k] * w[i, k] } }
                XCTAssertEqual(got[i] - 1, want, accuracy: 1e-12 * max(want, 1), "n \(n), rank \(features), row \(i)")
            }
        }
        var bad = try Matrix(rows: 3, cols: 3)
        bad[2, 1] = .infinity
        assertThrows(.numericalFailure, try bad.withView { try PivotedCholesky($0) })
    }

    func testErrors() throws {
        let k = try Matrix([[1, 0], [0, 1]]), y = try Matrix([[1], [2]])
        assertThrows(.notPositiveDefinite, try choleskySolve(try Matrix([[1, 2], [2, 1]]), y))
        assertThrows(.invalidArgument, try choleskySolve(try Matrix([[1, 0.5], [0, 1]]), y))
        assertThrows(.invalidArgument, try choleskySolve(k, y, ridge: -1))
        assertThrows(.nonFinite, try choleskySolve(k, y, ridge: .infinity))
        assertThrows(.nonFinite, try choleskySolve(try Matrix([[.nan, 0], [0, 1]]), y))
        assertThrows(.dimensionMismatch, try choleskySolve(try Matrix([[1, 0, 0], [0, 1, 0]]), y))
        assertThrows(.dimensionMismatch, try choleskySolve(k, try Matrix([[1]])))
        do {
            _ = try choleskySolve(try Matrix([[1, 0, 0], [0, 1, 0], [0, 0, -1]]), try Matrix(rows: 3, cols: 1))
            XCTFail("expected an error")
        } catch let e as NTKError {
            XCTAssertTrue(e.message.contains("order 3"), e.message)
        }
    }

    /// The trailing update by row chunks (DGEMM + DSYRK per chunk) gives the factor of one
    /// update per panel, and reports progress after every chunk, non-decreasing.
    func testChunkedTrailingUpdate() throws {
        let n = 1700
        let k = try randomSPD(n, p: 8, shift: 0.1, seed: 21)
        var whole = k.elements, chunked = k.elements
        var fractions: [Double] = []
        try whole.withUnsafeMutableBufferPointer {
            try CholeskyFactorization.factorInPlace($0.baseAddress!, n: n, progress: .none, chunk: Int.max / 2)
        }
        try chunked.withUnsafeMutableBufferPointer {
            try CholeskyFactorization.factorInPlace($0.baseAddress!, n: n, progress: ProgressHandler { f in
                fractions.append(f)
                return .proceed
            }, chunk: 1)  // 64-row chunks
        }
        var worst = 0.0, scale = 0.0
        for i in 0..<n {
            for j in 0...i {
                worst = max(worst, abs(whole[i * n + j] - chunked[i * n + j]))
                scale = max(scale, abs(whole[i * n + j]))
            }
        }
        XCTAssertLessThan(worst / scale, 1e-13)
        // L Lᵀ reproduces K (lower triangle of the chunked factor).
        var residual = 0.0
        for i in stride(from: 0, to: n, by: 97) {
            for j in stride(from: 0, through: i, by: 89) {
                var s = 0.0
                for q in 0...j { s += chunked[i * n + q] * chunked[j * n + q] }
                residual = max(residual, abs(s - k[i, j]))
            }
        }
        XCTAssertLessThan(residual, 1e-12 * (k.elements.map(abs).max() ?? 1))
        // 4 panels, the first three with trailing updates of 1316, 932 and 548 rows in 64-row chunks.
        XCTAssertGreaterThanOrEqual(fractions.count, 21 + 15 + 9)
        XCTAssertEqual(fractions, fractions.sorted())
        XCTAssertLessThanOrEqual(fractions.last ?? 1, 1)
    }

    func testCancelDuringBlockedFactorization() throws {
        let k = try randomSPD(1600, p: 4, shift: 1, seed: 9)
        var reports = 0
        assertThrows(.cancelled, try CholeskyFactorization(k, progress: ProgressHandler { f in reports += 1; return f < 0.1 ? .proceed : .cancel }))
        XCTAssertGreaterThan(reports, 1)
    }
}
