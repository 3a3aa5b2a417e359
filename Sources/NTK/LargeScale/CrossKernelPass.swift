/// The passes over the rows of a cross-kernel `K(X, C)` (n × c) that Nyström's solvers make:
/// blocks of rows from a cache of all of them (kept when it fits the memory budget), from the
/// caller's stored matrix, or computed block by block into a scratch buffer.
final class CrossKernelPass {
    let cross: CrossKernel
    let blockRows: Int
    let scratch: Workspace?
    let cache: Workspace?
    let progress: ProgressHandler
    var n: Int { cross.rows }
    var c: Int { cross.columns }

    init(cross: CrossKernel, blockRows: Int, cache: Bool, progress: ProgressHandler) throws {
        self.cross = cross
        self.blockRows = blockRows
        self.progress = progress
        let n = cross.rows, c = cross.columns
        if cache {
            let all = try Workspace(count: try Sizes.product(n, c, "cached cross-kernel"),
                                    for: "the cached kernel rows")
            for r0 in stride(from: 0, to: n, by: blockRows) {
                let r = r0..<min(r0 + blockRows, n)
                _ = try cross.block(r, scratch: MutableMatrixView(unchecked: all.pointer + r0 * c, rows: r.count,
                                                                  cols: c, ld: c))
                try progress.report(0.3 * Double(r.upperBound) / Double(n))
            }
            self.cache = all
            self.scratch = nil
        } else {
            self.cache = nil
            self.scratch = cross.computesBlocks ? try Workspace(count: try Sizes.product(blockRows, c, "kernel block"),
                                                                for: "a block of kernel rows") : nil
        }
    }

    /// Calls `body(rows, K(X[rows], C))` for every block in order; `report(fraction)` maps
    /// the pass's progress into the caller's.
    func forEachBlock(report: (Double) -> Double, _ body: (Range<Int>, MatrixView) throws -> Void) throws {
        let rows = max(cache != nil ? n : blockRows, 1)  // n = 0 (a part with no rows): no block
        for r0 in stride(from: 0, to: n, by: rows) {
            let r = r0..<min(r0 + rows, n)
            let block: MatrixView
            if let cache {
                block = MatrixView(unchecked: UnsafePointer(cache.pointer), rows: n, cols: c, ld: c)
            } else {
                block = try cross.block(r, scratch: scratch?.matrix(r.count, c) ?? emptyScratch(columns: c))
            }
            try body(r, block)
            try progress.report(report(Double(r.upperBound) / Double(max(n, 1))))
        }
    }

    /// Calls `body(K(X[rows], C))` for blocks of the rows `indices` (from the cache when there is
    /// one), at most `blockRows` (≥ 1) at a time, into `buffer` (blockRows × c).
    func forEachSampledBlock(_ indices: [Int], buffer: Workspace, blockRows: Int,
                             _ body: (MatrixView) throws -> Void) throws {
        for start in stride(from: 0, to: indices.count, by: blockRows) {
            let chosen = Array(indices[start..<min(start + blockRows, indices.count)])
            let out = buffer.matrix(chosen.count, c)
            if let cache {
                for (r, i) in chosen.enumerated() { (out.base + r * c).update(from: cache.pointer + i * c, count: c) }
            } else {
                try cross.rows(chosen, into: out)
            }
            try body(out.readOnly)
        }
    }

    /// `out ← K_mn (K_nm v)` for v (c × k), block by block; `u` is scratch for one block's `K_nm v`.
    func normalProduct(_ v: MatrixView, into out: MutableMatrixView, block u: Workspace,
                       report: (Double) -> Double) throws {
        out.fill(0)
        try forEachBlock(report: report) { r, kb in
            let ub = u.matrix(r.count, v.cols)
            try MatrixProduct.gemm(kb, v, into: ub)
            try MatrixProduct.gemm(kb, transposeA: true, ub.readOnly, beta: 1, into: out)
        }
    }
}

/// A stand-in base address for empty blocks; never dereferenced.
nonisolated(unsafe) let emptyBlock = UnsafePointer<Double>(UnsafeMutablePointer<Double>.allocate(capacity: 1))
/// A scratch view of no rows for cross-kernels that store their rows (never written).
func emptyScratch(columns c: Int) -> MutableMatrixView {
    MutableMatrixView(unchecked: UnsafeMutablePointer(mutating: emptyBlock), rows: 0, cols: c, ld: max(c, 1))
}
