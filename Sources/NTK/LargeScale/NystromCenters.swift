#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The choice of the c Nyström centres among n data points.
///
/// - `uniform`: c distinct points drawn uniformly without replacement (seeded, reproducible:
///   a partial Fisher–Yates shuffle driven by SplitMix64 words, as `NormalGenerator`), O(c)
///   work. Falkon's analysis (Rudi et al. 2017) shows c ≈ √n uniform centres suffice for the
///   optimal learning rate of kernel ridge.
/// - `pivotedCholesky`: randomly pivoted Cholesky (RPCholesky; Chen, Epperly, Tropp, Webber
///   2023) of the kernel on a candidate pool (all points, or `poolSize` uniform ones when n is
///   larger): each step draws the next centre with probability proportional to the diagonal
///   of the residual kernel `K − L Lᵀ`, so points already explained by the chosen centres
///   (near-duplicates above all) are almost never drawn again, while outliers do not dominate
///   as they do with the greedy (largest-diagonal) rule. Costs p·c kernel entries and
///   O(p·c²) flops for a pool of p points, p·c doubles of memory; stops early (fewer than c
///   centres) when the residual diagonal is numerically zero (the kernel's rank on the pool is
///   below c).
public enum NystromCenters {
    public enum Selection: Sendable, Equatable {
        case uniform
        case pivotedCholesky
    }

    /// c distinct indices in 0..<n, ascending, drawn uniformly.
    /// - Throws: `invalidArgument` unless 1 ≤ c ≤ n.
    public static func uniform(n: Int, c: Int, seed: UInt64) throws -> [Int] {
        try check(n: n, c: c)
        if c == n { return Array(0..<n) }
        var generator = NormalGenerator(seed: seed)
        // Partial Fisher–Yates on a sparse permutation (a dictionary of displaced entries), so
        // memory is O(c) even for n = 10⁹.
        var displaced: [Int: Int] = [:]
        var chosen: [Int] = []
        chosen.reserveCapacity(c)
        for i in 0..<c {
            let j = i + Int(generator.nextWord() % UInt64(n - i))
            let valueJ = displaced[j] ?? j
            displaced[j] = displaced[i] ?? i
            chosen.append(valueJ)
        }
        return chosen.sorted()
    }

    /// The default pool for pivoted Cholesky: every point up to this many, else a uniform sample.
    public static func defaultPool(c: Int) -> Int { max(4 * c, 8192) }

    /// Up to c indices chosen by randomly pivoted Cholesky of `kernel` on the rows of `x` (or on
    /// a uniform pool of `pool` of them), in the order chosen; reproducible for a given seed.
    /// - Throws: `invalidArgument` unless 1 ≤ c ≤ n; `outOfMemory` when the pool's factor
    ///   (pool × c doubles) exceeds `budget`; `cancelled`.
    public static func pivotedCholesky(_ kernel: PointKernel, x: MatrixView, c: Int, seed: UInt64, pool: Int? = nil,
                                       budget: Int, progress: ProgressHandler = .none) throws -> [Int] {
        let n = x.rows
        try check(n: n, c: c)
        let p = min(n, max(pool ?? defaultPool(c: c), c))
        let candidates = p == n ? Array(0..<n) : try uniform(n: n, c: p, seed: seed)
        _ = try Sizes.blasInt(p, "pivoted Cholesky pool")
        _ = try Sizes.blasInt(c, "number of centres")
        let bytes = try Sizes.product(try Sizes.product(p, c + 4, "pivoted Cholesky factor"), 8,
                                      "pivoted Cholesky bytes")
        try MemoryBudget.require(bytes, within: budget,
                                 for: "pivoted Cholesky on a pool of \(p) points for \(c) centres")
        Log.info("Nyström centres: randomly pivoted Cholesky of the \(kernel.summary) on "
                 + "\(p == n ? "all \(n) points" : "a uniform pool of \(p) of \(n) points"), up to \(c) centres")
        // The pool's points, contiguous.
        let d = x.cols
        let poolX = try Workspace(count: try Sizes.product(p, d, "pool size"), for: "the candidate pool")
        for (r, i) in candidates.enumerated() { (poolX.pointer + r * d).update(from: x.row(i), count: d) }
        let poolView = MatrixView(unchecked: UnsafePointer(poolX.pointer), rows: p, cols: d, ld: max(d, 1))
        let residual = try Workspace(count: p, for: "the residual diagonal")
        try kernel.diagonal(poolView, into: residual.pointer)
        let factor = try Workspace(count: try Sizes.product(p, c, "pivoted Cholesky factor"),
                                   for: "the pivoted Cholesky factor")
        let column = try Workspace(count: p, for: "a kernel column")
        let columnView = MutableMatrixView(unchecked: column.pointer, rows: p, cols: 1, ld: 1)
        var largestDiagonal = 0.0
        for i in 0..<p { largestDiagonal = max(largestDiagonal, residual.pointer[i]) }
        let floor = Double(p) * Double.ulpOfOne * largestDiagonal
        var chosen: [Int] = []
        var taken = [Bool](repeating: false, count: p)
        var generator = NormalGenerator(seed: seed ^ 0x5EED_CE17_0000_0001)
        try progress.report(0)
        while chosen.count < c {
            let k = chosen.count
            // Draw i with probability residual[i] / Σ residual (entries at or below the floor
            // are rounding noise and never drawn).
            var total = 0.0
            for i in 0..<p where !taken[i] && residual.pointer[i] > floor { total += residual.pointer[i] }
            var best = -1
            if total > 0 {
                let u = Double(generator.nextWord() >> 11) * 0x1p-53 * total
                var running = 0.0
                for i in 0..<p where !taken[i] && residual.pointer[i] > floor {
                    best = i
                    running += residual.pointer[i]
                    if running > u { break }
                }
            }
            if best < 0 {
                Log.info("Nyström centres: the residual kernel is numerically zero after \(k) centres; stopping there")
                break
            }
            // column = K(pool, x_best) − L[:, 0..<k] L[best, 0..<k]ᵀ, scaled by 1/√residual.
            try kernel.evaluate(poolView, poolView.rowRange(best, best + 1), into: columnView, progress: .none)
            if k > 0 {
                let f = MatrixView(unchecked: UnsafePointer(factor.pointer), rows: p, cols: k, ld: c)
                try VectorOperations.gemv(f, f.base + best * c, alpha: -1, beta: 1, into: column.pointer)
            }
            let bestValue = column.pointer[best]
            guard bestValue > floor else {
                residual.pointer[best] = 0  // its running residual had drifted above the true one
                continue
            }
            taken[best] = true
            chosen.append(candidates[best])
            let scale = 1 / bestValue.squareRoot()
            for i in 0..<p {
                let value = taken[i] && i != best ? 0 : column.pointer[i] * scale
                factor.pointer[i * c + k] = value
                residual.pointer[i] = taken[i] ? 0 : residual.pointer[i] - value * value
            }
            try progress.report(Double(k + 1) / Double(c))
        }
        return chosen
    }

    static func check(n: Int, c: Int) throws {
        guard c >= 1, c <= n else {
            throw NTKError.invalidArgument("the number of centres must be in 1...n = \(n), got \(c)")
        }
    }
}
