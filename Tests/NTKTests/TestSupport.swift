import NTK
import XCTest

/// A reproducible generator for test data (SplitMix64), uniform in [-1, 1).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
    mutating func matrix(_ rows: Int, _ cols: Int) throws -> Matrix {
        try Matrix(rows: rows, cols: cols, elements: (0..<(rows * cols)).map { _ in next() })
    }
}

/// Naive triple-loop product `a · bᵀ`: the independent reference for BLAS results.
func naiveABt(_ a: Matrix, _ b: Matrix) throws -> Matrix {
    var c = try Matrix(rows: a.rows, cols: b.rows)
    for i in 0..<a.rows {
        for j in 0..<b.rows {
            var s = 0.0
            for l in 0..<a.cols { s += a[i, l] * b[j, l] }
            c[i, j] = s
        }
    }
    return c
}

/// Naive product `a · b`.
func naiveAB(_ a: Matrix, _ b: Matrix) throws -> Matrix { try naiveABt(a, b.transposed) }

/// A symmetric positive definite matrix `F Fᵀ / p + shift · I` with F n × p random.
func randomSPD(_ n: Int, p: Int, shift: Double, seed: UInt64) throws -> Matrix {
    var rng = TestRandom(seed: seed)
    let f = try rng.matrix(n, p)
    var k = try naiveABt(f, f)
    for i in 0..<n { for j in 0..<n { k[i, j] /= Double(p) } ; k[i, i] += shift }
    return k
}

func maxAbsDifference(_ a: Matrix, _ b: Matrix) -> Double {
    precondition(a.rows == b.rows && a.cols == b.cols, "shapes differ")
    return zip(a.elements, b.elements).map { abs($0 - $1) }.max() ?? 0
}

/// Asserts that `body` throws an `NTKError` of `kind`.
func assertThrows<T>(_ kind: NTKError.Kind, _ body: @autoclosure () throws -> T,
                     file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected \(kind), nothing was thrown", file: file, line: line)
    } catch let error as NTKError {
        XCTAssertEqual(error.kind, kind, "message: \(error.message)", file: file, line: line)
    } catch {
        XCTFail("expected NTKError \(kind), got \(error)", file: file, line: line)
    }
}
