// The experimental spectral calculus (ntk_x_spectrum_*): the core's `Spectrum` on an
// eigendecomposition the caller computed (libntk_mpi's distributed one). Validation and
// marshalling only.
import CNTK
import NTK

/// The core's `Spectrum` of an `ntk_x_spectrum *`.
private func spectrum(_ p: UnsafePointer<ntk_x_spectrum>?) throws -> Spectrum {
    let s = try required(p, "spectrum")
    let count = try size(s.count, "spectrum->count"), n = try size(s.n, "spectrum->n"), k = try size(s.k, "spectrum->k")
    let eigenvalues = try inputVector(s.eigenvalues, count, "spectrum->eigenvalues")
    let projected = try input(s.projected, count, k, ld: s.ldp, "spectrum->projected")
    var p = [Double](repeating: 0, count: try Sizes.product(count, k, "spectrum->count * spectrum->k"))
    for i in 0..<count { for c in 0..<k { p[i * k + c] = projected.base[i * projected.ld + c] } }
    for (i, lambda) in eigenvalues.enumerated() where !(lambda.isFinite && lambda >= 0) {
        throw NTKError(.invalidArgument,
                       "spectrum->eigenvalues[\(i)] is \(lambda): eigenvalues must be finite and >= 0 "
                           + "(ntk_x_spectrum_regularize)")
    }
    guard count <= max(n, 1) || count == 0 else {
        throw NTKError(.invalidArgument, "spectrum->count = \(count) exceeds spectrum->n = \(n)")
    }
    return try Spectrum(eigenvalues: eigenvalues, points: n, projected: p, outputs: k, outsideSpan: s.outside)
}

/// A ridge grid of `count` values (`inputVector` bounds it).
private func ridgeGrid(_ count: Int64, _ ridges: UnsafePointer<Double>?) throws -> [Double] {
    try inputVector(ridges, try size(count, "ridge_count"), "ridges")
}

@_cdecl("ntk_x_spectrum_regularize")
public func ntk_x_spectrum_regularize(_ count: Int64, _ w: UnsafeMutablePointer<Double>?,
                                      _ policy: ntk_negative_eigenvalues,
                                      _ nullCount: UnsafeMutablePointer<Int64>?,
                                      _ cutoff: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_x_spectrum_regularize") {
        let count = try size(count, "count")
        let raw = try inputVector(w.map { UnsafePointer($0) }, count, "w")
        for (i, v) in raw.enumerated() where !v.isFinite {
            throw NTKError(.nonFinite, "w[\(i)] is \(v), must be finite")
        }
        let r = try Spectrum.regularize(raw, rejectNegative: try negativePolicy(policy) == .error)
        for i in 0..<count { w![i] = r.values[i] }
        nullCount?.pointee = Int64(r.nullCount)
        cutoff?.pointee = r.cutoff
    }
}

@_cdecl("ntk_x_spectrum_filter")
public func ntk_x_spectrum_filter(_ spectrumIn: UnsafePointer<ntk_x_spectrum>?, _ grid: UnsafePointer<ntk_grid>?,
                                  _ form: ntk_x_filter_form, _ out: UnsafeMutablePointer<Double>?,
                                  _ ldo: Int64) -> Int32 {
    boundary("ntk_x_spectrum_filter") {
        let s = try spectrum(spectrumIn)
        let shrink = try shrinks(form)
        let filters = try filterGrid(grid, s.targetEntries)
        let width = try Sizes.product(filters.count, s.outputs, "grid->count * k")
        try s.filteredTargets(filters, shrink: shrink, into: try output(out, s.count, width, ld: ldo, "out"))
    }
}

@_cdecl("ntk_x_spectrum_gcv")
public func ntk_x_spectrum_gcv(_ spectrumIn: UnsafePointer<ntk_x_spectrum>?, _ ridgeCount: Int64,
                               _ ridges: UnsafePointer<Double>?, _ scores: UnsafeMutablePointer<Double>?,
                               _ best: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_x_spectrum_gcv") {
        let s = try spectrum(spectrumIn)
        let grid = try ridgeGrid(ridgeCount, ridges)
        let out = try outputVector(scores, grid.count, "scores")
        let values = try s.gcvScores(grid)
        for (i, v) in values.enumerated() { out[i] = v }
        let selection = try RidgeSelection(ridges: grid, scores: values, criterion: .gcv)
        best?.pointee = Int64(selection.index)
    }
}

@_cdecl("ntk_x_spectrum_loo_terms")
public func ntk_x_spectrum_loo_terms(_ spectrumIn: UnsafePointer<ntk_x_spectrum>?, _ ridgeCount: Int64,
                                     _ ridges: UnsafePointer<Double>?, _ inverse: UnsafeMutablePointer<Double>?,
                                     _ ldi: Int64,
                                     _ scaled: UnsafeMutablePointer<Double>?, _ lds: Int64) -> Int32 {
    boundary("ntk_x_spectrum_loo_terms") {
        let s = try spectrum(spectrumIn)
        let grid = try ridgeGrid(ridgeCount, ridges)
        let g = grid.count, width = try Sizes.product(g, s.outputs, "ridge_count * k")
        let inverseOut = try output(inverse, s.count, g, ld: ldi, "inverse")
        let scaledOut = try output(scaled, s.count, width, ld: lds, "scaled")
        let terms = try s.looTerms(grid)
        for i in 0..<s.count {
            for j in 0..<g { inverseOut.base[i * inverseOut.ld + j] = terms.inverse[i * g + j] }
            for c in 0..<width { scaledOut.base[i * scaledOut.ld + c] = terms.scaled[i * width + c] }
        }
    }
}

@_cdecl("ntk_x_spectrum_loo")
public func ntk_x_spectrum_loo(_ spectrumIn: UnsafePointer<ntk_x_spectrum>?, _ ridgeCount: Int64,
                               _ ridges: UnsafePointer<Double>?, _ diagonals: UnsafePointer<Double>?, _ ldd: Int64,
                               _ solutions: UnsafePointer<Double>?, _ ldsol: Int64,
                               _ scores: UnsafeMutablePointer<Double>?, _ best: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_x_spectrum_loo") {
        let s = try spectrum(spectrumIn)
        let grid = try ridgeGrid(ridgeCount, ridges)
        let g = grid.count, width = try Sizes.product(g, s.outputs, "ridge_count * k")
        let terms = try s.looTerms(grid)
        let d = try input(diagonals, s.count, g, ld: ldd, "diagonals")
        let x = try input(solutions, s.count, width, ld: ldsol, "solutions")
        let out = try outputVector(scores, g, "scores")
        let values = try s.looScores(grid, singular: terms.singular, diagonals: d, solutions: x)
        for (i, v) in values.enumerated() { out[i] = v }
        let selection = try RidgeSelection(ridges: grid, scores: values, criterion: .leaveOneOut)
        best?.pointee = Int64(selection.index)
    }
}
