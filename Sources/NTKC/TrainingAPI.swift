// The exported training functions: loss gradients, gradient-descent training with kernel
// snapshots, kernel comparison measures, and the function-space ODE for any loss.
// Validation and marshalling only.
import CNTK
import NTK

/// The defaults of `ntk_train_options`, as `ntk_train_options_init` writes them.
var trainDefaults: ntk_train_options {
    ntk_train_options(
        size: MemoryLayout<ntk_train_options>.size, loss: NTK_LOSS_MSE, learning_rate: 1, batch_size: 0, momentum: 0,
        seed: 0,
        epoch_callback: nil, epoch_user: nil, num_snapshots: 0, snapshot_epochs: nil, m: 0, X_probe: nil, ldprobe: 0,
        snapshot_callback: nil, snapshot_user: nil)
}

@_cdecl("ntk_train_options_init")
public func ntk_train_options_init(_ options: UnsafeMutablePointer<ntk_train_options>?) -> Int32 {
    boundary("ntk_train_options_init") { try initialise(options, trainDefaults, "options") }
}

@_cdecl("ntk_mlp_loss_gradient")
public func ntk_mlp_loss_gradient(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                  _ y: UnsafePointer<Double>?, _ ldy: Int64, _ lossIn: ntk_loss,
                                  _ value: UnsafeMutablePointer<Double>?,
                                  _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_mlp_loss_gradient") {
        try lossGradient(try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp"), n, x, ldx, y, ldy, lossIn, value,
                         gradient)
    }
}

@_cdecl("ntk_network_loss_gradient")
public func ntk_network_loss_gradient(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?,
                                      _ ldx: Int64, _ y: UnsafePointer<Double>?, _ ldy: Int64, _ lossIn: ntk_loss,
                                      _ value: UnsafeMutablePointer<Double>?,
                                      _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_network_loss_gradient") {
        try lossGradient(try HandleRegistry.shared.lookup(network, as: Network.self, "network"), n, x, ldx, y, ldy,
                         lossIn, value, gradient)
    }
}

/// The body of `ntk_mlp_loss_gradient` and `ntk_network_loss_gradient`.
private func lossGradient(_ net: some TrainableNetwork, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                          _ y: UnsafePointer<Double>?, _ ldy: Int64, _ lossIn: ntk_loss,
                          _ value: UnsafeMutablePointer<Double>?, _ gradient: UnsafeMutablePointer<Double>?) throws {
    let n = try size(n, "n")
    let v = try net.lossGradient(x: try input(x, n, net.inputDimension, ld: ldx, "X"),
                                 y: try input(y, n, net.outputCount, ld: ldy, "Y"), loss: try loss(lossIn),
                                 into: gradient)
    value?.pointee = v
}

@_cdecl("ntk_mlp_train")
public func ntk_mlp_train(_ mlp: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                          _ y: UnsafePointer<Double>?, _ ldy: Int64, _ epochs: Int64,
                          _ optionsIn: UnsafePointer<ntk_train_options>?,
                          _ losses: UnsafeMutablePointer<Double>?, _ epochsRun: UnsafeMutablePointer<Int64>?,
                          _ diverged: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary("ntk_mlp_train") {
        try train(try HandleRegistry.shared.lookup(mlp, as: MLP.self, "mlp"), n, x, ldx, y, ldy, epochs, optionsIn,
                  losses, epochsRun, diverged)
    }
}

@_cdecl("ntk_network_train")
public func ntk_network_train(_ network: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                              _ y: UnsafePointer<Double>?, _ ldy: Int64, _ epochs: Int64,
                              _ optionsIn: UnsafePointer<ntk_train_options>?,
                              _ losses: UnsafeMutablePointer<Double>?, _ epochsRun: UnsafeMutablePointer<Int64>?,
                              _ diverged: UnsafeMutablePointer<Int32>?) -> Int32 {
    boundary("ntk_network_train") {
        try train(try HandleRegistry.shared.lookup(network, as: Network.self, "network"), n, x, ldx, y, ldy, epochs,
                  optionsIn, losses, epochsRun, diverged)
    }
}

/// The body of `ntk_mlp_train` and `ntk_network_train`.
private func train(_ net: some TrainableNetwork, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                   _ y: UnsafePointer<Double>?, _ ldy: Int64, _ epochs: Int64,
                   _ optionsIn: UnsafePointer<ntk_train_options>?, _ losses: UnsafeMutablePointer<Double>?,
                   _ epochsRun: UnsafeMutablePointer<Int64>?, _ diverged: UnsafeMutablePointer<Int32>?) throws {
    let d = net.inputDimension
    let o = try options(optionsIn, defaults: trainDefaults, "options")
    let (n, epochs) = (try size(n, "n"), try size(epochs, "epochs"))
    let count = try size(o.num_snapshots, "options->num_snapshots")
    guard o.batch_size >= 0 else {
        throw NTKError(.invalidArgument, "options->batch_size must be >= 0 (0: full batch), got \(o.batch_size)")
    }
    // Copied into an array: bounded by the epochs (each epoch at most once).
    guard count <= epochs + 1 else {
        throw NTKError(.invalidArgument, "options->num_snapshots = \(count) exceeds epochs + 1 = \(epochs + 1)")
    }
    var snapshots: [Int] = []
    if count > 0 {
        guard let list = o.snapshot_epochs else {
            throw NTKError(.invalidArgument, "options->snapshot_epochs is NULL")
        }
        snapshots = (0..<count).map { Int(list[$0]) }
    }
    let probe = count > 0 ? try input(o.X_probe, try size(o.m, "options->m"), d, ld: o.ldprobe,
                                      "options->X_probe") : nil
    let lossesOut = try losses.map { try outputVector($0, epochs + 1, "losses") }
    let settings = TrainingOptions(loss: try loss(o.loss), learningRate: o.learning_rate, epochs: epochs,
                                   batchSize: o.batch_size == 0 ? nil : Int(o.batch_size), momentum: o.momentum,
                                   seed: o.seed, snapshotEpochs: snapshots)
    let (onEpoch, epochUser) = (o.epoch_callback, o.epoch_user)
    let (onSnapshot, snapshotUser) = (o.snapshot_callback, o.snapshot_user)
    let m = Int64(probe?.rows ?? 0)
    let result = try net.train(x: try input(x, n, d, ld: ldx, "X"), y: try input(y, n, net.outputCount, ld: ldy, "Y"),
                               options: settings, probe: probe,
                               callback: onEpoch.map { cb in
                                   { epoch, value in cb(epochUser, Int64(epoch), value) == 0 }
                               },
                               snapshotHandler: { epoch, kernel, lambda in
                                   onSnapshot.map { $0(snapshotUser, Int64(epoch), kernel, m, lambda) == 0 } ?? true
                               })
    if let lossesOut {
        for e in 0...epochs { lossesOut[e] = e < result.losses.count ? result.losses[e] : .nan }
    }
    epochsRun?.pointee = Int64(result.epochsRun)
    diverged?.pointee = result.diverged ? 1 : 0
}

@_cdecl("ntk_kernel_distance")
public func ntk_kernel_distance(_ count: Int64, _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?,
                                _ distance: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_distance") {
        let count = try size(count, "count")
        let out = try required(distance, "distance")
        out.pointee = try KernelComparison.distance(try input(a, 1, count, ld: Int64(max(count, 1)), "A"),
                                                    try input(b, 1, count, ld: Int64(max(count, 1)), "B"))
    }
}

@_cdecl("ntk_kernel_alignment")
public func ntk_kernel_alignment(_ n: Int64, _ k: Int64, _ kernel: UnsafePointer<Double>?, _ ldk: Int64,
                                 _ y: UnsafePointer<Double>?, _ ldy: Int64,
                                 _ alignment: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_alignment") {
        let (n, k) = (try size(n, "n"), try size(k, "k"))
        let out = try required(alignment, "alignment")
        out.pointee = try KernelComparison.alignment(try input(kernel, n, n, ld: ldk, "K"),
                                                     try input(y, n, k, ld: ldy, "Y"))
    }
}

/// The defaults of `ntk_ode_options`, as `ntk_ode_options_init` writes them.
var odeDefaults: ntk_ode_options {
    ntk_ode_options(size: MemoryLayout<ntk_ode_options>.size, learning_rate: 1, rtol: 1e-10, atol: 1e-12,
                                      progress: nil, progress_user: nil)
}

@_cdecl("ntk_ode_options_init")
public func ntk_ode_options_init(_ options: UnsafeMutablePointer<ntk_ode_options>?) -> Int32 {
    boundary("ntk_ode_options_init") { try initialise(options, odeDefaults, "options") }
}

@_cdecl("ntk_gradient_flow_ode")
public func ntk_gradient_flow_ode(_ n: Int64, _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                                  _ targets: UnsafePointer<ntk_targets>?, _ test: UnsafePointer<ntk_test_kernel>?,
                                  _ count: Int64, _ times: UnsafePointer<Double>?, _ lossIn: ntk_loss,
                                  _ optionsIn: UnsafePointer<ntk_ode_options>?,
                                  _ predTrain: UnsafeMutablePointer<Double>?,
                                  _ predTest: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_gradient_flow_ode") {
        let o = try options(optionsIn, defaults: odeDefaults, "options")
        let (n, count) = (try size(n, "n"), try size(count, "count"))
        let t = try NTKC.targets(targets, rows: n)
        let testData = try optionalTestKernel(test, trainRows: n, outputs: t.outputs)
        if predTest != nil && testData == nil { throw NTKError(.invalidArgument,
                                                               "pred_test needs test (a test kernel)") }
        try FunctionSpaceODE.solve(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"), targets: t,
                                   times: try inputVector(times, count, "times"), loss: try loss(lossIn),
                                   learningRate: o.learning_rate, test: testData,
                                   rtol: o.rtol, atol: o.atol, trainOut: predTrain,
                                   testOut: testData == nil ? nil : predTest,
                                   progress: progress(o.progress, o.progress_user))
    }
}
