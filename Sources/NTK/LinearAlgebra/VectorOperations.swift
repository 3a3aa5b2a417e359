import CBLAS

/// Level-1 and level-2 BLAS on contiguous vectors (`count` doubles, unit stride) and row-major
/// views: dot products, norms, scaling, `y ← a x + y` and matrix–vector products.
///
/// Internal: callers pass sizes of buffers they allocated; every size is checked against BLAS's
/// 32-bit integers and reported as `tooLarge`, never trapped.
enum VectorOperations {
    /// `x · y`.
    static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, count: Int) throws -> Double {
        cblas_ddot(try Sizes.blasInt(count, "vector length"), x, 1, y, 1)
    }

    /// `‖x‖₂`.
    static func norm(_ x: UnsafePointer<Double>, count: Int) throws -> Double {
        cblas_dnrm2(try Sizes.blasInt(count, "vector length"), x, 1)
    }

    /// `x ← a x`.
    static func scale(_ a: Double, _ x: UnsafeMutablePointer<Double>, count: Int) throws {
        cblas_dscal(try Sizes.blasInt(count, "vector length"), a, x, 1)
    }

    /// `y ← a x + y`.
    static func axpy(_ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) throws {
        cblas_daxpy(try Sizes.blasInt(count, "vector length"), a, x, 1, y, 1)
    }

    /// `y ← α op(a) x + β y` (DGEMV) for a row-major view `a`; x and y contiguous, of the lengths
    /// op(a) needs.
    static func gemv(_ a: MatrixView, transpose: Bool = false, _ x: UnsafePointer<Double>, alpha: Double = 1,
                     beta: Double = 0, into y: UnsafeMutablePointer<Double>) throws {
        try MatrixProduct.requireBLASSizes([(a.rows, "rows"), (a.cols, "columns"), (a.ld, "leading dimension")],
                                           "matrix-vector product")
        if a.rows == 0 || a.cols == 0 {
            let length = transpose ? a.cols : a.rows
            for i in 0..<length { y[i] = beta == 0 ? 0 : beta * y[i] }
            return
        }
        cblas_dgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(a.rows), Int32(a.cols), alpha, a.base,
                    Int32(a.ld), x, 1, beta, y, 1)
    }
}
