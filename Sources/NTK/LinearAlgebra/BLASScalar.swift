import CBLAS

/// The floating-point types the BLAS-3 products run in: `Double` (everywhere) and `Float` (the
/// single-precision empirical NTK). Each forwards to its own routines (DGEMM/SGEMM,
/// DSYRK/SSYRK), so code written once over `BLASScalar` runs in either precision. (`Codable`
/// only states what both already are: SIMD vectors of them are codable, and the compiler asks.)
package protocol BLASScalar: BinaryFloatingPoint, SIMDScalar, Codable {
    /// "double" or "single", for messages.
    static var precisionName: String { get }
    /// `cblas_?gemm` in row-major order.
    static func gemm(_ transposeA: CBLAS_TRANSPOSE, _ transposeB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32,
                     _ k: Int32, _ alpha: Self, _ a: UnsafePointer<Self>, _ lda: Int32, _ b: UnsafePointer<Self>,
                     _ ldb: Int32, _ beta: Self, _ c: UnsafeMutablePointer<Self>, _ ldc: Int32)
    /// `cblas_?syrk` of the lower triangle in row-major order.
    static func syrkLower(_ transpose: CBLAS_TRANSPOSE, _ n: Int32, _ k: Int32, _ alpha: Self,
                          _ a: UnsafePointer<Self>, _ lda: Int32, _ beta: Self, _ c: UnsafeMutablePointer<Self>,
                          _ ldc: Int32)
}

extension Double: BLASScalar {
    package static var precisionName: String { "double" }

    package static func gemm(_ transposeA: CBLAS_TRANSPOSE, _ transposeB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32,
                     _ k: Int32, _ alpha: Double, _ a: UnsafePointer<Double>, _ lda: Int32,
                     _ b: UnsafePointer<Double>, _ ldb: Int32, _ beta: Double, _ c: UnsafeMutablePointer<Double>,
                     _ ldc: Int32) {
        cblas_dgemm(CblasRowMajor, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    package static func syrkLower(_ transpose: CBLAS_TRANSPOSE, _ n: Int32, _ k: Int32, _ alpha: Double,
                          _ a: UnsafePointer<Double>, _ lda: Int32, _ beta: Double,
                          _ c: UnsafeMutablePointer<Double>, _ ldc: Int32) {
        cblas_dsyrk(CblasRowMajor, CblasLower, transpose, n, k, alpha, a, lda, beta, c, ldc)
    }
}

extension Float: BLASScalar {
    package static var precisionName: String { "single" }

    package static func gemm(_ transposeA: CBLAS_TRANSPOSE, _ transposeB: CBLAS_TRANSPOSE, _ m: Int32, _ n: Int32,
                     _ k: Int32, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int32, _ b: UnsafePointer<Float>,
                     _ ldb: Int32, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int32) {
        cblas_sgemm(CblasRowMajor, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    package static func syrkLower(_ transpose: CBLAS_TRANSPOSE, _ n: Int32, _ k: Int32, _ alpha: Float,
                          _ a: UnsafePointer<Float>, _ lda: Int32, _ beta: Float, _ c: UnsafeMutablePointer<Float>,
                          _ ldc: Int32) {
        cblas_ssyrk(CblasRowMajor, CblasLower, transpose, n, k, alpha, a, lda, beta, c, ldc)
    }
}
