// Opaque handles: the address of a live Swift object, registered in a process-wide table.
//
// A handle is valid exactly while it is in the table. Looking one up checks that it is live and
// of the expected type, so a freed, foreign or mistyped pointer gives `invalid handle` instead of
// a crash, and nothing ever dereferences a pointer the table does not know. A lookup returns a
// strong reference, so an object stays alive until every call using it has returned even if
// another thread frees the handle meanwhile.
import NTK
import Synchronization

final class HandleRegistry: Sendable {
    static let shared = HandleRegistry()

    private let live = Mutex<[UInt: any AnyObject & Sendable]>([:])

    /// Registers `object` and returns its handle.
    func register(_ object: some AnyObject & Sendable) -> OpaquePointer {
        // The object's address: unique among live objects and never zero.
        let address = Unmanaged.passUnretained(object).toOpaque()
        live.withLock { $0[UInt(bitPattern: address)] = object }
        return OpaquePointer(address)
    }

    /// The live object of type `T` behind `handle`.
    func lookup<T: AnyObject & Sendable>(_ handle: OpaquePointer?, as type: T.Type, _ name: String) throws -> T {
        guard let handle else { throw NTKError(.invalidHandle, "\(name) is NULL") }
        let key = UInt(bitPattern: Int(bitPattern: handle))
        let object = live.withLock { $0[key] }
        guard let object else {
            throw NTKError(.invalidHandle, "\(name) is not a live handle (freed, or not made by libntk)")
        }
        guard let typed = object as? T else {
            throw NTKError(.invalidHandle, "\(name) is a handle of another type (\(cTypeName(of: object)))")
        }
        return typed
    }

    /// Forgets `handle`; unknown handles (NULL, already freed) are ignored.
    func release(_ handle: OpaquePointer?) {
        guard let handle else { return }
        let key = UInt(bitPattern: Int(bitPattern: handle))
        let object = live.withLock { $0.removeValue(forKey: key) }
        _ = object  // the object dies here, outside the lock
    }

    /// Number of live handles (for leak tests).
    var count: Int { live.withLock { $0.count } }
}

@_cdecl("ntk_live_handle_count")
public func ntk_live_handle_count() -> Int64 { Int64(HandleRegistry.shared.count) }

/// The C name of a handle's type, for messages (never a Swift type name).
func cTypeName(of object: AnyObject) -> String {
    switch object {
    case is MLP: "ntk_mlp"
    case is KernelRidge: "ntk_kernel_ridge"
    case is SpectralSolver: "ntk_spectral"
    case is CholeskyFactorization: "ntk_cholesky_factor"
    case is CallbackModel: "ntk_model"
    case is EmpiricalNTKRidge: "ntk_empirical_ridge"
    default: "unknown"
    }
}
