internal import CKernels

/// The precisions an infinite-width kernel tile runs in: `Double` (everywhere) and `Float` (the
/// single-precision kernels). Each supplies the vectorised closed-form nonlinearity rows of
/// `closed_form_rows.c` (four doubles or eight floats at a time with AVX2 + FMA; formulas in
/// `ckernels.h`), so the tile code is written once over `InfiniteWidthScalar`. A row reads its
/// row variances at `q1[j · step]`: step 0, one for the whole row (a tile row); step 1, one per
/// entry (the diagonal positions of a pair of inputs). Every q must be > 0.
package protocol InfiniteWidthScalar: BLASScalar {
    /// The relu-family row: `σ ← linear·c + quadratic·T(q1, q2, c)`, `θ ← θ·(linear + quadratic·T′)`.
    static func reluRow(_ q1: UnsafePointer<Self>, step: Int, _ q2: UnsafePointer<Self>,
                        _ sigma: UnsafeMutablePointer<Self>, _ theta: UnsafeMutablePointer<Self>, _ count: Int,
                        linear: Self, quadratic: Self)
    /// The erf row.
    static func erfRow(_ q1: UnsafePointer<Self>, step: Int, _ q2: UnsafePointer<Self>,
                       _ sigma: UnsafeMutablePointer<Self>, _ theta: UnsafeMutablePointer<Self>, _ count: Int)
    /// The gelu row.
    static func geluRow(_ q1: UnsafePointer<Self>, step: Int, _ q2: UnsafePointer<Self>,
                        _ sigma: UnsafeMutablePointer<Self>, _ theta: UnsafeMutablePointer<Self>, _ count: Int)
}

extension Double: InfiniteWidthScalar {
    package static func reluRow(_ q1: UnsafePointer<Double>, step: Int, _ q2: UnsafePointer<Double>,
                                _ sigma: UnsafeMutablePointer<Double>, _ theta: UnsafeMutablePointer<Double>,
                                _ count: Int, linear: Double, quadratic: Double) {
        ckernels_relu_row(q1, step, q2, sigma, theta, count, linear, quadratic)
    }

    package static func erfRow(_ q1: UnsafePointer<Double>, step: Int, _ q2: UnsafePointer<Double>,
                               _ sigma: UnsafeMutablePointer<Double>, _ theta: UnsafeMutablePointer<Double>,
                               _ count: Int) {
        ckernels_erf_row(q1, step, q2, sigma, theta, count)
    }

    package static func geluRow(_ q1: UnsafePointer<Double>, step: Int, _ q2: UnsafePointer<Double>,
                                _ sigma: UnsafeMutablePointer<Double>, _ theta: UnsafeMutablePointer<Double>,
                                _ count: Int) {
        ckernels_gelu_row(q1, step, q2, sigma, theta, count)
    }
}

extension Float: InfiniteWidthScalar {
    package static func reluRow(_ q1: UnsafePointer<Float>, step: Int, _ q2: UnsafePointer<Float>,
                                _ sigma: UnsafeMutablePointer<Float>, _ theta: UnsafeMutablePointer<Float>,
                                _ count: Int, linear: Float, quadratic: Float) {
        ckernels_relu_row_f32(q1, step, q2, sigma, theta, count, linear, quadratic)
    }

    package static func erfRow(_ q1: UnsafePointer<Float>, step: Int, _ q2: UnsafePointer<Float>,
                               _ sigma: UnsafeMutablePointer<Float>, _ theta: UnsafeMutablePointer<Float>,
                               _ count: Int) {
        ckernels_erf_row_f32(q1, step, q2, sigma, theta, count)
    }

    package static func geluRow(_ q1: UnsafePointer<Float>, step: Int, _ q2: UnsafePointer<Float>,
                                _ sigma: UnsafeMutablePointer<Float>, _ theta: UnsafeMutablePointer<Float>,
                                _ count: Int) {
        ckernels_gelu_row_f32(q1, step, q2, sigma, theta, count)
    }
}
