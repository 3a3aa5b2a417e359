// A model described by C callbacks (ntk_model_*): the tangent kernel, kernel ridge and gradient
// flow of any model through its Jacobian–vector products. Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_model_callbacks`, as `ntk_model_callbacks_init` writes them.
var modelCallbackDefaults: ntk_model_callbacks {
    ntk_model_callbacks(size: MemoryLayout<ntk_model_callbacks>.size, n_params: 0, k: 1, jvp: nil, vjp: nil,
                        forward: nil, jacobian: nil, user: nil, block_rows: 256, thread_safe: 0)
}

/// A `TangentModel` whose products are the caller's C callbacks. A non-zero return becomes
/// `callbackFailed`, naming the callback, its return value and the rows it was given.
final class CallbackModel: TangentModel, @unchecked Sendable {
    let callbacks: ntk_model_callbacks
    let jvpFunction: ntk_model_product_fn
    let vjpFunction: ntk_model_product_fn
    let parameterCount: Int
    let outputCount: Int
    let blockRows: Int
    var isThreadSafe: Bool { callbacks.thread_safe != 0 }
    var hasForward: Bool { callbacks.forward != nil }
    var hasJacobian: Bool { callbacks.jacobian != nil }

    init(_ c: ntk_model_callbacks) throws {
        guard c.n_params >= 1 else {
            throw NTKError(.invalidArgument, "callbacks->n_params must be >= 1, got \(c.n_params)")
        }
        guard c.k >= 1 else { throw NTKError(.invalidArgument, "callbacks->k must be >= 1, got \(c.k)") }
        guard c.block_rows >= 1 else {
            throw NTKError(.invalidArgument, "callbacks->block_rows must be >= 1, got \(c.block_rows)")
        }
        guard let jvp = c.jvp else { throw NTKError(.invalidArgument, "callbacks->jvp is NULL") }
        guard let vjp = c.vjp else { throw NTKError(.invalidArgument, "callbacks->vjp is NULL") }
        guard c.n_params <= Int64(Int32.max), c.k <= Int64(Int32.max) else {
            throw NTKError(.tooLarge, "callbacks->n_params = \(c.n_params) and k = \(c.k) must be below 2^31")
        }
        callbacks = c
        jvpFunction = jvp
        vjpFunction = vjp
        parameterCount = Int(c.n_params)
        outputCount = Int(c.k)
        blockRows = Int(min(c.block_rows, Int64(Int32.max)))
    }

    /// Calls `body` with the rows as `int64_t`s and turns a non-zero return into an error.
    private func call(_ name: String, _ rows: [Int], _ body: (Int64, UnsafePointer<Int64>) -> Int32) throws {
        let indices = rows.map { Int64($0) }
        let status = indices.withUnsafeBufferPointer { body(Int64(rows.count), $0.baseAddress!) }
        guard status == 0 else {
            let first = rows.first.map { "\($0)" } ?? "none"
            throw NTKError(.callbackFailed, "the model's \(name) callback returned \(status) (on \(rows.count) "
                           + "row(s) from index \(first))")
        }
    }

    func jvp(rows: [Int], tangents: MatrixView, into out: MutableMatrixView) throws {
        try call("jvp", rows) { jvpFunction(callbacks.user, $0, $1, Int64(tangents.rows), tangents.base, out.base) }
    }

    func vjp(rows: [Int], cotangents: MatrixView, into out: MutableMatrixView) throws {
        try call("vjp", rows) {
            vjpFunction(callbacks.user, $0, $1, Int64(cotangents.rows), cotangents.base, out.base)
        }
    }

    func forward(rows: [Int], into out: MutableMatrixView) throws {
        guard let forward = callbacks.forward else {
            throw NTKError(.invalidArgument, "the model has no forward callback (callbacks->forward is NULL)")
        }
        try call("forward", rows) { forward(callbacks.user, $0, $1, out.base) }
    }

    func jacobian(rows: [Int], into out: MutableMatrixView) throws {
        guard let jacobian = callbacks.jacobian else {
            throw NTKError(.invalidArgument, "the model has no jacobian callback (callbacks->jacobian is NULL)")
        }
        try call("jacobian", rows) { jacobian(callbacks.user, $0, $1, out.base) }
    }
}

/// n row indices (NULL: 0 ..< n), each ≥ 0.
func rowIndices(_ p: UnsafePointer<Int64>?, _ n: Int, _ name: String) throws -> [Int] {
    guard n <= 1 << 40 else { throw NTKError(.tooLarge, "\(name) has \(n) entries") }
    guard let p else { return Array(0..<n) }
    var rows = [Int](repeating: 0, count: n)
    for i in 0..<n {
        guard p[i] >= 0 else { throw NTKError(.invalidArgument, "\(name)[\(i)] is \(p[i]); indices must be >= 0") }
        rows[i] = Int(p[i])
    }
    return rows
}

/// The rows and offsets of an `ntk_rows *` for k outputs.
func testRows(_ p: UnsafePointer<ntk_rows>?, k: Int, _ name: String) throws -> ([Int], MatrixView?) {
    let t = try required(p, name)
    let m = try size(t.m, "\(name)->m")
    guard t.rows != nil || m == 0 else { throw NTKError(.invalidArgument, "\(name)->rows is NULL") }
    return (try rowIndices(t.rows, m, "\(name)->rows"), try optionalInput(t.f0, m, k, ld: t.ldf0, "\(name)->f0"))
}

@_cdecl("ntk_model_callbacks_init")
public func ntk_model_callbacks_init(_ callbacks: UnsafeMutablePointer<ntk_model_callbacks>?) -> Int32 {
    boundary("ntk_model_callbacks_init") { try initialise(callbacks, modelCallbackDefaults, "callbacks") }
}

@_cdecl("ntk_model_create")
public func ntk_model_create(_ callbacks: UnsafePointer<ntk_model_callbacks>?,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_model_create") {
        let out = try required(out, "out")
        guard callbacks != nil else { throw NTKError(.invalidArgument, "callbacks is NULL") }
        let model = try CallbackModel(try options(callbacks, defaults: modelCallbackDefaults, "callbacks"))
        out.pointee = HandleRegistry.shared.register(model)
    }
}

@_cdecl("ntk_model_info")
public func ntk_model_info(_ model: OpaquePointer?, _ parameters: UnsafeMutablePointer<Int64>?,
                           _ k: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_model_info") {
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        parameters?.pointee = Int64(model.parameterCount)
        k?.pointee = Int64(model.outputCount)
    }
}

@_cdecl("ntk_model_forward")
public func ntk_model_forward(_ model: OpaquePointer?, _ n: Int64, _ rows: UnsafePointer<Int64>?,
                              _ out: UnsafeMutablePointer<Double>?, _ ldo: Int64) -> Int32 {
    boundary("ntk_model_forward") {
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        let n = try size(n, "n")
        let indices = try rowIndices(rows, n, "rows")
        let view = try output(out, n, model.outputCount, ld: ldo, "out")
        guard model.hasForward else {
            throw NTKError(.invalidArgument, "the model has no forward callback (callbacks->forward is NULL)")
        }
        try model.forwardRows(indices, into: view)
    }
}

@_cdecl("ntk_model_free")
public func ntk_model_free(_ model: OpaquePointer?) { HandleRegistry.shared.release(model) }

@_cdecl("ntk_model_empirical_ntk")
public func ntk_model_empirical_ntk(_ model: OpaquePointer?, _ n1: Int64, _ rows1: UnsafePointer<Int64>?,
                                    _ n2: Int64, _ rows2: UnsafePointer<Int64>?, _ outputIn: ntk_output_form,
                                    _ optionsIn: UnsafePointer<ntk_empirical_ntk_options>?,
                                    _ kernel: UnsafeMutablePointer<Double>?, _ ldk: Int64) -> Int32 {
    boundary("ntk_model_empirical_ntk") {
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        let o = try options(optionsIn, defaults: empiricalDefaults, "options")
        let (n1, n2) = (try size(n1, "n1"), try size(n2, "n2"))
        let form = try outputForm(outputIn)
        let method = try modelKernelMethod(o.method)
        let limit = try memoryLimitOption(o.memory_limit)
        let first = try rowIndices(rows1, n1, "rows1")
        if rows2 == nil && n2 != n1 {
            throw NTKError(.dimensionMismatch,
                           "rows2 is NULL (the kernel of rows1 with itself) so n2 must equal n1 = \(n1), got \(n2)")
        }
        let second = try rows2.map { try rowIndices($0, n2, "rows2") }
        let cols = try Sizes.product(n2, form.entries(model.outputCount), "n2*e")
        try TangentModelKernel.compute(model, rows1: first, rows2: second, output: form, method: method,
                                       into: try output(kernel, n1, cols, ld: ldk, "K"),
                                       memoryLimit: limit,
                                       progress: progress(o.progress, o.progress_user))
    }
}

@_cdecl("ntk_model_empirical_ntk_diagonal")
public func ntk_model_empirical_ntk_diagonal(_ model: OpaquePointer?, _ n: Int64, _ rows: UnsafePointer<Int64>?,
                                             _ outputIn: ntk_output_form, _ diag: UnsafeMutablePointer<Double>?,
                                             _ ldd: Int64) -> Int32 {
    boundary("ntk_model_empirical_ntk_diagonal") {
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        let n = try size(n, "n")
        let form = try outputForm(outputIn)
        guard form != .full else {
            throw NTKError(.invalidArgument, "output must be NTK_OUTPUT_MEAN or NTK_OUTPUT_PER_OUTPUT for the diagonal")
        }
        let indices = try rowIndices(rows, n, "rows")
        try TangentModelKernel.diagonal(model, rows: indices, output: form,
                                        into: try output(diag, n, form.entries(model.outputCount), ld: ldd, "diag"))
    }
}

@_cdecl("ntk_model_ridge_fit")
public func ntk_model_ridge_fit(_ model: OpaquePointer?, _ n: Int64, _ rows: UnsafePointer<Int64>?,
                                _ targets: UnsafePointer<ntk_targets>?, _ ridge: Double,
                                _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    out?.pointee = nil
    return boundary("ntk_model_ridge_fit") {
        let out = try required(out, "out")
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        let o = try options(optionsIn, defaults: empiricalSolverDefaults, "options")
        let n = try size(n, "n")
        let indices = try rowIndices(rows, n, "rows")
        let fitted = try EmpiricalNTKRidge(model: model, rows: indices, targets: try NTKC.targets(targets, rows: n),
                                           ridge: ridge, options: try empiricalRidgeSettings(o, inputDimension: nil),
                                           progress: progress(o.progress, o.progress_user))
        out.pointee = HandleRegistry.shared.register(fitted)
    }
}

@_cdecl("ntk_empirical_ridge_predict_rows")
public func ntk_empirical_ridge_predict_rows(_ model: OpaquePointer?, _ test: UnsafePointer<ntk_rows>?,
                                             _ pred: UnsafeMutablePointer<Double>?, _ ldp: Int64,
                                             _ callback: ntk_progress_fn?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_empirical_ridge_predict_rows") {
        let model = try HandleRegistry.shared.lookup(model, as: EmpiricalNTKRidge.self, "model")
        guard model.inputDimension == nil else {
            throw NTKError(.invalidArgument, "the model was fitted on a network (ntk_empirical_ridge_fit, "
                           + "ntk_network_ridge_fit): predict at inputs with ntk_empirical_ridge_predict")
        }
        let (rows, f0) = try testRows(test, k: model.outputs, "test")
        try model.predict(rows: rows, offsets: f0, into: try output(pred, rows.count, model.outputs, ld: ldp, "pred"),
                          progress: progress(callback, user))
    }
}

@_cdecl("ntk_model_gradient_flow")
public func ntk_model_gradient_flow(_ model: OpaquePointer?, _ n: Int64, _ rows: UnsafePointer<Int64>?,
                                    _ targets: UnsafePointer<ntk_targets>?, _ count: Int64,
                                    _ times: UnsafePointer<Double>?, _ test: UnsafePointer<ntk_rows>?,
                                    _ optionsIn: UnsafePointer<ntk_empirical_solver_options>?,
                                    _ predTrain: UnsafeMutablePointer<Double>?,
                                    _ predTest: UnsafeMutablePointer<Double>?,
                                    _ errorEstimate: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_model_gradient_flow") {
        let model = try HandleRegistry.shared.lookup(model, as: CallbackModel.self, "model")
        let o = try options(optionsIn, defaults: empiricalSolverDefaults, "options")
        let n = try size(n, "n")
        let indices = try rowIndices(rows, n, "rows")
        let t = try NTKC.targets(targets, rows: n)
        let timeList = try inputVector(times, try size(count, "count"), "times")
        let testData = try test.map { try testRows($0, k: t.outputs, "test") }
        if predTest != nil && testData == nil {
            throw NTKError(.invalidArgument, "pred_test needs test (the test rows)")
        }
        let result = try EmpiricalGradientFlow.predict(model: model, rows: indices, targets: t, times: timeList,
                                                       options: try flowSettings(o), testRows: testData?.0,
                                                       testOffsets: testData?.1, trainOut: predTrain,
                                                       testOut: testData == nil ? nil : predTest,
                                                       progress: progress(o.progress, o.progress_user))
        errorEstimate?.pointee = result.errorEstimate
    }
}
