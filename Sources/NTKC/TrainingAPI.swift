// The exported training functions: loss gradients, gradient-descent training with kernel
// snapshots, kernel comparison measures, and the function-space ODE for any loss.
// Validation and marshalling only.
import NTK

/// `int (*)(void *user, int64_t epoch, double loss)`, non-zero stops training.
public typealias CEpochCallback = @convention(c) (UnsafeMutableRawPointer?, Int64, Double) -> Int32

func lossKind(_ code: Int32) throws -> Loss {
    guard let loss = Loss(rawValue: code) else {
        throw NTKError(.invalidArgument, "loss must be NTK_LOSS_MSE or NTK_LOSS_CROSS_ENTROPY, got \(code)")
    }
    return loss
}

@_cdecl("ntk_mlp_loss_gradient")
public func ntk_mlp_loss_gradient(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                                  _ y: UnsafePointer<Double>?, _ ldy: Int64, _ loss: Int32,
                                  _ value: UnsafeMutablePointer<Double>?, _ gradient: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_mlp_loss_gradient") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture, n = try size(n, "n")
        let v = try mlp.lossGradient(x: try input(x, n, a.inputDimension, ld: ldx, "X"),
                                     y: try input(y, n, a.outputDimension, ld: ldy, "Y"), loss: try lossKind(loss), into: gradient)
        value?.pointee = v
    }
}

@_cdecl("ntk_mlp_train")
public func ntk_mlp_train(_ handle: OpaquePointer?, _ n: Int64, _ x: UnsafePointer<Double>?, _ ldx: Int64,
                          _ y: UnsafePointer<Double>?, _ ldy: Int64, _ loss: Int32, _ learningRate: Double,
                          _ epochs: Int64, _ batchSize: Int64, _ momentum: Double, _ seed: UInt64,
                          _ snapshotCount: Int64, _ snapshotEpochs: UnsafePointer<Int64>?,
                          _ m: Int64, _ probe: UnsafePointer<Double>?, _ ldp: Int64,
                          _ losses: UnsafeMutablePointer<Double>?, _ kernels: UnsafeMutablePointer<Double>?,
                          _ lambdaMax: UnsafeMutablePointer<Double>?, _ epochsRun: UnsafeMutablePointer<Int64>?,
                          _ diverged: UnsafeMutablePointer<Int32>?,
                          _ callback: CEpochCallback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_mlp_train") {
        let mlp = try HandleRegistry.shared.lookup(handle, as: MLP.self, "mlp")
        let a = mlp.architecture
        let (n, m, epochs, count) = (try size(n, "n"), try size(m, "m"), try size(epochs, "epochs"), try size(snapshotCount, "num_snapshots"))
        guard batchSize >= 0 else { throw NTKError(.invalidArgument, "batch_size must be ≥ 0 (0: full batch), got \(batchSize)") }
        var snapshots: [Int] = []
        if count > 0 {
            guard let snapshotEpochs else { throw NTKError(.invalidArgument, "snapshot_epochs is NULL") }
            guard count <= epochs + 1 else {  // strictly increasing in 0...epochs; bounds the copy below
                throw NTKError(.invalidArgument, "num_snapshots = \(count) exceeds epochs + 1 = \(epochs + 1)")
            }
            snapshots = (0..<count).map { Int(snapshotEpochs[$0]) }
            guard Set(snapshots).count == count, snapshots == snapshots.sorted() else {
                throw NTKError(.invalidArgument, "snapshot_epochs must be strictly increasing")
            }
        }
        let options = TrainingOptions(loss: try lossKind(loss), learningRate: learningRate, epochs: epochs,
                                      batchSize: batchSize == 0 ? nil : Int(batchSize), momentum: momentum, seed: seed,
                                      snapshotEpochs: snapshots)
        let probeView = try count > 0 ? input(probe, m, a.inputDimension, ld: ldp, "X_probe") : nil
        let lossesOut = try outputVector(losses, epochs + 1, "losses")
        let block = count > 0 ? try Sizes.product(m, m, "probe kernel") : 0
        if kernels != nil { _ = try Sizes.product(count, block, "kernels") }
        // Snapshot i goes straight into the caller's kernels[i] (no copy of all of them kept).
        let slot = Dictionary(uniqueKeysWithValues: snapshots.enumerated().map { ($1, $0) })
        let result = try mlp.train(x: try input(x, n, a.inputDimension, ld: ldx, "X"), y: try input(y, n, a.outputDimension, ld: ldy, "Y"),
                                   options: options, probe: probeView,
                                   callback: callback.map { cb in { epoch, value in cb(user, Int64(epoch), value) == 0 } },
                                   snapshotHandler: { epoch, kernel, _ in
                                       if let kernels, let i = slot[epoch] { (kernels + i * block).update(from: kernel, count: block) }
                                   })
        for e in 0...epochs { lossesOut[e] = e < result.losses.count ? result.losses[e] : .nan }
        for (i, epoch) in snapshots.enumerated() {
            let reached = result.snapshotEpochs.firstIndex(of: epoch)
            if reached == nil { kernels.map { ($0 + i * block).update(repeating: .nan, count: block) } }
            lambdaMax?[i] = reached.map { result.lambdaMax[$0] } ?? .nan
        }
        epochsRun?.pointee = Int64(result.epochsRun)
        diverged?.pointee = result.diverged ? 1 : 0
    }
}

@_cdecl("ntk_kernel_distance")
public func ntk_kernel_distance(_ count: Int64, _ a: UnsafePointer<Double>?, _ b: UnsafePointer<Double>?,
                                _ distance: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_distance") {
        let count = try size(count, "count")
        let out = try outPointer(distance, "distance")
        out.pointee = try KernelComparison.distance(try input(a, 1, count, ld: Int64(max(count, 1)), "A"),
                                                    try input(b, 1, count, ld: Int64(max(count, 1)), "B"))
    }
}

@_cdecl("ntk_kernel_alignment")
public func ntk_kernel_alignment(_ n: Int64, _ k: Int64, _ kernel: UnsafePointer<Double>?, _ y: UnsafePointer<Double>?,
                                 _ alignment: UnsafeMutablePointer<Double>?) -> Int32 {
    boundary("ntk_kernel_alignment") {
        let (n, k) = (try size(n, "n"), try size(k, "k"))
        let out = try outPointer(alignment, "alignment")
        out.pointee = try KernelComparison.alignment(try input(kernel, n, n, ld: Int64(max(n, 1)), "K"),
                                                     try input(y, n, k, ld: Int64(max(k, 1)), "Y"))
    }
}

@_cdecl("ntk_gradient_flow_ode")
public func ntk_gradient_flow_ode(_ n: Int64, _ k: Int64, _ kTrain: UnsafePointer<Double>?, _ ldk: Int64,
                                  _ y: UnsafePointer<Double>?, _ ldy: Int64, _ f0: UnsafePointer<Double>?, _ ldf0: Int64,
                                  _ count: Int64, _ times: UnsafePointer<Double>?, _ loss: Int32, _ learningRate: Double,
                                  _ m: Int64, _ kTest: UnsafePointer<Double>?, _ ldkt: Int64,
                                  _ f0Test: UnsafePointer<Double>?, _ ldf0t: Int64, _ rtol: Double, _ atol: Double,
                                  _ predTrain: UnsafeMutablePointer<Double>?, _ predTest: UnsafeMutablePointer<Double>?,
                                  _ callback: CProgress?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    boundary("ntk_gradient_flow_ode") {
        let (n, k, m, count) = (try size(n, "n"), try size(k, "k"), try size(m, "m"), try size(count, "count"))
        let kt = try optionalInput(kTest, m, n, ld: ldkt, "K_test_train")
        try FunctionSpaceODE.solve(kTrain: try input(kTrain, n, n, ld: ldk, "K_train"), y: try input(y, n, k, ld: ldy, "Y"),
                                   f0Train: try optionalInput(f0, n, k, ld: ldf0, "f0_train"),
                                   times: try inputVector(times, count, "times"), loss: try lossKind(loss),
                                   learningRate: learningRate, kTestTrain: kt,
                                   f0Test: try optionalInput(f0Test, m, k, ld: ldf0t, "f0_test"),
                                   rtol: rtol, atol: atol, trainOut: predTrain, testOut: kt == nil ? nil : predTest,
                                   progress: progress(callback, user))
    }
}
