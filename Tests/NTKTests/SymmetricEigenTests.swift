import NTK
import XCTest

final class SymmetricEigenTests: XCTestCase {
    func testReconstructsMatrix() throws {
        let k = try randomSPD(50, p: 10, shift: 0, seed: 5)  // rank 10: many zero eigenvalues
        let e = try SymmetricEigendecomposition(k)
        XCTAssertEqual(e.values, e.values.sorted())
        // V diag(w) Vᵀ = K and Vᵀ V = I.
        var vw = e.vectors
        for i in 0..<50 { for j in 0..<50 { vw[i, j] *= e.values[j] } }
        XCTAssertLessThan(maxAbsDifference(try naiveABt(vw, e.vectors), k), 1e-13)
        let vtv = try naiveAB(e.vectors.transposed, e.vectors)
        XCTAssertLessThan(maxAbsDifference(vtv, try Matrix.identity(50)), 1e-13)
        let valuesOnly = try symmetricEigenvalues(k)
        XCTAssertLessThan(zip(valuesOnly, e.values).map { abs($0 - $1) }.max() ?? 0, 1e-13)
    }

    func testClosedForm() throws {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with vectors (1, -1)/√2 and (1, 1)/√2.
        let e = try SymmetricEigendecomposition(try Matrix([[2, 1], [1, 2]]))
        XCTAssertEqual(e.values[0], 1, accuracy: 1e-15)
        XCTAssertEqual(e.values[1], 3, accuracy: 1e-15)
        XCTAssertEqual(abs(e.vectors[0, 1]), 0.5.squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(e.vectors[0, 1] * e.vectors[1, 1], 0.5, accuracy: 1e-15)
        XCTAssertEqual(e.vectors[0, 0] * e.vectors[1, 0], -0.5, accuracy: 1e-15)
    }

    func testEdgeCasesAndErrors() throws {
        XCTAssertEqual(try symmetricEigenvalues(try Matrix(rows: 0, cols: 0)), [])
        XCTAssertEqual(try symmetricEigenvalues(try Matrix([[-3]])), [-3])
        assertThrows(.dimensionMismatch, try symmetricEigenvalues(try Matrix(rows: 2, cols: 3)))
        assertThrows(.nonFinite, try symmetricEigenvalues(try Matrix([[1, .nan], [.nan, 1]])))
        assertThrows(.invalidArgument, try symmetricEigenvalues(try Matrix([[1, 2], [3, 1]])))
        assertThrows(.cancelled, try SymmetricEigendecomposition(try Matrix([[1]]), progress: ProgressHandler { _ in .cancel }))
    }
}
