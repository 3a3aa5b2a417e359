/// Training an MLP by gradient descent (eq. 6-7 in docs/equations.md), with snapshots of its tangent
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
    /// The loss minimised.
    public var loss: Loss
    /// η > 0.
    public var learningRate: Double
    /// Passes over the training rows, ≥ 0.
    public var epochs: Int
    /// Rows per step; nil (or ≥ n): full-batch gradient descent.
    public var batchSize: Int?
    /// μ in [0, 1).
    public var momentum: Double
    /// Seeds the minibatch shuffles.
    public var seed: UInt64
    /// Epochs (0…epochs) after which the empirical NTK of the probe set is recorded.
    public var snapshotEpochs: [Int]

    /// Options with the defaults of the C API and of Python.
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

    /// The snapshot epochs, sorted and without repeats. - Throws: `invalidArgument` unless
    /// η > 0 is finite, μ ∈ [0, 1), epochs ≥ 0, the batch size ≥ 1 and every snapshot epoch lies
    /// in 0...epochs.
    func validatedSnapshots() throws -> [Int] {
        try InputCheck.finite(learningRate, "learning rate")
        guard learningRate > 0 else { throw NTKError.invalidArgument("learning rate must be > 0, got \(learningRate)") }
        try InputCheck.finite(momentum, "momentum")
        guard momentum >= 0, momentum < 1 else {
            throw NTKError.invalidArgument("momentum must be in [0, 1), got \(momentum)")
        }
        guard epochs >= 0 else { throw NTKError.invalidArgument("epochs must be ≥ 0, got \(epochs)") }
        if let b = batchSize, b < 1 { throw NTKError.invalidArgument("batch size must be ≥ 1, got \(b)") }
        let snapshots = Array(Set(snapshotEpochs)).sorted()
        if let bad = snapshots.first(where: { $0 < 0 || $0 > epochs }) {
            throw NTKError.invalidArgument("snapshot epoch \(bad) is outside 0...\(epochs)")
        }
        return snapshots
    }
}

/// What a training run did.
public struct TrainingResult: Sendable {
    /// Loss on all training rows after each epoch; `epochsRun + 1` entries.
    public var losses: [Double]
    /// Epochs completed (fewer than asked when stopped or diverged).
    public var epochsRun: Int
    /// Whether the loss became NaN or infinite (the network keeps the last finite parameters).
    public var diverged: Bool
    /// The snapshot epochs reached, and for each the probe kernel (m × m, row-major; empty when
    /// a snapshot handler received them) and its largest eigenvalue.
    public var snapshotEpochs: [Int]
    /// The probe kernels (m × m) of the snapshots reached.
    public var kernels: [Matrix]
    /// The largest eigenvalue of each snapshot kernel.
    public var lambdaMax: [Double]
}
