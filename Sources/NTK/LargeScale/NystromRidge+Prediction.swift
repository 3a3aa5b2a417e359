/// Predictions of a fitted `NystromRidge` (the fitted ridge, or every filter of a path), its
/// coefficients and GCV ridge selection.
extension NystromRidge {
    /// `f₀ + K(x, C) β` for the fitted ridge into `out` (rows × k); `cross` is the test points'
    /// kernel against the centres (m × c).
    public func predict(cross: CrossKernel, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(cross: cross, offsets: offsets, coefficients: coefficients.matrix(centerCount, outputs).readOnly,
                    count: 1, into: out.base, ld: out.ld, shape: out, progress: progress)
    }

    /// Test predictions on points (models fitted on points only).
    /// - Throws: `invalidArgument` for a model fitted on a stored cross-kernel;
    ///   `dimensionMismatch`; `nonFinite`.
    public func predict(x: MatrixView, offsets: MatrixView?, into out: MutableMatrixView,
                        progress: ProgressHandler = .none) throws {
        try predict(cross: try crossKernel(x: x), offsets: offsets, into: out, progress: progress)
    }

    /// `K(x, C)` of a model fitted on points, as a cross-kernel computed block by block.
    public func crossKernel(x: MatrixView) throws -> CrossKernel {
        guard let kernel, let centerPoints else {
            throw NTKError.invalidArgument("this Nyström model was fitted on a precomputed kernel: pass K(X_test, C) "
                                           + "instead of points")
        }
        try InputCheck.finite(x, "X_test")
        let points = MatrixView(unchecked: UnsafePointer(centerPoints.pointer), rows: centerCount,
                           cols: kernel.inputDimension,
                           ld: max(kernel.inputDimension, 1))
        return try ComputedCrossKernel(kernel, x: x, centers: points)
    }

    /// Predictions of every filter (ridge z, time t; eq. 22 with the Nyström kernel) into
    /// `out`, contiguous `filters × m × k` (`.direct` models only). One pass over the test rows.
    public func predictPath(cross: CrossKernel, offsets: MatrixView?, filters: [SpectralFilter],
                            into out: UnsafeMutablePointer<Double>, progress: ProgressHandler = .none) throws {
        let c = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try pathCoefficients(filters)
        let k = outputs, shape = MutableMatrixView(unchecked: out, rows: cross.rows, cols: k, ld: max(k, 1))
        try predict(cross: cross, offsets: offsets, coefficients: beta.matrix(c, width).readOnly, count: filters.count,
                    into: out, ld: max(k, 1), shape: shape, progress: progress)
    }

    /// β of every filter side by side (c × filters·k). - Throws: `invalidArgument` for a CG model.
    private func pathCoefficients(_ filters: [SpectralFilter]) throws -> Workspace {
        guard let direct else {
            throw NTKError.invalidArgument(
                "ridge paths and gradient flow need the direct Nyström solver (this model was fitted by conjugate "
                    + "gradients)")
        }
        let c = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try Workspace(count: try Sizes.product(c, max(width, 1), "path coefficients"),
                                 for: "the path coefficients")
        try Self.filteredCoefficients(direct, factor: factor, filters: filters, into: beta.matrix(c, width))
        return beta
    }

    /// β of every filter into `out`, contiguous `filters × c × k` (`.direct` models only):
    /// predictions are `f₀(x) + K(x, C) β_f`.
    public func pathCoefficients(filters: [SpectralFilter], into out: UnsafeMutablePointer<Double>) throws {
        let c = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try pathCoefficients(filters)
        let k = outputs
        for f in 0..<filters.count {
            for i in 0..<c {
                for j in 0..<k { out[(f * c + i) * k + j] = beta.pointer[i * width + f * k + j] }
            }
        }
    }

    /// The shared prediction loop: for `count` coefficient sets side by side in `coefficients`
    /// (c × count·k), writes set f's predictions at `out + f·m·ld` (m × k, leading dimension ld).
    private func predict(cross: CrossKernel, offsets: MatrixView?, coefficients: MatrixView, count: Int,
                         into out: UnsafeMutablePointer<Double>, ld: Int, shape: MutableMatrixView,
                         progress: ProgressHandler) throws {
        let m = cross.rows, k = outputs, c = centerCount
        guard cross.columns == c else {
            throw NTKError.dimensionMismatch("the test kernel has \(cross.columns) columns but the model has "
                                             + "\(c) centres")
        }
        guard shape.rows == m, shape.cols == k else {
            throw NTKError.dimensionMismatch("the prediction output is \(shape.rows) × \(shape.cols) but must be "
                                             + "\(m) × \(k)")
        }
        if let offsets, offsets.rows != m || offsets.cols != k {
            throw NTKError.dimensionMismatch("f0_test is \(offsets.rows) × \(offsets.cols) but must be \(m) × \(k)")
        }
        if let offsets { try InputCheck.finite(offsets, "f0_test") }
        let width = count * k
        try progress.report(0)
        if m == 0 || width == 0 { return try progress.report(1) }
        let budget = MemoryBudget.processDefault
        let rowBytes = (c + width) * 8
        let rows = max(1, min(m, 4096, max(64, budget / max(rowBytes, 1) / 2)))
        let scratch = cross.computesBlocks ? try Workspace(count: try Sizes.product(rows, c, "kernel block"),
                                                           for: "a block of test kernel rows") : nil
        let products = try Workspace(count: try Sizes.product(rows, width, "block predictions"),
                                     for: "block predictions")
        for r0 in stride(from: 0, to: m, by: rows) {
            let r = r0..<min(r0 + rows, m)
            let kb = try cross.block(r, scratch: scratch?.matrix(r.count, c) ?? emptyScratch(columns: c))
            let pb = products.matrix(r.count, width)
            try MatrixProduct.gemm(kb, coefficients, into: pb)
            try scatterPredictions(pb, rows: r, groups: count, outputs: k, total: m, offsets: offsets, into: out,
                                   ld: ld,
                                   "the Nyström predictions")
            try progress.report(Double(r.upperBound) / Double(m))
        }
    }

    /// The eigenvalues of the Nyström kernel's non-trivial part (c, ascending; `.direct` only).
    public var eigenvalues: [Double]? { direct?.spectrum.eigenvalues }

    /// GCV (`Spectrum.gcvScores` with the Nyström kernel K̃) of each ridge and the best of them.
    /// O(c·k) per ridge, no pass over the data.
    /// - Throws: `invalidArgument` (empty grid, bad ridges, a CG model); `numericalFailure`
    ///   when no ridge has a finite score.
    public func selectRidge(ridges: [Double]) throws -> RidgeSelection {
        guard let direct else {
            throw NTKError.invalidArgument(
                "ridge selection needs the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        return try RidgeSelection(ridges: ridges, scores: try direct.spectrum.gcvScores(ridges), criterion: .gcv)
    }

    /// Copies β (c × k) into `out`.
    public func copyCoefficients(into out: MutableMatrixView) throws {
        guard out.rows == centerCount, out.cols == outputs else {
            throw NTKError.dimensionMismatch("the coefficient output is \(out.rows) × \(out.cols) but must be "
                                             + "\(centerCount) × \(outputs)")
        }
        for i in 0..<centerCount { (out.base + i * out.ld).update(from: coefficients.pointer + i * outputs,
                                                                  count: outputs) }
    }
}

extension NystromRidge {
    /// Fits on the rows of `x` with `Matrix` values; see `fit(kernel:x:targets:ridge:centers:...)`.
    public static func fit(kernel: PointKernel, x: Matrix, y: Matrix, f0: Matrix? = nil, ridge: Double, centers c: Int,
                           selection: NystromCenters.Selection = .uniform, seed: UInt64 = 0,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        try x.withView { xv in
            try Targets.with(y, f0) { targets in
                try fit(kernel: kernel, x: xv, targets: targets, ridge: ridge, centers: c, selection: selection,
                        seed: seed, options: options, progress: progress)
            }
        }
    }

    /// Predictions `f₀ + K(x, C) β` (m × k) at the rows of `x`.
    public func predict(x: Matrix, f0: Matrix? = nil) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: outputs)
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try out.withMutableView { try predict(x: xv, offsets: f,
                                                                                         into: $0) } }
        }
        return out
    }

    /// Predictions of every filter at the rows of `x`, one m × k matrix per filter.
    public func predictPath(x: Matrix, f0: Matrix? = nil, filters: [SpectralFilter]) throws -> [Matrix] {
        let m = x.rows, k = outputs
        let size = try Sizes.product(try Sizes.product(filters.count, m, "path size"), k, "path size")
        let out = try Workspace(count: size, for: "the path predictions")
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try predictPath(cross: try crossKernel(x: xv), offsets: f,
                                                                   filters: filters, into: out.pointer) }
        }
        return try (0..<filters.count).map { i in
            try Matrix(rows: m, cols: k,
                       elements: Array(UnsafeBufferPointer(start: out.pointer + i * m * k, count: m * k)))
        }
    }

    /// β (c × k).
    public func coefficientMatrix() throws -> Matrix {
        var out = try Matrix(rows: centerCount, cols: outputs)
        try out.withMutableView { try copyCoefficients(into: $0) }
        return out
    }
}
