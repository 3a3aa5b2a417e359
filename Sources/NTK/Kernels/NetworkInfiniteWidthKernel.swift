/// The infinite-width NNGP `Σ` and NTK `Θ` of a network built from layers
/// (`NetworkArchitecture`), by the layer recursion of `CovarianceProgram` (neural-tangents'
/// `stax` conventions: convolutions, pooling, Flatten, LayerNorm, residual blocks, every
/// activation's closed form or quadrature as `InfiniteWidthKernel`).
///
/// Work: each input's own recursion first (its variances per layer and its diagonal entry),
/// then every pair, on `Parallel` threads, one row of pairs per work item, with progress and
/// cancellation. Per pair: positions² entries per layer when the network pools (AvgPool,
/// GlobalAvgPool), positions entries otherwise (Flatten readouts need only the diagonal). Memory:
/// per thread 3 + 2·(residual depth) tensors of the largest positions², plus the points'
/// variances (points × positions per activation/LayerNorm), within the process's memory budget
/// (fewer threads when all do not fit; `outOfMemory` when one does not).
///
/// Accuracy: as the MLP recursion; the diagonal of a symmetric kernel comes from the points' own
/// runs with ρ = 1 exactly at equal positions. Single precision (the `SingleMatrixView` form):
/// the position-pair tensors, the window steps and the closed-form rows in float (half the
/// memory traffic and per-thread memory), the readouts' means and the scalar activations in
/// double; its accuracy is the MLP's single-precision one (`InfiniteWidthKernel`).
public enum NetworkInfiniteWidthKernel {
    /// Computes `Σ(X1, X2)` into `nngp` and `Θ(X1, X2)` into `ntk` (each n1 × n2, or nil when not
    /// wanted); `x2 = nil` means X1's own kernel, exactly symmetric. Rows of X are inputs in the
    /// order of the architecture's input shape (channels last).
    /// - Throws: `dimensionMismatch` for columns other than d or output shapes; `nonFinite`;
    ///   `invalidArgument` for networks without an infinite-width limit of this kind (see
    ///   `CovarianceProgram`); `cancelled` from `progress`; `outOfMemory`.
    public static func compute(_ architecture: NetworkArchitecture, _ x1: MatrixView, _ x2: MatrixView?,
                               nngp: MutableMatrixView?, ntk: MutableMatrixView?, points: Int = 0,
                               progress: ProgressHandler = .none) throws {
        try compute(architecture, x1, x2, nngp: nngp, ntk: ntk, points: points, progress: progress, log: true)
    }

    /// `compute` in single precision: inputs and kernels as floats (see the type's notes).
    public static func compute(_ architecture: NetworkArchitecture, _ x1: SingleMatrixView, _ x2: SingleMatrixView?,
                               nngp: MutableSingleMatrixView?, ntk: MutableSingleMatrixView?, points: Int = 0,
                               progress: ProgressHandler = .none) throws {
        try compute(architecture, x1, x2, nngp: nngp, ntk: ntk, points: points, progress: progress, log: true)
    }

    /// `compute` in either precision, with the log line optional: blocked callers (Nyström
    /// passes) log once themselves.
    static func compute<S: InfiniteWidthScalar>(_ architecture: NetworkArchitecture, _ x1: RowMajorView<S>,
                                                _ x2: RowMajorView<S>?, nngp: MutableRowMajorView<S>?,
                                                ntk: MutableRowMajorView<S>?, points: Int, progress: ProgressHandler,
                                                log: Bool) throws {
        let a = architecture
        let (n1, n2) = try InfiniteWidthKernel.request(x1, x2, nngp: nngp, ntk: ntk) { try a.checkInput($0, $1) }
        let program = try CovarianceProgram(a, points: points)
        try progress.report(0)
        if n1 == 0 || n2 == 0 || (nngp == nil && ntk == nil) { return try progress.report(1) }
        let threads = try workers(program, points: n1 + (x2 == nil ? 0 : n2), precision: S.self)
        let positions = a.inputShape.positions
        let work = program.full ? "\(positions)² position pairs (the network pools)"
            : "\(positions) positions (no pooling: the diagonal suffices)"
        if log {
            Log.info("infinite-width kernels of a \(a.layers.count)-layer network, input \(a.inputShape): \(n1) x "
                     + "\(n2) pairs, \(work) per pair, \(threads) thread\(threads == 1 ? "" : "s"), "
                     + "\(S.precisionName) precision")
        }
        let runs = try (0..<threads).map { _ in try CovarianceRun<S>(program) }
        let slots1 = try CovarianceRun<S>.slots(program, points: n1)
        let slots2 = try x2 == nil ? slots1 : CovarianceRun<S>.slots(program, points: n2)
        let own1 = try AlignedBuffer<S>(count: 2 * n1, for: "the diagonal")
        let own2 = try x2 == nil ? own1 : AlignedBuffer<S>(count: 2 * n2, for: "the diagonal")
        let selfWork = n1 + (x2 == nil ? 0 : n2), total = Double(selfWork) + Double(n1) * Double(n2)
        let first = total > 0 ? Double(selfWork) / total : 0
        // Each point's own run: its variances per layer and (Σ, Θ)(x, x).
        try Parallel.forEach(count: selfWork, threads: threads, progress: progress.stage(0, first)) { item, worker in
            let second = item >= n1
            let (x, slots, own, i) = second ? (x2!, slots2, own2, item - n1) : (x1, slots1, own1, item)
            let (s, t) = runs[worker].runSelf(x.row(i), slots: slots, i)
            (own.pointer[2 * i], own.pointer[2 * i + 1]) = (s, t)
        }
        let other = x2 ?? x1
        try Parallel.forEach(count: n1, threads: threads, progress: progress.stage(first, 1)) { item, worker in
            let i = x2 == nil ? n1 - 1 - item : item  // longest rows first
            for j in 0..<(x2 == nil ? i : n2) {
                let (s, t) = runs[worker].run(x1.row(i), other.row(j), slots1: slots1, i, slots2: slots2, j)
                nngp?[i, j] = s
                ntk?[i, j] = t
                if x2 == nil {
                    nngp?[j, i] = s
                    ntk?[j, i] = t
                }
            }
            if x2 == nil {
                nngp?[i, i] = own1.pointer[2 * i]
                ntk?[i, i] = own1.pointer[2 * i + 1]
            }
        }
        if let nngp { try InputCheck.finiteResult(nngp, "the infinite-width NNGP") }
        if let ntk { try InputCheck.finiteResult(ntk, "the infinite-width NTK") }
        try progress.report(1)
    }

    /// The threads whose buffers fit the process's memory budget with the slot variances of
    /// `points` inputs (at most `Parallel.defaultThreads`), in the given precision.
    /// - Throws: `outOfMemory` when not even one worker fits (a pooled network on large images).
    static func workers<S: InfiniteWidthScalar>(_ program: CovarianceProgram, points: Int,
                                                precision: S.Type) throws -> Int {
        let budget = try MemoryBudget.resolve(nil), slots = CovarianceRun<S>.slotBytes(program, points: points)
        let run = CovarianceRun<S>.bytes(program)
        try MemoryBudget.require(slots > Int.max - run ? Int.max : slots + run, within: budget,
                                 for: "the infinite-width kernels of this network (per worker \(program.maxEntries) "
                                     + "position pairs × \(3 + 2 * program.maxDepth) tensors, and each input's "
                                     + "variances)")
        let fit = (budget - slots) / max(run, 1)
        if fit < Parallel.defaultThreads {
            Log.info("infinite-width kernels: \(fit) of \(Parallel.defaultThreads) threads within the memory budget "
                     + "(\(Log.bytes(run)) per thread)")
        }
        return max(1, min(Parallel.defaultThreads, fit))
    }

    /// `Σ(x, x)` and `Θ(x, x)` for each row of `x` (n each, or nil): the points' own runs only.
    package static func diagonal(_ architecture: NetworkArchitecture, _ x: MatrixView,
                                 nngp: UnsafeMutablePointer<Double>?, ntk: UnsafeMutablePointer<Double>?,
                                 points: Int = 0) throws {
        try architecture.checkInput(x, "X")
        let program = try CovarianceProgram(architecture, points: points)
        let threads = try workers(program, points: x.rows, precision: Double.self)
        let runs = try (0..<threads).map { _ in try CovarianceRun<Double>(program) }
        let slots = try CovarianceRun<Double>.slots(program, points: x.rows)
        try Parallel.forEach(count: x.rows, threads: threads) { i, worker in
            let (s, t) = runs[worker].runSelf(x.row(i), slots: slots, i)
            nngp?[i] = s
            ntk?[i] = t
        }
    }

}

extension NetworkArchitecture {
    /// The infinite-width NNGP `Σ(X1, X2)` and NTK `Θ(X1, X2)` between the rows of `x1` (n1 × d)
    /// and `x2` (nil: `x1` itself, exactly symmetric). See `NetworkInfiniteWidthKernel`.
    public func infiniteWidthKernels(_ x1: Matrix, _ x2: Matrix? = nil, points: Int = 0,
                                     progress: ProgressHandler = .none) throws -> (nngp: Matrix, ntk: Matrix) {
        try InfiniteWidthKernel.matrices(x1, x2) { v1, v2, s, t in
            try NetworkInfiniteWidthKernel.compute(self, v1, v2, nngp: s, ntk: t, points: points, progress: progress)
        }
    }
}
