// Training a network in place by gradient descent with kernel snapshots (see TrainingOptions):
// one loop for both of libntk's networks, the dense `MLP` and the layered `Network`.

/// A network gradient descent trains in place: its parameters, an engine for the loss and its
/// gradient, and its tangent kernel on a probe set (for the snapshots).
package protocol TrainableNetwork: AnyObject {
    /// d, the width of an input row.
    var inputDimension: Int { get }
    /// k, the number of outputs.
    var outputCount: Int { get }
    /// P, the number of parameters.
    var parameterCount: Int { get }
    /// The parameter vector in use now (a snapshot).
    var parameters: MLP.ParameterVector { get }
    /// Replaces θ by the `count` doubles at `theta` (atomically).
    func setParameters(_ theta: UnsafePointer<Double>, count: Int) throws
    /// Checks that `x` has the input width and is finite.
    func checkInput(_ x: MatrixView, _ name: String) throws
    /// The loss-and-gradient engine for batches of up to `capacity` rows.
    func lossGradientEngine(capacity: Int) throws -> any LossGradientEngine
    /// The empirical NTK (mean over outputs) of the rows of `probe` with the current parameters
    /// into `out` (m × m).
    func probeKernel(_ probe: MatrixView, into out: MutableMatrixView) throws
}

extension MLP: TrainableNetwork {
    package var inputDimension: Int { architecture.inputDimension }
    /// k, the number of outputs.
    public var outputCount: Int { architecture.outputDimension }
    /// P, the number of parameters.
    public var parameterCount: Int { architecture.parameterCount }

    package func lossGradientEngine(capacity: Int) throws -> any LossGradientEngine {
        try MLPGradientEngine(architecture, capacity: capacity)
    }

    package func probeKernel(_ probe: MatrixView, into out: MutableMatrixView) throws {
        try EmpiricalKernel.compute(self, probe, nil, into: out)
    }
}

extension Network: TrainableNetwork {
    package var inputDimension: Int { architecture.inputDimension }

    package func lossGradientEngine(capacity: Int) throws -> any LossGradientEngine {
        try NetworkGradientEngine(self, capacity: capacity)
    }

    package func probeKernel(_ probe: MatrixView, into out: MutableMatrixView) throws {
        try empiricalKernel(probe, nil, into: out)
    }
}

extension TrainableNetwork {
    /// The loss over all rows of `x` and its gradient with respect to θ (P doubles, may be nil).
    package func lossGradient(x: MatrixView, y: MatrixView, loss: Loss,
                              into gradient: UnsafeMutablePointer<Double>?) throws -> Double {
        try checkInput(x, "X")
        try checkTargets(y, rows: x.rows, loss: loss)
        let engine = try lossGradientEngine(capacity: min(max(x.rows, 1), 2048))
        return try engine.gradient(parameters, x: x, y: y, loss: loss, into: gradient)
    }

    func checkTargets(_ y: MatrixView, rows: Int, loss: Loss) throws {
        guard y.rows == rows, y.cols == outputCount else {
            throw NTKError.dimensionMismatch("Y is \(y.rows) × \(y.cols) but must be \(rows) × \(outputCount)")
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
    /// that keep the kernels elsewhere (the C API). The public Swift form is
    /// `train(x:y:options:probe:callback:)` with `Matrix` arguments.
    package func train(x: MatrixView, y: MatrixView, options o: TrainingOptions, probe: MatrixView? = nil,
                      callback: ((Int, Double) -> Bool)? = nil,
                      snapshotHandler: ((Int, UnsafePointer<Double>,
                                         Double) throws -> Bool)? = nil) throws -> TrainingResult {
        let n = x.rows, p = parameterCount
        try checkInput(x, "X")
        try checkTargets(y, rows: n, loss: o.loss)
        guard n >= 1 else { throw NTKError.invalidArgument("training needs at least one row") }
        let snapshots = try o.validatedSnapshots()
        var probeKernel: Workspace?
        if !snapshots.isEmpty {
            guard let probe else { throw NTKError.invalidArgument("kernel snapshots need a probe set") }
            try checkInput(probe, "probe")
            probeKernel = try Workspace(count: max(try Sizes.product(probe.rows, probe.rows, "probe kernel"), 1),
                                        for: "the probe kernel")
        }
        let batch = min(o.batchSize ?? n, n)
        let engine = try lossGradientEngine(capacity: min(batch, 2048))
        let theta = MLP.ParameterVector(try Workspace(count: p, for: "the parameters"))
        theta.storage.pointer.update(from: parameters.pointer, count: p)
        let lastGood = try Workspace(count: p, for: "the parameters")
        let gradient = try Workspace(count: p, for: "the gradient")
        let velocity = try Workspace(count: p, for: "the momentum")
        velocity.pointer.update(repeating: 0, count: p)
        let minibatches = batch < n ? try Minibatches(x: x, y: y, size: batch, seed: o.seed) : nil

        var result = TrainingResult(losses: [], epochsRun: 0, diverged: false, snapshotEpochs: [], kernels: [],
                                    lambdaMax: [])
        /// Records the snapshot of `epoch` if one is asked for; false when the handler stops training.
        func snapshot(_ epoch: Int) throws -> Bool {
            guard snapshots.contains(epoch), let probe, let probeKernel else { return true }
            try setParameters(theta.pointer, count: p)
            return try recordSnapshot(epoch: epoch, probe: probe, kernel: probeKernel, handler: snapshotHandler,
                                      into: &result)
        }

        Log.info("training: \(n) rows, \(p) parameters, \(o.epochs) epochs of "
                 + (batch == n ? "full-batch gradient descent" : "minibatches of \(batch) rows")
                 + ", \(o.loss) loss, learning rate \(o.learningRate), momentum \(o.momentum)")
        var loss = try engine.gradient(theta, x: x, y: y, loss: o.loss, into: batch == n ? gradient.pointer : nil)
        result.losses.append(loss)
        guard loss.isFinite else {
            result.diverged = true
            Log.warning("training: the initial loss is \(loss); nothing trained")
            return result
        }
        lastGood.pointer.update(from: theta.pointer, count: p)
        guard try snapshot(0) else { return result }
        for epoch in 1...max(o.epochs, 1) where o.epochs >= 1 {
            if let minibatches {
                try minibatches.epoch { xb, yb in
                    _ = try engine.gradient(theta, x: xb, y: yb, loss: o.loss, into: gradient.pointer)
                    step(theta.storage.pointer, gradient.pointer, velocity.pointer, p, o)
                }
            } else {
                step(theta.storage.pointer, gradient.pointer, velocity.pointer, p, o)
            }
            // The loss after this epoch (and, full batch, the gradient for the next step, if any).
            let more = epoch < o.epochs
            loss = try engine.gradient(theta, x: x, y: y, loss: o.loss,
                                       into: batch == n && more ? gradient.pointer : nil)
            result.losses.append(loss)
            result.epochsRun = epoch
            if !loss.isFinite {
                result.diverged = true
                Log.warning("training diverged at epoch \(epoch) (loss \(loss)); the network keeps the parameters of "
                            + "epoch \(epoch - 1); try a smaller learning rate")
                break
            }
            lastGood.pointer.update(from: theta.pointer, count: p)
            guard try snapshot(epoch) else { break }
            if let callback, !callback(epoch, loss) { break }
        }
        try setParameters(UnsafePointer(lastGood.pointer), count: p)
        Log.info("training: \(result.epochsRun) of \(o.epochs) epochs run, loss \(result.losses.first ?? .nan) -> "
                 + "\(result.losses.last ?? .nan)")
        return result
    }

    /// Appends the empirical NTK of `probe` (with the network's current parameters) and its
    /// largest eigenvalue to `result` — the kernel itself only without a `handler`, which
    /// otherwise receives it (valid during the call) and returns false to stop training.
    private func recordSnapshot(epoch: Int, probe: MatrixView, kernel workspace: Workspace,
                                handler: ((Int, UnsafePointer<Double>, Double) throws -> Bool)?,
                                into result: inout TrainingResult) throws -> Bool {
        let m = probe.rows
        try probeKernel(probe, into: MutableMatrixView(unchecked: workspace.pointer, rows: m, cols: m, ld: max(m, 1)))
        let kernel = UnsafePointer(workspace.pointer)
        let lambda = try SymmetricEigen.largestEigenvalue(MatrixView(unchecked: kernel, rows: m, cols: m,
                                                                     ld: max(m, 1)))
        result.snapshotEpochs.append(epoch)
        result.lambdaMax.append(lambda)
        if let handler { return try handler(epoch, kernel, lambda) }
        result.kernels.append(try Matrix(rows: m, cols: m,
                                         elements: Array(UnsafeBufferPointer(start: kernel, count: m * m))))
        return true
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

extension MLP {
    /// The loss over all rows of `x` (n × d) with targets `y` (n × k) and its gradient with
    /// respect to θ (P entries, in the layout of `MLPArchitecture`).
    public func lossGradient(x: Matrix, y: Matrix, loss: Loss = .mse) throws -> (loss: Double, gradient: [Double]) {
        try lossGradientArrays(x: x, y: y, loss: loss)
    }

    /// Trains in place (see `TrainingOptions`) on `x` (n × d) and `y` (n × k), recording the
    /// empirical NTK of the `probe` rows at `options.snapshotEpochs` into `result.kernels`;
    /// `callback(epoch, loss)` runs after every epoch and returns false to stop.
    public func train(x: Matrix, y: Matrix, options: TrainingOptions, probe: Matrix? = nil,
                      callback: ((Int, Double) -> Bool)? = nil) throws -> TrainingResult {
        try trainMatrices(x: x, y: y, options: options, probe: probe, callback: callback)
    }
}

extension Network {
    /// The loss over all rows of `x` (n × d, each row an example in NHWC order) with targets `y`
    /// (n × k) and its gradient with respect to θ (P entries, in the network's parameter layout).
    public func lossGradient(x: Matrix, y: Matrix, loss: Loss = .mse) throws -> (loss: Double, gradient: [Double]) {
        try lossGradientArrays(x: x, y: y, loss: loss)
    }

    /// Trains in place as `MLP.train` (see `TrainingOptions`): gradient descent or minibatch SGD
    /// with momentum, snapshots of the probe set's empirical NTK.
    public func train(x: Matrix, y: Matrix, options: TrainingOptions, probe: Matrix? = nil,
                      callback: ((Int, Double) -> Bool)? = nil) throws -> TrainingResult {
        try trainMatrices(x: x, y: y, options: options, probe: probe, callback: callback)
    }
}

extension TrainableNetwork {
    func lossGradientArrays(x: Matrix, y: Matrix, loss: Loss) throws -> (loss: Double, gradient: [Double]) {
        var gradient = [Double](repeating: 0, count: parameterCount)
        let value = try x.withView { xv in
            try y.withView { yv in
                try gradient.withUnsafeMutableBufferPointer { try lossGradient(x: xv, y: yv, loss: loss,
                                                                               into: $0.baseAddress) }
            }
        }
        return (value, gradient)
    }

    func trainMatrices(x: Matrix, y: Matrix, options: TrainingOptions, probe: Matrix?,
                       callback: ((Int, Double) -> Bool)?) throws -> TrainingResult {
        try x.withView { xv in
            try y.withView { yv in
                try Matrix.withOptionalView(probe) { try train(x: xv, y: yv, options: options, probe: $0,
                                                               callback: callback) }
            }
        }
    }
}
