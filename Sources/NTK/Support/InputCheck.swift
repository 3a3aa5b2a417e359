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
    static func finite<S: BLASScalar>(_ m: RowMajorView<S>, _ name: @autoclosure () -> String) throws {
        guard m.cols > 0 else { return }
        for i in 0..<m.rows where !allFinite(m.row(i), count: m.cols) {
            let row = m.row(i)
            let j = (0..<m.cols).first { !row[$0].isFinite } ?? 0
            throw NTKError.nonFinite("\(name()) (row \(i), column \(j)) is \(row[j]), must be finite")
        }
    }

    /// Whether `count` entries at `p` are all finite. Sums `x · 0`, which is 0 for finite x and
    /// NaN otherwise, in eight independent lanes so that the loop runs at memory speed.
    @inline(__always)
    static func allFinite<S: BLASScalar>(_ p: UnsafePointer<S>, count: Int) -> Bool {
        var lanes = SIMD8<S>()
        let raw = UnsafeRawPointer(p)
        var j = 0
        while j + 8 <= count {
            lanes += raw.loadUnaligned(fromByteOffset: j * MemoryLayout<S>.stride, as: SIMD8<S>.self) * 0
            j += 8
        }
        var tail: S = 0
        while j < count {
            tail += p[j] * 0
            j += 1
        }
        return (lanes.sum() + tail).isFinite
    }

    /// Throws `numericalFailure` if any of `count` computed entries at `p` is NaN or ±Inf: a
    /// result that overflowed its precision's range (inputs too large) is reported, never returned.
    static func finiteResult<S: BLASScalar>(_ p: UnsafePointer<S>, count: Int,
                                            _ name: @autoclosure () -> String) throws {
        guard !allFinite(p, count: count) else { return }
        let i = (0..<count).first { !p[$0].isFinite } ?? 0
        throw NTKError.numericalFailure(
            "\(name()) overflowed: entry \(i) is \(p[i]); the inputs are too large for \(S.precisionName) precision "
                + "(rescale them\(S.self == Float.self ? ", or use double precision" : ""))")
    }

    /// `finiteResult` for a row-major view.
    static func finiteResult<S: BLASScalar>(_ m: MutableRowMajorView<S>, _ name: @autoclosure () -> String) throws {
        for i in 0..<m.rows { try finiteResult(m.base + i * m.ld, count: m.cols, "\(name()) (row \(i))") }
    }

    /// Throws `invalidArgument` unless `m` is square.
    static func square(_ m: MatrixView, _ name: @autoclosure () -> String) throws {
        guard m.rows == m.cols else {
            throw NTKError.dimensionMismatch("\(name()) must be square, got \(m.rows) × \(m.cols)")
        }
    }
}
