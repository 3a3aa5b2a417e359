/// Predictions of a fitted `NystromRidge` (the fitted ridge, or every filter of a path), its
/// coefficients and GCV ridge selection.
extension NystromRidge {
    /// `f₀ + K(x, C) β` for the fitted ridge into `out` (rows × k); `cross` is the test points'
    /// kernel against the centres (t × m).
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
        let c = MatrixView(unchecked: UnsafePointer(centerPoints.pointer), rows: centerCount,
                           cols: kernel.inputDimension,
                           ld: max(kernel.inputDimension, 1))
        return try ComputedCrossKernel(kernel, x: x, centers: c)
    }

    /// Predictions of every filter (ridge z, time t; eq. 22 with the Nyström kernel) into
    /// `out`, contiguous `filters × t × k` (`.direct` models only). One pass over the test rows.
    public func predictPath(cross: CrossKernel, offsets: MatrixView?, filters: [SpectralFilter],
                            into out: UnsafeMutablePointer<Double>, progress: ProgressHandler = .none) throws {
        let m = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try pathCoefficients(filters)
        let k = outputs, shape = MutableMatrixView(unchecked: out, rows: cross.rows, cols: k, ld: max(k, 1))
        try predict(cross: cross, offsets: offsets, coefficients: beta.matrix(m, width).readOnly, count: filters.count,
                    into: out, ld: max(k, 1), shape: shape, progress: progress)
    }

    /// β of every filter side by side (m × filters·k). - Throws: `invalidArgument` for a CG model.
    private func pathCoefficients(_ filters: [SpectralFilter]) throws -> Workspace {
        guard let direct else {
            throw NTKError.invalidArgument(
                "ridge paths and gradient flow need the direct Nyström solver (this model was fitted by conjugate "
                    + "gradients)")
        }
        let m = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try Workspace(count: try Sizes.product(m, max(width, 1), "path coefficients"),
                                 for: "the path coefficients")
        try Self.filteredCoefficients(direct, factor: factor, filters: filters, into: beta.matrix(m, width))
        return beta
    }

    /// β of every filter into `out`, contiguous `filters × m × k` (`.direct` models only):
    /// predictions are `f₀(x) + K(x, C) β_f`.
    public func pathCoefficients(filters: [SpectralFilter], into out: UnsafeMutablePointer<Double>) throws {
        let m = centerCount, width = try Sizes.product(filters.count, outputs, "filters × outputs")
        let beta = try pathCoefficients(filters)
        let k = outputs
        for f in 0..<filters.count {
            for i in 0..<m {
                for c in 0..<k { out[(f * m + i) * k + c] = beta.pointer[i * width + f * k + c] }
            }
        }
    }

    /// The shared prediction loop: for `count` coefficient sets side by side in `coefficients`
    /// (m × count·k), writes set f's predictions at `out + f·t·ld` (t × k, leading dimension ld).
    private func predict(cross: CrossKernel, offsets: MatrixView?, coefficients: MatrixView, count: Int,
                         into out: UnsafeMutablePointer<Double>, ld: Int, shape: MutableMatrixView,
                         progress: ProgressHandler) throws {
        let t = cross.rows, k = outputs, m = centerCount
        guard cross.columns == m else {
            throw NTKError.dimensionMismatch("the test kernel has \(cross.columns) columns but the model has "
                                             + "\(m) centres")
        }
        guard shape.rows == t, shape.cols == k else {
            throw NTKError.dimensionMismatch("the prediction output is \(shape.rows) × \(shape.cols) but must be "
                                             + "\(t) × \(k)")
        }
        if let offsets, offsets.rows != t || offsets.cols != k {
            throw NTKError.dimensionMismatch("f0_test is \(offsets.rows) × \(offsets.cols) but must be \(t) × \(k)")
        }
        if let offsets { try InputCheck.finite(offsets, "f0_test") }
        let width = count * k
        try progress.report(0)
        if t == 0 || width == 0 { return try progress.report(1) }
        let budget = MemoryBudget.processDefault
        let rowBytes = (m + width) * 8
        let rows = max(1, min(t, 4096, max(64, budget / max(rowBytes, 1) / 2)))
        let scratch = cross.computesBlocks ? try Workspace(count: try Sizes.product(rows, m, "kernel block"),
                                                           for: "a block of test kernel rows") : nil
        let products = try Workspace(count: try Sizes.product(rows, width, "block predictions"),
                                     for: "block predictions")
        for r0 in stride(from: 0, to: t, by: rows) {
            let r = r0..<min(r0 + rows, t)
            let kb = try cross.block(r, scratch: scratch?.matrix(r.count, m) ?? emptyScratch(columns: m))
            let pb = products.matrix(r.count, width)
            try MatrixProduct.gemm(kb, coefficients, into: pb)
            try scatterPredictions(pb, rows: r, groups: count, outputs: k, total: t, offsets: offsets, into: out,
                                   ld: ld,
                                   "the Nyström predictions")
            try progress.report(Double(r.upperBound) / Double(t))
        }
    }

    /// The eigenvalues of the Nyström kernel's non-trivial part (m, ascending; `.direct` only).
    public var eigenvalues: [Double]? { direct?.spectrum.eigenvalues }

    /// GCV (`Spectrum.gcvScores` with the Nyström kernel K̃) of each ridge and the best of them.
    /// O(m·k) per ridge, no pass over the data.
    /// - Throws: `invalidArgument` (empty grid, bad ridges, a CG model); `numericalFailure`
    ///   when no ridge has a finite score.
    public func selectRidge(ridges: [Double]) throws -> RidgeSelection {
        guard let direct else {
            throw NTKError.invalidArgument(
                "ridge selection needs the direct Nyström solver (this model was fitted by conjugate gradients)")
        }
        return try RidgeSelection(ridges: ridges, scores: try direct.spectrum.gcvScores(ridges), criterion: .gcv)
    }

    /// Copies β (m × k) into `out`.
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
    public static func fit(kernel: PointKernel, x: Matrix, y: Matrix, f0: Matrix? = nil, ridge: Double, centers m: Int,
                           selection: NystromCenters.Selection = .uniform, seed: UInt64 = 0,
                           options: Options = Options(), progress: ProgressHandler = .none) throws -> NystromRidge {
        try x.withView { xv in
            try Targets.with(y, f0) { t in
                try fit(kernel: kernel, x: xv, targets: t, ridge: ridge, centers: m, selection: selection, seed: seed,
                        options: options, progress: progress)
            }
        }
    }

    /// Predictions `f₀ + K(x, C) β` (t × k) at the rows of `x`.
    public func predict(x: Matrix, f0: Matrix? = nil) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: outputs)
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try out.withMutableView { try predict(x: xv, offsets: f,
                                                                                         into: $0) } }
        }
        return out
    }

    /// Predictions of every filter at the rows of `x`, one t × k matrix per filter.
    public func predictPath(x: Matrix, f0: Matrix? = nil, filters: [SpectralFilter]) throws -> [Matrix] {
        let t = x.rows, k = outputs
        let size = try Sizes.product(try Sizes.product(filters.count, t, "path size"), k, "path size")
        let out = try Workspace(count: size, for: "the path predictions")
        try x.withView { xv in
            try Matrix.withOptionalView(f0) { f in try predictPath(cross: try crossKernel(x: xv), offsets: f,
                                                                   filters: filters, into: out.pointer) }
        }
        return try (0..<filters.count).map { i in
            try Matrix(rows: t, cols: k,
                       elements: Array(UnsafeBufferPointer(start: out.pointer + i * t * k, count: t * k)))
        }
    }

    /// β (m × k).
    public func coefficientMatrix() throws -> Matrix {
        var out = try Matrix(rows: centerCount, cols: outputs)
        try out.withMutableView { try copyCoefficients(into: $0) }
        return out
    }
}
