/// Training an MLP by gradient descent (eq. 6-7 of the notes), with snapshots of its tangent
/// kernel on a probe set as it moves.
///
/// Each step is `v ← μ v + ∇θ L`, `θ ← θ − η v` (momentum μ = 0: plain gradient descent) on a
/// minibatch, or on all rows when `batchSize` is nil or ≥ n (full-batch GD). The loss is that of
/// `Loss`, normalised over the batch. The gradient is backpropagated with BLAS-3 products:
/// `∂L/∂W_l = a_l h_lᵀ G_l`, `∂L/∂b_l = c_l Σ_rows G_l`, `G_{l−1} = (a_l G_l W_lᵀ) ⊙ φ'(z_{l−1})`,
/// starting from `G_L = ∂L/∂f`.
///
/// `losses[e]` is the loss on all training rows after e epochs (`losses[0]` at initialisation).
/// Training stops early when the loss becomes NaN or infinite (`diverged`; the network keeps the
/// last finite parameters) or when the callback asks to. The network's parameters are updated
/// (atomically) at every snapshot and at the end.
public struct TrainingOptions: Sendable {
    public var loss: Loss
    public var learningRate: Double
    public var epochs: Int
    public var batchSize: Int?
    public var momentum: Double
    public var seed: UInt64
    /// Epochs (0…epochs) after which the empirical NTK of the probe set is recorded.
    public var snapshotEpochs: [Int]

    public init(loss: Loss = .mse, learningRate: Double = 1, epochs: Int = 1, batchSize: Int? = nil,
                momentum: Double = 0, seed: UInt64 = 0, snapshotEpochs: [Int] = []) {
        self.loss = loss
        self.learningRate = learningRate
        self.epochs = epochs
        self.batchSize = batchSize
        self.momentum = momentum
        self.seed = seed
        self.snapshotEpochs = snapshotEpochs
    }
}

public struct TrainingResult: Sendable {
    /// Loss on all training rows after each epoch; `epochsRun + 1` entries.
    public var losses: [Double]
    public var epochsRun: Int
    public var diverged: Bool
    /// The snapshot epochs reached, and for each the probe kernel (m × m, row-major; empty when
    /// a snapshot handler received them) and its largest eigenvalue.
    public var snapshotEpochs: [Int]
    public var kernels: [[Double]]
    public var lambdaMax: [Double]
}

extension MLP {
    /// The loss over all rows of `x` and its gradient with respect to θ (P doubles, may be nil).
    public func lossGradient(x: MatrixView, y: MatrixView, loss: Loss, into gradient: UnsafeMutablePointer<Double>?) throws -> Double {
        try checkInput(x, "X")
        try checkTargets(y, rows: x.rows, loss: loss)
        let engine = try GradientEngine(architecture, capacity: min(max(x.rows, 1), 2048))
        return try engine.gradient(parameters, x: x, y: y, loss: loss, into: gradient)
    }

    func checkTargets(_ y: MatrixView, rows: Int, loss: Loss) throws {
        guard y.rows == rows, y.cols == architecture.outputDimension else {
            throw NTKError.dimensionMismatch("Y is \(y.rows) × \(y.cols) but must be \(rows) × \(architecture.outputDimension)")
        }
        try loss.validate(targets: y)
    }

    /// Trains in place; see `TrainingOptions`. `probe` is the set whose kernel is recorded
    /// (required when `snapshotEpochs` is not empty). `callback(epoch, loss)` runs after every
    /// epoch and returns false to stop (the result then covers the epochs run).
    ///
    /// Snapshot kernels (m × m for m probe rows) are computed into one workspace allocated
    /// fallibly up front. Without `snapshotHandler` each is copied into `result.kernels`; with
    /// it, `snapshotHandler(epoch, kernel, λ_max)` receives the workspace (valid during the
    /// call) and returns false to stop training, and `result.kernels` stays empty — for callers
    /// that keep the kernels elsewhere.
    public func train(x: MatrixView, y: MatrixView, options o: TrainingOptions, probe: MatrixView? = nil,
                      callback: ((Int, Double) -> Bool)? = nil,
                      snapshotHandler: ((Int, UnsafePointer<Double>, Double) throws -> Bool)? = nil) throws -> TrainingResult {
        let a = architecture, n = x.rows, p = a.parameterCount
        try checkInput(x, "X")
        try checkTargets(y, rows: n, loss: o.loss)
        try InputCheck.finite(o.learningRate, "learning rate")
        guard o.learningRate > 0 else { throw NTKError.invalidArgument("learning rate must be > 0, got \(o.learningRate)") }
        try InputCheck.finite(o.momentum, "momentum")
        guard o.momentum >= 0, o.momentum < 1 else { throw NTKError.invalidArgument("momentum must be in [0, 1), got \(o.momentum)") }
        guard o.epochs >= 0 else { throw NTKError.invalidArgument("epochs must be ≥ 0, got \(o.epochs)") }
        guard n >= 1 else { throw NTKError.invalidArgument("training needs at least one row") }
        if let b = o.batchSize, b < 1 { throw NTKError.invalidArgument("batch size must be ≥ 1, got \(b)") }
        let snapshots = Array(Set(o.snapshotEpochs)).sorted()
        if let bad = snapshots.first(where: { $0 < 0 || $0 > o.epochs }) {
            throw NTKError.invalidArgument("snapshot epoch \(bad) is outside 0...\(o.epochs)")
        }
        var probeKernel: Workspace?
        if !snapshots.isEmpty {
            guard let probe else { throw NTKError.invalidArgument("kernel snapshots need a probe set") }
            try checkInput(probe, "probe")
            probeKernel = try Workspace(count: max(try Sizes.product(probe.rows, probe.rows, "probe kernel"), 1),
                                        for: "the probe kernel")
        }
        let batch = min(o.batchSize ?? n, n)
        let engine = try GradientEngine(a, capacity: min(batch, 2048))
        let theta = ParameterVector(try Workspace(count: p, for: "the parameters"))
        theta.storage.pointer.update(from: parameters.pointer, count: p)
        let lastGood = try Workspace(count: p, for: "the parameters")
        let gradient = try Workspace(count: p, for: "the gradient")
        let velocity = try Workspace(count: p, for: "the momentum")
        velocity.pointer.update(repeating: 0, count: p)
        let batchX = batch < n ? try Workspace(count: try Sizes.product(batch, a.inputDimension, "batch"), for: "a batch") : nil
        let batchY = batch < n ? try Workspace(count: try Sizes.product(batch, a.outputDimension, "batch"), for: "a batch") : nil
        var order = Array(0..<n)
        var rng = NormalGenerator(seed: o.seed)

        var result = TrainingResult(losses: [], epochsRun: 0, diverged: false, snapshotEpochs: [], kernels: [], lambdaMax: [])
        func publish(_ source: UnsafePointer<Double>) throws { try setParameters(source, count: p) }
        /// Records the snapshot of `epoch` if one is asked for; false when the handler stops training.
        func snapshot(_ epoch: Int) throws -> Bool {
            guard snapshots.contains(epoch), let probe, let probeKernel else { return true }
            try publish(theta.pointer)
            let m = probe.rows
            try EmpiricalKernel.compute(self, probe, nil, into: MutableMatrixView(unchecked: probeKernel.pointer, rows: m, cols: m, ld: max(m, 1)))
            let kernel = UnsafePointer(probeKernel.pointer)
            let lambda = try SymmetricEigen.largestEigenvalue(MatrixView(unchecked: kernel, rows: m, cols: m, ld: max(m, 1)))
            result.snapshotEpochs.append(epoch)
            result.lambdaMax.append(lambda)
            if let snapshotHandler { return try snapshotHandler(epoch, kernel, lambda) }
            result.kernels.append(Array(UnsafeBufferPointer(start: kernel, count: m * m)))
            return true
        }

        var loss = try engine.gradient(theta, x: x, y: y, loss: o.loss, into: batch == n ? gradient.pointer : nil)
        result.losses.append(loss)
        guard loss.isFinite else {
            result.diverged = true
            return result
        }
        lastGood.pointer.update(from: theta.pointer, count: p)
        guard try snapshot(0) else { return result }
        for epoch in 1...max(o.epochs, 1) where o.epochs >= 1 {
            if batch == n {
                step(theta.storage.pointer, gradient.pointer, velocity.pointer, p, o)
            } else {
                // Shuffle (Fisher–Yates on SplitMix64 words), then one step per minibatch.
                for i in stride(from: n - 1, to: 0, by: -1) {
                    let j = Int(rng.nextWord() % UInt64(i + 1))
                    order.swapAt(i, j)
                }
                for start in stride(from: 0, to: n, by: batch) {
                    let rows = min(batch, n - start)
                    guard let bx = batchX, let by = batchY else { break }
                    for (r, source) in order[start..<(start + rows)].enumerated() {
                        (bx.pointer + r * a.inputDimension).update(from: x.row(source), count: a.inputDimension)
                        (by.pointer + r * a.outputDimension).update(from: y.row(source), count: a.outputDimension)
                    }
                    let xb = MatrixView(unchecked: bx.pointer, rows: rows, cols: a.inputDimension, ld: a.inputDimension)
                    let yb = MatrixView(unchecked: by.pointer, rows: rows, cols: a.outputDimension, ld: a.outputDimension)
                    _ = try engine.gradient(theta, x: xb, y: yb, loss: o.loss, into: gradient.pointer)
                    step(theta.storage.pointer, gradient.pointer, velocity.pointer, p, o)
                }
            }
            // The loss after this epoch (and, full batch, the gradient for the next step, if any).
            let more = epoch < o.epochs
            loss = try engine.gradient(theta, x: x, y: y, loss: o.loss, into: batch == n && more ? gradient.pointer : nil)
            result.losses.append(loss)
            result.epochsRun = epoch
            if !loss.isFinite {
                result.diverged = true
                break
            }
            lastGood.pointer.update(from: theta.pointer, count: p)
            guard try snapshot(epoch) else { break }
            if let callback, !callback(epoch, loss) { break }
        }
        try publish(UnsafePointer(lastGood.pointer))
        return result
    }

    /// One (momentum) gradient step in place.
    private func step(_ theta: UnsafeMutablePointer<Double>, _ g: UnsafeMutablePointer<Double>,
                      _ v: UnsafeMutablePointer<Double>, _ p: Int, _ o: TrainingOptions) {
        if o.momentum == 0 {
            for i in 0..<p { theta[i] -= o.learningRate * g[i] }
        } else {
            for i in 0..<p {
                v[i] = o.momentum * v[i] + g[i]
                theta[i] -= o.learningRate * v[i]
            }
        }
    }
}

/// Forward pass, loss and backpropagated gradient over blocks of rows.
final class GradientEngine {
    let architecture: MLPArchitecture
    let pass: NetworkPass
    let outputGradient: Workspace
    let signals: (Workspace, Workspace)

    init(_ a: MLPArchitecture, capacity: Int) throws {
        architecture = a
        pass = try NetworkPass(a, capacity: capacity, deltas: false, derivatives: true)
        outputGradient = try Workspace(count: try Sizes.product(capacity, a.outputDimension, "gradient"), for: "output gradients")
        let widest = ([a.inputDimension, a.outputDimension] + a.hiddenWidths).max() ?? 1
        signals = (try Workspace(count: try Sizes.product(capacity, widest, "signals"), for: "backpropagated signals"),
                   try Workspace(count: try Sizes.product(capacity, widest, "signals"), for: "backpropagated signals"))
    }

    /// The loss over all rows of `x` and, if `gradient` is given, `∂L/∂θ` (P doubles).
    func gradient(_ theta: MLP.ParameterVector, x: MatrixView, y: MatrixView, loss: Loss,
                  into gradient: UnsafeMutablePointer<Double>?) throws -> Double {
        let a = architecture, k = a.outputDimension, n = x.rows
        var total = 0.0
        for start in stride(from: 0, to: n, by: pass.capacity) {
            let rows = min(pass.capacity, n - start)
            try pass.run(x.rowRange(start, start + rows), theta)
            total += loss.evaluate(pass.outputs, y.rowRange(start, start + rows), rows: rows, k: k, totalRows: n,
                                   gradient: gradient == nil ? nil : outputGradient.pointer)
            guard let gradient else { continue }
            var g = MatrixView(unchecked: UnsafePointer(outputGradient.pointer), rows: rows, cols: k, ld: k)
            var buffers = signals
            for l in stride(from: a.layerCount - 1, through: 0, by: -1) {
                let fanIn = a.fanIn(l), fanOut = a.fanOut(l), scale = a.weightScale(l)
                let (w, _) = pass.weights(l, theta)
                let gW = MutableMatrixView(unchecked: gradient + a.weightOffset(l), rows: fanIn, cols: fanOut, ld: fanOut)
                try MatrixProduct.gemm(pass.input(l), transposeA: true, g, alpha: scale, beta: start == 0 ? 0 : 1, into: gW)
                if a.hasBias {
                    let gb = gradient + a.weightOffset(l) + fanIn * fanOut, c = a.biasScale
                    if start == 0 { gb.update(repeating: 0, count: fanOut) }
                    for r in 0..<rows { for j in 0..<fanOut { gb[j] += c * g[r, j] } }
                }
                guard l > 0 else { break }
                let next = MutableMatrixView(unchecked: buffers.0.pointer, rows: rows, cols: fanIn, ld: fanIn)
                try MatrixProduct.gemm(g, w, transposeB: true, alpha: scale, into: next)
                let dphi = pass.derivativeOf(l - 1)
                for i in 0..<(rows * fanIn) { next.base[i] *= dphi[i] }
                g = next.readOnly
                buffers = (buffers.1, buffers.0)
            }
        }
        return total
    }
}
