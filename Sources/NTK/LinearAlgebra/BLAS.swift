#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBLAS
internal import CKernels

/// The BLAS library libntk runs on (OpenBLAS), and its thread count.
///
/// Debian's OpenBLAS 0.3.21 picks its kernels when it is loaded, from the CPU or from the
/// `OPENBLAS_CORETYPE` environment variable; on CPUs newer than it knows (Sapphire Rapids, …)
/// it falls back to generic kernels several times slower. `info.coreName` shows the choice;
/// set `OPENBLAS_CORETYPE=SkylakeX` in the environment before the process starts to fix it.
public enum BLAS {
    /// What OpenBLAS reports about itself.
    public struct Info: Sendable, Equatable {
        /// OpenBLAS's kernel family, e.g. `"SkylakeX"`, `"Haswell"`, `"Prescott"` (generic).
        public let coreName: String
        /// OpenBLAS's build configuration string (version, threading, max threads).
        public let config: String
        /// Threads OpenBLAS uses for one call.
        public let threadCount: Int
        /// Processors OpenBLAS sees.
        public let processorCount: Int
    }

    /// What the loaded BLAS reports now.
    public static var info: Info {
        Info(coreName: openblas_get_corename().map { String(cString: $0) } ?? "unknown",
             config: openblas_get_config().map { String(cString: $0) } ?? "unknown",
             threadCount: Int(openblas_get_num_threads()),
             processorCount: Int(openblas_get_num_procs()))
    }

    /// The files the dynamic loader opened for OpenBLAS and for LAPACKE (the shared objects that
    /// define `openblas_get_corename` and `LAPACKE_dpotrf`, found with `dladdr`): a system copy
    /// (`/usr/lib/…/libopenblas.so.0`) or the one bundled in a Python wheel (`libntk.libs/…`).
    /// `nil` where the loader does not say (a static link).
    public static var libraryPaths: (blas: String?, lapacke: String?) {
        let paths = libraryPathPointers
        return (paths.blas.map { String(cString: $0) }, paths.lapacke.map { String(cString: $0) })
    }

    /// `libraryPaths` as the loader's own strings, valid while the libraries stay loaded (for the C API).
    package static var libraryPathPointers: (blas: UnsafePointer<CChar>?, lapacke: UnsafePointer<CChar>?) {
        typealias CoreName = @convention(c) () -> UnsafeMutablePointer<CChar>?
        typealias Potrf = @convention(c) (Int32, CChar, Int32, UnsafeMutablePointer<Double>?, Int32) -> Int32
        let blas = unsafeBitCast(openblas_get_corename as CoreName, to: UnsafeRawPointer.self)
        let lapacke = unsafeBitCast(LAPACKE_dpotrf as Potrf, to: UnsafeRawPointer.self)
        return (ckernels_shared_object_path(blas), ckernels_shared_object_path(lapacke))
    }

    /// OpenBLAS's generic x86 kernel families: several times slower than the CPU's own.
    static let genericCores: Set<String> = ["Prescott", "Core2", "Nehalem", "Atom", "Generic", "Katmai", "Northwood"]

    /// Logs the BLAS in use (INFO) and warns about generic kernels; `Log` calls it when a
    /// handler is installed, so every log starts with the kernels that set the speed.
    static func logConfiguration() {
        let info = info
        Log.info("BLAS: OpenBLAS core \(info.coreName), \(info.threadCount) threads of "
                 + "\(info.processorCount) processors (\(info.config)) from \(libraryPaths.blas ?? "an unknown file")")
        // OpenBLAS reads the variable with atoi and clamps it to 4...30 (2^28 cycles without it).
        if let raw = getenv("OPENBLAS_THREAD_TIMEOUT").map({ String(cString: $0) }) {
            let exponent = min(30, max(4, Int(raw.trimmingPrefix(while: { $0 == " " })
                .prefix(while: { $0.isNumber || $0 == "-" })) ?? 0))
            Log.info("BLAS: idle OpenBLAS threads spin for 2^\(exponent) cycles after each call "
                     + "(OPENBLAS_THREAD_TIMEOUT=\(raw))")
        } else {
            Log.info("BLAS: idle OpenBLAS threads spin for 2^28 cycles (about 0.1 s) after each call"
                     + (info.threadCount > 1 ? "; OPENBLAS_THREAD_TIMEOUT=16 in the environment before the process "
                        + "starts makes libntk's own threaded loops between BLAS calls faster (docs/c-api.md)" : ""))
        }
        if genericCores.contains(info.coreName) {
            Log.warning("BLAS: OpenBLAS runs generic '\(info.coreName)' kernels, several times slower than the CPU's "
                        + "own; set OPENBLAS_CORETYPE (SkylakeX for AVX-512, Haswell for AVX2) before the process "
                            + "starts")
        }
    }

    /// Largest thread count accepted by `setThreadCount`.
    public static let maxThreadCount = 1024

    /// Sets how many threads OpenBLAS uses for each call (process-wide).
    ///
    /// One thread is often best when the caller runs its own threads or another process keeps
    /// a core busy (threaded LAPACK slows down badly on a loaded core). Not safe to call while
    /// another thread is inside a BLAS call.
    /// - Throws: `invalidArgument` unless `1 ≤ count ≤ maxThreadCount`.
    public static func setThreadCount(_ count: Int) throws {
        guard count >= 1, count <= maxThreadCount else {
            throw NTKError.invalidArgument("BLAS thread count must be in 1...\(maxThreadCount), got \(count)")
        }
        openblas_set_num_threads(Int32(count))
        Log.info("BLAS: OpenBLAS set to \(count) threads")
    }
}
