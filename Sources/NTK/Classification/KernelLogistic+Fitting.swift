/// Fitting a `KernelLogistic` on a dense kernel or on Nyström centres, at one ridge or selecting
/// it from a grid by the approximate leave-one-out log loss.
extension KernelLogistic {
    /// Fits on a dense kernel `kTrain` (n × n, symmetric positive semi-definite; one
    /// eigendecomposition, then Newton). With `ridges`, every grid ridge is fitted and the one
    /// with the smallest approximate LOO log loss is kept (`ridgeScores` holds every score);
    /// else `ridge` is fitted. Needs 5 n² doubles of the memory budget (`memoryLimit`, nil: the
    /// process-wide budget). - Throws: `invalidArgument` (ridge ≤ 0, settings, labels),
    /// `dimensionMismatch`, `nonFinite`, `notPositiveDefinite` (a kernel with no positive
    /// eigenvalue), `numericalFailure`, `outOfMemory` (before any work), `tooLarge`, `cancelled`.
    public static func fit(kTrain: MatrixView, labels: ClassLabels, ridge: Double, ridges: [Double]? = nil,
                           settings: Settings = Settings(), memoryLimit: Int? = nil,
                           progress: ProgressHandler = .none) throws -> KernelLogistic {
        try InputCheck.square(kTrain, "K_train")
        guard kTrain.rows == labels.rows else {
            throw NTKError.dimensionMismatch("there are \(labels.rows) labels but K_train is \(kTrain.rows) × "
                                             + "\(kTrain.rows)")
        }
        try settings.check()
        try checkRidges(ridge, ridges)
        // The eigendecomposition (vectors and LAPACK's workspace, 3 n²), then Φ and B (2 n²).
        let n = kTrain.rows
        try MemoryBudget.require(try Sizes.product(40, try Sizes.product(n, n, "n^2"), "bytes"),
                                 within: try MemoryBudget.resolve(memoryLimit),
                                 for: "dense kernel logistic regression of \(n) points (5 n² doubles; for larger n "
                                     + "fit on Nyström centres)")
        let features = try KernelFeatures.dense(kTrain, progress: progress.stage(0, 0.3))
        return try fit(features, labels, ridge, ridges, settings, memoryLimit, progress.stage(0.3, 1))
    }

    /// Fits on the Nyström features of a cross-kernel `K(X, C)` (n × c) and the centres' kernel
    /// `K(C, C)` (c × c): memory O(n c), never n × n. Ridge and grid as for the dense fit.
    /// - Throws: as the dense fit; `notPositiveDefinite` when K_mm is singular beyond jitter.
    public static func fit(cross: CrossKernel, kCenters: MatrixView, labels: ClassLabels, ridge: Double,
                           ridges: [Double]? = nil, settings: Settings = Settings(), memoryLimit: Int? = nil,
                           progress: ProgressHandler = .none) throws -> KernelLogistic {
        guard cross.rows == labels.rows else {
            throw NTKError.dimensionMismatch("there are \(labels.rows) labels but K_nm has \(cross.rows) rows")
        }
        try settings.check()
        try checkRidges(ridge, ridges)
        let budget = try MemoryBudget.resolve(memoryLimit)
        let c = cross.columns, n = cross.rows
        try MemoryBudget.require(8 * (try Sizes.sum(try Sizes.product(n, c, "features"),
                                                    try Sizes.product(3 * c, c, "centre matrices"), "features")),
                                 within: budget, for: "Nyström kernel logistic regression with \(c) centres")
        let features = try KernelFeatures.nystrom(cross: cross, kCenters: kCenters, progress: progress.stage(0, 0.3))
        return try fit(features, labels, ridge, ridges, settings, memoryLimit, progress.stage(0.3, 1))
    }

    /// Fits on c centre points C (c × d, any points) of a `PointKernel` (e.g. an infinite-width
    /// NTK): `K(X, C)` is computed block by block straight into the features, so the memory is the
    /// features (n c doubles) and the centres' matrices (3 c²), never a stored cross-kernel.
    /// - Throws: as the Nyström fit; `dimensionMismatch` (X or C without the kernel's input
    ///   dimension), `invalidArgument` (no centres), `nonFinite`.
    public static func fit(kernel: PointKernel, x: MatrixView, centers: MatrixView, labels: ClassLabels,
                           ridge: Double, ridges: [Double]? = nil, settings: Settings = Settings(),
                           memoryLimit: Int? = nil, progress: ProgressHandler = .none) throws -> KernelLogistic {
        guard centers.rows >= 1 else { throw NTKError.invalidArgument("the number of centres must be >= 1") }
        let cross = try ComputedCrossKernel(kernel, x: x, centers: centers)
        try InputCheck.finite(x, "X")
        try InputCheck.finite(centers, "C")
        let c = centers.rows
        let kmm = try Workspace(count: try Sizes.product(c, c, "centre kernel"), for: "the centres' kernel")
        try kernel.evaluate(centers, nil, into: kmm.matrix(c, c), progress: .none)
        return try fit(cross: cross, kCenters: kmm.matrix(c, c).readOnly, labels: labels, ridge: ridge, ridges: ridges,
                       settings: settings, memoryLimit: memoryLimit, progress: progress)
    }

    private static func checkRidges(_ ridge: Double, _ ridges: [Double]?) throws {
        for z in ridges ?? [ridge] {
            try InputCheck.finite(z, "ridge")
            guard z > 0 else {
                throw NTKError.invalidArgument("the ridge must be > 0 for cross-entropy, got \(z): without it the "
                                               + "minimiser does not exist on separable data")
            }
        }
        if let ridges, ridges.isEmpty { throw NTKError.invalidArgument("the ridge grid is empty") }
    }

    private static func fit(_ features: KernelFeatures, _ labels: ClassLabels, _ ridge: Double, _ ridges: [Double]?,
                            _ settings: Settings, _ memoryLimit: Int?, _ progress: ProgressHandler) throws
        -> KernelLogistic {
        guard let ridges else {
            return try KernelLogistic(features: features, labels: labels, ridge: ridge, settings: settings,
                                      progress: progress)
        }
        let (model, scores) = try select(features: features, labels: labels, ridges: ridges, settings: settings,
                                         memoryLimit: memoryLimit, progress: progress)
        model.ridgeScores = scores
        return model
    }
}

extension KernelLogistic {
    /// Fits on a dense kernel given as a `Matrix`, labels in 0..<classes and optional offsets.
    public static func fit(kTrain: Matrix, labels: [Int], classes: Int, f0Train: Matrix? = nil, ridge: Double,
                           ridges: [Double]? = nil, settings: Settings = Settings()) throws -> KernelLogistic {
        try kTrain.withView { k in
            try Matrix.withOptionalView(f0Train) {
                try fit(kTrain: k, labels: try ClassLabels(labels, classes: classes, offsets: $0), ridge: ridge,
                        ridges: ridges, settings: settings)
            }
        }
    }

    /// Test logits `f₀_test + K_test β` (m × k) as a new matrix.
    public func predict(kTest: Matrix, f0Test: Matrix? = nil) throws -> Matrix {
        var out = try Matrix(rows: kTest.rows, cols: classes)
        try TestKernel.with(kTest, f0Test) { test in try out.withMutableView { try predict(test: test, into: $0) } }
        return out
    }

    /// The train logits (n × k).
    public func trainLogitMatrix() throws -> Matrix {
        var out = try Matrix(rows: n, cols: classes)
        try out.withMutableView { try copyTrainLogits(into: $0) }
        return out
    }

    /// The coefficients β (c × k).
    public func coefficientMatrix() throws -> Matrix {
        var out = try Matrix(rows: columns, cols: classes)
        try out.withMutableView { try copyCoefficients(into: $0) }
        return out
    }
}
