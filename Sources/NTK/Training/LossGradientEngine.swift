/// The loss of a network on rows (X, Y) and its gradient `∂L/∂θ` at a parameter vector, with
/// buffers kept between calls (one per training run): what gradient descent asks at every step.
package protocol LossGradientEngine: AnyObject {
    /// The loss over all rows of `x` (targets `y`, normalised by x.rows as `Loss` says) at `theta`
    /// and, if `gradient` is given, `∂L/∂θ` into it (P doubles).
    func gradient(_ theta: MLP.ParameterVector, x: MatrixView, y: MatrixView, loss: Loss,
                  into gradient: UnsafeMutablePointer<Double>?) throws -> Double
}

/// An MLP's forward pass, loss and backpropagated gradient over blocks of rows (BLAS-3 per
/// layer; see `TrainingOptions` for the recursion).
final class MLPGradientEngine: LossGradientEngine {
    let architecture: MLPArchitecture
    let pass: NetworkPass<Double>
    let outputGradient: Workspace
    let signals: (Workspace, Workspace)

    init(_ a: MLPArchitecture, capacity: Int) throws {
        architecture = a
        pass = try NetworkPass<Double>(a, capacity: capacity, deltas: false, derivatives: true)
        outputGradient = try Workspace(count: try Sizes.product(capacity, a.outputDimension, "gradient"),
                                       for: "output gradients")
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
                let gW = MutableMatrixView(unchecked: gradient + a.weightOffset(l), rows: fanIn, cols: fanOut,
                                           ld: fanOut)
                try MatrixProduct.gemm(pass.input(l), transposeA: true, g, alpha: scale, beta: start == 0 ? 0 : 1,
                                       into: gW)
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

/// A layered `Network`'s loss and gradient: per block of rows one forward pass, the loss
/// gradient ∂L/∂f as the block's cotangents, and one backward pass whose per-layer GEMMs sum the
/// parameter gradients over the block (`Network.accumulateGradients`, one pass kept for the run).
final class NetworkGradientEngine: LossGradientEngine {
    let network: Network
    let pass: LayerPass
    let outputGradient: Workspace

    init(_ network: Network, capacity: Int) throws {
        self.network = network
        pass = try LayerPass(network.program, capacity: min(capacity, network.blockRows(seeds: 1)), seeds: 1)
        outputGradient = try Workspace(count: try Sizes.product(pass.capacity, network.outputCount, "gradient"),
                                       for: "output gradients")
    }

    func gradient(_ theta: MLP.ParameterVector, x: MatrixView, y: MatrixView, loss: Loss,
                  into gradient: UnsafeMutablePointer<Double>?) throws -> Double {
        let k = network.outputCount, n = x.rows, kept = pass
        var total = 0.0
        /// The loss of a block after its forward pass, and its gradient ∂L/∂f into `outputGradient`.
        func blockLoss(_ pass: LayerPass, _ range: Range<Int>, _ g: UnsafeMutablePointer<Double>?) -> Double {
            loss.evaluate(pass.outputs.base, y.rowRange(range.lowerBound, range.upperBound), rows: range.count, k: k,
                          totalRows: n, gradient: g)
        }
        guard let gradient else {
            try network.blocks(x, theta, reuse: { _, _ in kept }) { pass, range in
                total += blockLoss(pass, range, nil)
            }
            return total
        }
        let p = network.parameterCount
        try network.accumulateGradients(x, theta, cotangents: 1,
                                        into: MutableMatrixView(unchecked: gradient, rows: 1, cols: p, ld: max(p, 1)),
                                        reuse: { _, _ in kept }) { pass, range in
            total += blockLoss(pass, range, outputGradient.pointer)
            return MatrixView(unchecked: outputGradient.pointer, rows: range.count, cols: k, ld: k)
        }
        return total
    }
}
