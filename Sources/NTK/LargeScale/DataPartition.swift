/// Data parallelism: the training rows a solver sees are one part of a data set split by rows
/// over several processes (MPI ranks, say), and `sum` combines the parts.
///
/// At fixed points of an algorithm (the same points, in the same order, with the same counts on
/// every part) the solver fills a buffer with its part's partial sums — `K_mnK_nm` and
/// `K_mnR` for Nyström, the parameter-space vector `Jᵀv` and the dot products of CG for the
/// matrix-free empirical NTK — and `sum` replaces them by the elementwise sum over all parts
/// (`MPI_Allreduce` with `MPI_SUM`). Everything else runs on the part's own rows, so each part
/// needs memory for its rows only, and every part ends with the same model. The core knows
/// nothing of MPI: libntk_mpi supplies `sum`.
///
/// `sum` throws to stop the solver (another part failed, or the communication did); the solver
/// rethrows the error.
public struct DataPartition: Sendable {
    public let sum: @Sendable (UnsafeMutablePointer<Double>, Int) throws -> Void

    public init(sum: @escaping @Sendable (UnsafeMutablePointer<Double>, Int) throws -> Void) {
        self.sum = sum
    }

    /// The sum of one number over all parts.
    func total(_ value: Double) throws -> Double {
        var v = value
        try sum(&v, 1)
        return v
    }

    /// Elementwise sums of an array over all parts.
    func total(_ values: [Double]) throws -> [Double] {
        var v = values
        if v.isEmpty { return v }
        try v.withUnsafeMutableBufferPointer { try sum($0.baseAddress!, $0.count) }
        return v
    }
}

extension Optional where Wrapped == DataPartition {
    /// Sums `count` doubles at `values` over the parts (nothing without a partition).
    func sum(_ values: UnsafeMutablePointer<Double>, _ count: Int) throws {
        if let partition = self, count > 0 { try partition.sum(values, count) }
    }

    func total(_ value: Double) throws -> Double { try self?.total(value) ?? value }
    func total(_ values: [Double]) throws -> [Double] { try self?.total(values) ?? values }
}
