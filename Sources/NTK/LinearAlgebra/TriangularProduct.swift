import CBLAS

/// Products with and solves against a lower-triangular factor L (row-major, the upper triangle
/// not read): `B ← op(L)⁻¹ B` or `B ← B op(L)⁻¹` (DTRSM) and `B ← op(L) B` (DTRMM), op(L) = L or Lᵀ.
///
/// Internal, like `MatrixProduct`: shapes are validated by the caller; a disagreement is reported
/// as an internal error, never a trap.
enum TriangularProduct {
    /// Which side of B the factor stands on.
    enum Side { case left, right }

    /// `b ← op(l)⁻¹ b` (side `.left`) or `b ← b op(l)⁻¹` (`.right`), in place.
    static func solve(_ l: MatrixView, transpose: Bool = false, side: Side = .left, _ b: MutableMatrixView) throws {
        try check(l, side: side, b, "triangular solve")
        if b.rows == 0 || b.cols == 0 { return }
        cblas_dtrsm(CblasRowMajor, side == .left ? CblasLeft : CblasRight, CblasLower,
                    transpose ? CblasTrans : CblasNoTrans,
                    CblasNonUnit, Int32(b.rows), Int32(b.cols), 1, l.base, Int32(l.ld), b.base, Int32(b.ld))
    }

    /// `b ← op(l) b` (side `.left`) or `b ← b op(l)` (`.right`), in place.
    static func multiply(_ l: MatrixView, transpose: Bool = false, side: Side = .left,
                         _ b: MutableMatrixView) throws {
        try check(l, side: side, b, "triangular product")
        if b.rows == 0 || b.cols == 0 { return }
        cblas_dtrmm(CblasRowMajor, side == .left ? CblasLeft : CblasRight, CblasLower,
                    transpose ? CblasTrans : CblasNoTrans, CblasNonUnit,
                    Int32(b.rows), Int32(b.cols), 1, l.base, Int32(l.ld), b.base, Int32(b.ld))
    }

    private static func check(_ l: MatrixView, side: Side, _ b: MutableMatrixView, _ what: String) throws {
        let order = side == .left ? b.rows : b.cols
        guard l.rows == l.cols, l.rows == order else {
            throw NTKError(.internalError, "\(what) with a \(l.rows)×\(l.cols) factor and a \(b.rows)×\(b.cols) matrix")
        }
        try MatrixProduct.requireBLASSizes([(b.rows, "rows"), (b.cols, "columns"), (l.ld, "leading dimension"),
                                            (b.ld, "leading dimension")], what)
    }
}
