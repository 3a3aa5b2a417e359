import NTK
import XCTest

final class GramTests: XCTestCase {
    func testGeneralMatchesNaiveProduct() throws {
        var rng = TestRandom(seed: 1)
        // 700 rows straddle the 512-row block used when a progress callback is given.
        let a = try rng.matrix(700, 19), b = try rng.matrix(45, 19)
        let want = 0.25 * (try naiveABt(a, b))
        XCTAssertLessThan(maxAbsDifference(try gram(a, b, alpha: 0.25), want), 1e-13)
        XCTAssertLessThan(maxAbsDifference(try gram(a, b, alpha: 0.25, progress: ProgressHandler { _ in .proceed }), want), 1e-13)
    }

    func testSymmetricIsExactlySymmetricAndCorrect() throws {
        var rng = TestRandom(seed: 2)
        let a = try rng.matrix(1100, 7)
        let want = try naiveABt(a, a)
        // One DSYRK without a callback; three row blocks (DGEMM + DSYRK each) with one.
        for g in [try gram(a), try gram(a, progress: ProgressHandler { _ in .proceed })] {
            XCTAssertLessThan(maxAbsDifference(g, want), 1e-12)
            XCTAssertEqual(g, g.transposed)
        }
    }

    func testEdgeCases() throws {
        let empty = try Matrix(rows: 0, cols: 3)
        let a = try Matrix([[1, 2, 3]])
        XCTAssertEqual(try gram(empty).rows, 0)
        XCTAssertEqual(try gram(a, empty).cols, 0)
        let noFeatures = try Matrix(rows: 2, cols: 0)
        XCTAssertEqual(try gram(noFeatures).elements, [0, 0, 0, 0])
        XCTAssertEqual(try gram(a).elements, [14])
    }

    func testErrors() throws {
        let a = try Matrix([[1, 2], [3, 4]]), b = try Matrix([[1, 2, 3]])
        assertThrows(.dimensionMismatch, try gram(a, b))
        assertThrows(.nonFinite, try gram(a, alpha: .nan))
        assertThrows(.nonFinite, try gram(try Matrix([[1, .infinity]])))
        assertThrows(.invalidArgument, try Matrix(rows: -1, cols: 2))
        assertThrows(.tooLarge, try Matrix(rows: Int.max, cols: 2))
        assertThrows(.dimensionMismatch, try Matrix([[1, 2], [3]]))
    }

    func testProgressReportsAndCancels() throws {
        var rng = TestRandom(seed: 3)
        let a = try rng.matrix(1500, 4)
        var fractions: [Double] = []
        _ = try gram(a, progress: ProgressHandler { fractions.append($0); return .proceed })
        XCTAssertEqual(fractions.first, 0)
        XCTAssertEqual(fractions.last, 1)
        XCTAssertEqual(fractions, fractions.sorted())
        XCTAssertGreaterThan(fractions.count, 3)
        var calls = 0
        assertThrows(.cancelled, try gram(a, progress: ProgressHandler { _ in calls += 1; return calls < 2 ? .proceed : .cancel }))
        XCTAssertEqual(calls, 2)
    }

    func testOutputMustNotAliasInput() throws {
        var buffer = [Double](repeating: 1, count: 16)
        try buffer.withUnsafeMutableBufferPointer { p in
            let base = p.baseAddress!
            let a = try MatrixView(UnsafePointer(base), rows: 2, cols: 2)
            let out = try MutableMatrixView(base + 2, rows: 2, cols: 2)
            assertThrows(.invalidArgument, try Gram.compute(a, nil, into: out))
        }
    }
}
