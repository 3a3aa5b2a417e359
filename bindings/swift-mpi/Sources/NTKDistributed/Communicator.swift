import CNTKMPI

/// A failed call of libntk or libntk_mpi: the status code and the library's message. For the
/// collective calls of libntk_mpi every rank throws the same error.
public struct NTKDistributedError: Error, CustomStringConvertible, Equatable {
    /// The ntk_status code (NTK_ERR_*).
    public let status: Int32
    public let message: String
    public var description: String { message }
}

/// Throws the error of a failed libntk_mpi call.
func checkMPI(_ status: Int32) throws {
    guard status != 0 else { return }
    throw NTKDistributedError(status: status, message: String(cString: ntk_mpi_last_error()))
}

/// Throws the error of a failed libntk call.
func checkNTK(_ status: Int32) throws {
    guard status != 0 else { return }
    throw NTKDistributedError(status: status, message: String(cString: ntk_last_error()))
}

/// An MPI communicator (`MPI_Comm`). `world` is MPI_COMM_WORLD; wrap any other (a
/// sub-communicator from MPI_Comm_split) with `init(_:)`. MPI must be initialised first
/// (`MPI.initialize()`).
public struct Communicator: @unchecked Sendable {
    public let comm: MPI_Comm

    public init(_ comm: MPI_Comm) { self.comm = comm }

    public static var world: Communicator { Communicator(ntk_swift_comm_world()) }

    public var rank: Int {
        var r: Int32 = 0
        MPI_Comm_rank(comm, &r)
        return Int(r)
    }

    public var size: Int {
        var s: Int32 = 0
        MPI_Comm_size(comm, &s)
        return Int(s)
    }

    /// The elementwise sum of `values` over the ranks (collective).
    public func sum(_ values: [Int]) -> [Int] {
        var v = values.map { Int64($0) }
        ntk_swift_sum_int64(&v, Int32(v.count), comm)
        return v.map { Int($0) }
    }

    /// The elementwise sum of `values` over the ranks (collective).
    public func sum(_ values: [Double]) -> [Double] {
        var v = values
        ntk_swift_sum_double(&v, Int32(v.count), comm)
        return v
    }
}

/// MPI's start and end, for programs that do not call MPI_Init themselves.
public enum MPI {
    public static func initialize() { MPI_Init(nil, nil) }
    public static func finalize() { MPI_Finalize() }
}

/// A dense network of libntk (an `ntk_mlp` handle): its architecture defines the
/// infinite-width kernels, its parameters the empirical NTK.
public final class Network: @unchecked Sendable {
    public let handle: OpaquePointer
    public let inputDimension: Int
    public let outputs: Int

    /// - Parameters: d inputs, hidden `widths`, k outputs, the activation (ntk.h's
    ///   `ntk_activation`), `bStd` the bias scale, `seed` the initial parameters.
    public init(inputDimension d: Int, widths: [Int], outputs k: Int, activation: ntk_activation = NTK_ACTIVATION_RELU,
                bStd: Double = 0, seed: UInt64 = 0) throws {
        var options = ntk_mlp_options()
        try checkNTK(ntk_mlp_options_init(&options))
        options.b_std = bStd
        options.seed = seed
        var out: OpaquePointer?
        let w = widths.map { Int64($0) }
        try checkNTK(w.withUnsafeBufferPointer {
            ntk_mlp_create(Int64(d), Int64(w.count), $0.baseAddress, Int64(k), activation, &options, &out)
        })
        guard let out else {
            throw NTKDistributedError(status: NTK_ERR_INTERNAL.rawValue, message: "ntk_mlp_create gave no handle")
        }
        handle = out
        inputDimension = d
        outputs = k
    }

    deinit { ntk_mlp_free(handle) }
}
