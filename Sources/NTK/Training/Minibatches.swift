/// The minibatches of an epoch of stochastic gradient descent: each epoch shuffles the row order
/// (Fisher–Yates on SplitMix64 words from `seed`, so runs are reproducible) and hands out
/// consecutive blocks of `size` rows of X and Y, copied into buffers allocated once.
final class Minibatches {
    private let x: MatrixView, y: MatrixView
    private let size: Int
    private let batchX: Workspace, batchY: Workspace
    private var order: [Int]
    private var rng: NormalGenerator

    /// - Throws: `outOfMemory`, `tooLarge` for the batch buffers.
    init(x: MatrixView, y: MatrixView, size: Int, seed: UInt64) throws {
        self.x = x
        self.y = y
        self.size = size
        batchX = try Workspace(count: try Sizes.product(size, max(x.cols, 1), "batch"), for: "a batch")
        batchY = try Workspace(count: try Sizes.product(size, max(y.cols, 1), "batch"), for: "a batch")
        order = Array(0..<x.rows)
        rng = NormalGenerator(seed: seed)
    }

    /// Shuffles, then calls `body(X_batch, Y_batch)` for every minibatch in order (the last one
    /// may be smaller). The views are valid during the call.
    func epoch(_ body: (MatrixView, MatrixView) throws -> Void) throws {
        let n = x.rows, d = x.cols, k = y.cols
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(rng.nextWord() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        for start in stride(from: 0, to: n, by: size) {
            let rows = min(size, n - start)
            for (r, source) in order[start..<(start + rows)].enumerated() {
                (batchX.pointer + r * d).update(from: x.row(source), count: d)
                (batchY.pointer + r * k).update(from: y.row(source), count: k)
            }
            try body(MatrixView(unchecked: batchX.pointer, rows: rows, cols: d, ld: max(d, 1)),
                     MatrixView(unchecked: batchY.pointer, rows: rows, cols: k, ld: max(k, 1)))
        }
    }
}
