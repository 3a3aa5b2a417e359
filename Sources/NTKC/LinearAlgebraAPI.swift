// The exported linear-algebra building blocks: Gram matrices, Cholesky solves (one-shot and a
// reusable factor handle), the symmetric eigendecomposition, and BLAS information.
// Validation and marshalling only; the numerics are in the NTK core.
import CBLAS
import CNTK
import NTK

@_cdecl("ntk_gram")
public func ntk_gram(_ n1: Int64, _ n2: Int64, _ d: Int64, _ alpha: Double,
                     _ a: UnsafePointer<Double>?, _ lda: Int64,
                     _ b: UnsafePointer<Double>?, _ ldb: Int64,
                     _ g: UnsafeMutablePointer<Double>?, _ ldg: Int64,
                     _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_gram") {
        let (n1, n2, d) = (try size(n1, "n1"), try size(n2, "n2"), try size(d, "d"))
        if b == nil && n2 != n1 {
            throw NTKError(.dimensionMismatch,
                           "B is NULL (the symmetric Gram matrix A A^T) so n2 must equal n1 = \(n1), got \(n2)")
        }
        let av = try input(a, n1, d, ld: lda, "A")
        let bv = try b.map { try input($0, n2, d, ld: ldb, "B") }
        let gv = try output(g, n1, n2, ld: ldg, "G")
        try Gram.compute(av, bv, alpha: alpha, into: gv, progress: progress(callback, user))
    }
}

@_cdecl("ntk_cholesky_solve")
public func ntk_cholesky_solve(_ n: Int64, _ nrhs: Int64,
                               _ k: UnsafePointer<Double>?, _ ldk: Int64, _ ridge: Double,
                               _ rhs: UnsafePointer<Double>?, _ ldrhs: Int64,
                               _ sol: UnsafeMutablePointer<Double>?, _ ldsol: Int64,
                               _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_cholesky_solve") {
        let (n, m) = (try size(n, "n"), try size(nrhs, "nrhs"))
        let kv = try input(k, n, n, ld: ldk, "K")
        let yv = try input(rhs, n, m, ld: ldrhs, "rhs")
        let xv = try output(sol, n, m, ld: ldsol, "sol")
        let factor = try CholeskyFactorization(kv, ridge: ridge, progress: progress(callback, user))
        try factor.solve(yv, into: xv)
    }
}

@_cdecl("ntk_cholesky_factor_create")
public func ntk_cholesky_factor_create(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64, _ ridge: Double,
                                       _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?,
                                       _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_cholesky_factor_create") {
        let out = try required(out, "out")
        let n = try size(n, "n")
        let kv = try input(k, n, n, ld: ldk, "K")
        let factor = try CholeskyFactorization(kv, ridge: ridge, progress: progress(callback, user))
        out.pointee = HandleRegistry.shared.register(factor)
    }
}

@_cdecl("ntk_cholesky_factor_solve")
public func ntk_cholesky_factor_solve(_ handle: OpaquePointer?, _ nrhs: Int64,
                                      _ rhs: UnsafePointer<Double>?, _ ldrhs: Int64,
                                      _ sol: UnsafeMutablePointer<Double>?, _ ldsol: Int64) -> Int32 {
    boundary("ntk_cholesky_factor_solve") {
        let factor = try HandleRegistry.shared.lookup(handle, as: CholeskyFactorization.self, "factor")
        let m = try size(nrhs, "nrhs")
        let yv = try input(rhs, factor.n, m, ld: ldrhs, "rhs")
        let xv = try output(sol, factor.n, m, ld: ldsol, "sol")
        try factor.solve(yv, into: xv)
    }
}

@_cdecl("ntk_cholesky_factor_order")
public func ntk_cholesky_factor_order(_ handle: OpaquePointer?, _ n: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_cholesky_factor_order") {
        let n = try required(n, "n")
        n.pointee = Int64(try HandleRegistry.shared.lookup(handle, as: CholeskyFactorization.self, "factor").n)
    }
}

@_cdecl("ntk_cholesky_factor_log_determinant")
public func ntk_cholesky_factor_log_determinant(_ handle: OpaquePointer?,
                                                _ value: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_cholesky_factor_log_determinant") {
        let value = try required(value, "value")
        value.pointee = try HandleRegistry.shared.lookup(handle, as: CholeskyFactorization.self,
                                                         "factor").logDeterminant
    }
}

@_cdecl("ntk_cholesky_factor_free")
public func ntk_cholesky_factor_free(_ handle: OpaquePointer?) {
    HandleRegistry.shared.release(handle)
}

@_cdecl("ntk_eigh")
public func ntk_eigh(_ n: Int64, _ k: UnsafePointer<Double>?, _ ldk: Int64,
                     _ w: UnsafeMutablePointer<Double>?,
                     _ v: UnsafeMutablePointer<Double>?, _ ldv: Int64,
                     _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_eigh") {
        let n = try size(n, "n")
        let kv = try input(k, n, n, ld: ldk, "K")
        let values = try outputVector(w, n, "w")
        let vectors = try v.map { try output($0, n, n, ld: ldv, "V") }
        try SymmetricEigen.compute(kv, values: values, vectors: vectors, progress: progress(callback, user))
    }
}

@_cdecl("ntk_blas_info")
public func ntk_blas_info(_ coreName: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                          _ config: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                          _ threads: UnsafeMutablePointer<Int32>?,
                          _ processors: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary("ntk_blas_info") {
        coreName?.pointee = openblas_get_corename().map { UnsafePointer($0) }
        config?.pointee = openblas_get_config().map { UnsafePointer($0) }
        let info = BLAS.info
        threads?.pointee = Int32(clamping: info.threadCount)
        processors?.pointee = Int32(clamping: info.processorCount)
    }
}

@_cdecl("ntk_blas_library")
public func ntk_blas_library(_ blasPath: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                             _ lapackePath: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    boundary("ntk_blas_library") {
        let paths = BLAS.libraryPathPointers
        blasPath?.pointee = paths.blas
        lapackePath?.pointee = paths.lapacke
    }
}

@_cdecl("ntk_blas_set_num_threads")
public func ntk_blas_set_num_threads(_ count: Int32) -> Int32 {
    boundary("ntk_blas_set_num_threads") { try BLAS.setThreadCount(Int(count)) }
}
