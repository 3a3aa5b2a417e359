/// Validation of numerical input, shared by every routine of the core.
enum InputCheck {
    /// Throws `nonFinite` naming `name` if `x` is NaN or ±Inf.
    static func finite(_ x: Double, _ name: @autoclosure () -> String) throws {
        guard x.isFinite else { throw NTKError.nonFinite("\(name()) is \(x), must be finite") }
    }

    /// Throws `nonFinite` naming the first NaN/Inf entry of `m`.
    ///
    /// The scan accumulates `x · 0` per row, which is 0 for finite x and NaN otherwise; the loop
    /// vectorises, so checking costs one streaming read of the matrix.
    static func finite(_ m: MatrixView, _ name: @autoclosure () -> String) throws {
        for i in 0..<m.rows {
            let row = m.row(i)
            var acc = 0.0
            for j in 0..<m.cols { acc += row[j] * 0 }
            if !acc.isFinite {
                let j = (0..<m.cols).first { !row[$0].isFinite } ?? 0
                throw NTKError.nonFinite("\(name()) (row \(i), column \(j)) is \(row[j]), must be finite")
            }
        }
    }

    /// Throws `invalidArgument` unless `m` is square.
    static func square(_ m: MatrixView, _ name: @autoclosure () -> String) throws {
        guard m.rows == m.cols else {
            throw NTKError.dimensionMismatch("\(name()) must be square, got \(m.rows) × \(m.cols)")
        }
    }
}
