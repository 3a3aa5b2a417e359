import CNTKMPI

/// A BLACS process grid over a communicator: `nprow × npcol` ranks (0 × 0: the most square),
/// square blocks of `blockSize` dealt over it. Freeing it (deinit) is collective: release
/// grids on every rank at the same point.
public final class Grid: @unchecked Sendable {
    public let handle: OpaquePointer
    public let communicator: Communicator

    public init(_ communicator: Communicator = .world, rows: Int = 0, columns: Int = 0, blockSize: Int = 64) throws {
        var out: OpaquePointer?
        try checkMPI(ntk_mpi_grid_create(communicator.comm, Int32(rows), Int32(columns), Int64(blockSize), &out))
        handle = out!
        self.communicator = communicator
    }

    /// (nprow, npcol).
    public var shape: (rows: Int, columns: Int) {
        var r: Int32 = 0, c: Int32 = 0
        ntk_mpi_grid_info(handle, nil, nil, &r, &c, nil, nil, nil)
        return (Int(r), Int(c))
    }

    deinit { ntk_mpi_grid_free(handle) }
}

/// A rows × cols matrix split block-cyclically over a grid (ScaLAPACK's layout): each rank
/// holds `local` (column-major, `localRows × localColumns`, leading dimension `lld`), entry
/// (i, j) of which is global entry (`rowIndices[i]`, `columnIndices[j]`).
public final class DistributedMatrix: @unchecked Sendable {
    public let handle: OpaquePointer
    public let grid: Grid
    public let rows: Int, columns: Int
    public let localRows: Int, localColumns: Int, lld: Int
    public let rowIndices: [Int], columnIndices: [Int]

    init(handle: OpaquePointer, grid: Grid) {
        self.handle = handle
        self.grid = grid
        var r: Int64 = 0, c: Int64 = 0, lr: Int64 = 0, lc: Int64 = 0, ld: Int64 = 0
        ntk_mpi_matrix_size(handle, &r, &c)
        ntk_mpi_matrix_local(handle, nil, &lr, &lc, &ld)
        (rows, columns, localRows, localColumns, lld) = (Int(r), Int(c), Int(lr), Int(lc), Int(ld))
        var ri = [Int64](repeating: 0, count: Int(lr)), ci = [Int64](repeating: 0, count: Int(lc))
        ntk_mpi_matrix_indices(handle, &ri, &ci)
        rowIndices = ri.map(Int.init)
        columnIndices = ci.map(Int.init)
    }

    /// A matrix of zeros (collective).
    public convenience init(zeros grid: Grid, rows: Int, columns: Int) throws {
        var out: OpaquePointer?
        try checkMPI(ntk_mpi_matrix_create(grid.handle, Int64(rows), Int64(columns), &out))
        self.init(handle: out!, grid: grid)
    }

    /// This rank's local array, writable (fill it with a kernel you computed).
    public var local: UnsafeMutableBufferPointer<Double> {
        var data: UnsafeMutablePointer<Double>?
        ntk_mpi_matrix_local(handle, &data, nil, nil, nil)
        return UnsafeMutableBufferPointer(start: data, count: lld * localColumns)
    }

    /// The whole matrix, row-major, on every rank (collective; small matrices and tests).
    public func gather() throws -> [Double] {
        var out = [Double](repeating: 0, count: rows * columns)
        try checkMPI(ntk_mpi_matrix_gather(handle, &out, Int64(max(columns, 1))))
        return out
    }

    deinit { ntk_mpi_matrix_free(handle) }
}

/// How input points are spread: every rank passes all rows, or each its own rows in rank order.
public enum PointLayout: Sendable {
    case replicated
    case byRows

    var c: ntk_mpi_layout { self == .replicated ? NTK_MPI_REPLICATED : NTK_MPI_BY_ROWS }
}

/// Which infinite-width kernel.
public enum InfiniteWidthKind: Sendable {
    case ntk
    case nngp

    var c: ntk_kernel_kind { self == .ntk ? NTK_KERNEL_NTK : NTK_KERNEL_NNGP }
}

/// Runs `body` with `ntk_mpi_points` for rows of X (n × d, row-major).
func withPoints<R>(_ x: [Double], _ d: Int, _ layout: PointLayout,
                   _ body: (UnsafePointer<ntk_mpi_points>) throws -> R) rethrows -> R {
    try x.withUnsafeBufferPointer { p in
        var points = ntk_mpi_points(n: Int64(d > 0 ? x.count / d : 0), X: p.baseAddress, ldx: Int64(max(d, 1)),
                                    layout: layout.c)
        return try body(&points)
    }
}

/// The infinite-width kernel of `network`'s architecture between the rows of `x1` and `x2`
/// (nil: x1's own kernel), computed where it is stored. Collective.
public func infiniteWidthKernel(grid: Grid, network: Network, x1: [Double], layout1: PointLayout = .replicated,
                                x2: [Double]? = nil, layout2: PointLayout = .replicated,
                                kind: InfiniteWidthKind = .ntk) throws -> DistributedMatrix {
    let d = network.inputDimension
    var out: OpaquePointer?
    try withPoints(x1, d, layout1) { p1 in
        if let x2 {
            try withPoints(x2, d, layout2) { p2 in
                try checkMPI(ntk_mpi_infinite_width_kernel(grid.handle, network.handle, kind.c, p1, p2, nil, &out))
            }
        } else {
            try checkMPI(ntk_mpi_infinite_width_kernel(grid.handle, network.handle, kind.c, p1, nil, nil, &out))
        }
    }
    return DistributedMatrix(handle: out!, grid: grid)
}

/// The empirical NTK of `network` (mean over outputs), as `infiniteWidthKernel`.
public func empiricalNTK(grid: Grid, network: Network, x1: [Double], layout1: PointLayout = .replicated,
                         x2: [Double]? = nil, layout2: PointLayout = .replicated) throws -> DistributedMatrix {
    let d = network.inputDimension
    var out: OpaquePointer?
    try withPoints(x1, d, layout1) { p1 in
        if let x2 {
            try withPoints(x2, d, layout2) { p2 in
                try checkMPI(ntk_mpi_empirical_ntk(grid.handle, network.handle, p1, p2, nil, &out))
            }
        } else {
            try checkMPI(ntk_mpi_empirical_ntk(grid.handle, network.handle, p1, nil, nil, &out))
        }
    }
    return DistributedMatrix(handle: out!, grid: grid)
}
