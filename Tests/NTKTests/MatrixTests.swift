import NTK
import XCTest

final class MatrixTests: XCTestCase {
    func testLiteralRowsAndArithmetic() throws {
        let a: Matrix = [[1, 2, 3], [4, 5, 6]]
        XCTAssertEqual(a, try Matrix(rows: 2, cols: 3, elements: [1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(a.columns, 3)
        XCTAssertEqual(a.row(1), [4, 5, 6])
        let b: Matrix = [[0.5, 0, -1], [1, 1, 1]]
        XCTAssertEqual(try a + b, try Matrix([[1.5, 2, 2], [5, 6, 7]]))
        XCTAssertEqual(try a - b, try Matrix([[0.5, 2, 4], [3, 4, 5]]))
        XCTAssertEqual(2 * a, a * 2)
        XCTAssertEqual((2 * a)[1, 2], 12)
        assertThrows(.dimensionMismatch, try a + a.transposed)
        let empty: Matrix = []
        XCTAssertEqual(empty.rows, 0)
        XCTAssertEqual(empty.columns, 0)
    }

    func testEntriesChangeThroughTheSubscriptOnly() throws {
        var m = try Matrix(rows: 2, cols: 2)
        m[0, 1] = 3
        XCTAssertEqual(m.elements, [0, 3, 0, 0])
    }

    func testProgressHandlerCancelsWithItsAnswer() throws {
        var seen: [Double] = []
        let x: Matrix = [[1, 0], [0, 1], [1, 1]]
        let a = try MLPArchitecture(inputDimension: 2, hiddenWidths: [1], activation: .erf)
        _ = try a.infiniteWidthKernels(x, progress: ProgressHandler { seen.append($0); return .proceed })
        XCTAssertEqual(seen.first, 0)
        XCTAssertEqual(seen.last, 1)
        assertThrows(.cancelled, try a.infiniteWidthKernels(x, progress: ProgressHandler { _ in .cancel }))
    }
}
