@testable import NTK
import XCTest

/// Kernel logistic regression: the objective's gradient and Hessian products against central
/// finite differences of the objective itself, the two factorizations of the exact Hessian
/// against each other, and the public fitting API on a small problem.
final class ClassificationTests: XCTestCase {
    /// A relu NTK on random points with labels from a noisy rule: n points, k classes.
    func problem(n: Int, k: Int, seed: UInt64) throws -> (Matrix, [Int]) {
        var rng = TestRandom(seed: seed)
        let x = try rng.matrix(n, 3)
        let a = try MLPArchitecture(inputDimension: 3, hiddenWidths: [16, 16], activation: .relu)
        let kernel = try a.infiniteWidthKernels(x).1
        let labels = (0..<n).map { i in Int((x[i, 0] + 0.5 * rng.next() + 1.5) * Double(k) / 3) % k }
        return (kernel, labels)
    }

    /// J(w) = Σ CE(f₀ + Φw) + λ/2‖w‖² recomputed from scratch for finite differences.
    func objective(_ f: KernelFeatures, _ labels: ClassLabels, _ w: [Double], ridge: Double) -> Double {
        let n = f.n, r = f.rank, k = labels.classes
        var total = 0.0
        var row = [Double](repeating: 0, count: k), p = [Double](repeating: 0, count: k)
        for i in 0..<n {
            for c in 0..<k {
                row[c] = labels.offsets?[i, c] ?? 0
                for a in 0..<r { row[c] += f.features[i, a] * w[a * k + c] }
            }
            total += row.withUnsafeBufferPointer { rb in
                p.withUnsafeMutableBufferPointer { Softmax.row(rb.baseAddress!, k, label: labels.labels[i],
                                                               into: $0.baseAddress!) }
            }
        }
        return total + 0.5 * ridge * w.reduce(0) { $0 + $1 * $1 }
    }

    func testGradientAndHessianProductsMatchFiniteDifferences() throws {
        let (kernel, labels) = try problem(n: 24, k: 3, seed: 3)
        try kernel.withView { kv in
            let features = try KernelFeatures.dense(kv, progress: .none)
            var rng = TestRandom(seed: 9)
            let offsets = try rng.matrix(24, 3)
            try offsets.withView { f0 in
                let classes = try ClassLabels(labels, classes: 3, offsets: f0)
                let (r, k, ridge) = (features.rank, 3, 0.4)
                let w = try Workspace(count: r * k, for: "w"), logits = try Workspace(count: 24 * k, for: "f"),
                    p = try Workspace(count: 24 * k, for: "p")
                let point = (0..<(r * k)).map { _ in 0.3 * rng.next() }
                w.pointer.update(from: point, count: r * k)
                var state = try NewtonState(features: features, labels: classes, ridge: ridge, weights: w,
                                            logits: logits, probabilities: p)
                try state.updateLogits()
                XCTAssertEqual(state.objective, objective(features, classes, point, ridge: ridge),
                               accuracy: 1e-12 * state.objective)
                try state.computeGradient()
                let system = try NewtonSystem(features: features, classes: k, ridge: ridge, probabilities: p)
                let direction = (0..<(r * k)).map { _ in rng.next() }
                let hv = try Workspace(count: r * k, for: "Hv"), scratch = try Workspace(count: 24 * k, for: "s")
                try system.hessianProduct(direction, into: hv.pointer, scratch: scratch)
                let h = 1e-5
                for j in stride(from: 0, to: r * k, by: 7) {
                    var up = point, down = point
                    up[j] += h
                    down[j] -= h
                    let fd = (objective(features, classes, up, ridge: ridge)
                              - objective(features, classes, down, ridge: ridge)) / (2 * h)
                    XCTAssertEqual(state.gradient.pointer[j], fd, accuracy: 1e-6 * max(1, abs(fd)), "∂J/∂w[\(j)]")
                }
                // H v against differences of the gradient along v.
                func gradient(at x: [Double]) throws -> [Double] {
                    w.pointer.update(from: x, count: r * k)
                    try state.updateLogits()
                    try state.computeGradient()
                    return Array(UnsafeBufferPointer(start: state.gradient.pointer, count: r * k))
                }
                let plus = try gradient(at: zip(point, direction).map { $0 + h * $1 })
                let minus = try gradient(at: zip(point, direction).map { $0 - h * $1 })
                for j in 0..<(r * k) {
                    let fd = (plus[j] - minus[j]) / (2 * h)
                    XCTAssertEqual(hv.pointer[j], fd, accuracy: 1e-6 * max(1, abs(fd)), "(Hv)[\(j)]")
                }
            }
        }
    }

    func testBothHessianFactorizationsAgree() throws {
        for k in [2, 4] {
            let (kernel, labels) = try problem(n: 20, k: k, seed: UInt64(k))
            let model = try KernelLogistic.fit(kTrain: kernel, labels: labels, classes: k, ridge: 0.3)
            XCTAssertTrue(model.converged)
            let subspace = try ModeHessian(model, form: .subspace), woodbury = try ModeHessian(model, form: .woodbury)
            XCTAssertEqual(subspace.logDeterminant, woodbury.logDeterminant,
                           accuracy: 1e-10 * abs(woodbury.logDeterminant))
            let phi = model.features.features
            let a = try Workspace(count: 20 * k * k, for: "S"), b = try Workspace(count: 20 * k * k, for: "S")
            try subspace.blocks(phi, into: a.pointer)
            try woodbury.blocks(phi, into: b.pointer)
            var scale = 0.0, worst = 0.0
            for j in 0..<(20 * k * k) {
                scale = max(scale, abs(b.pointer[j]))
                worst = max(worst, abs(a.pointer[j] - b.pointer[j]))
            }
            XCTAssertLessThan(worst, 1e-10 * scale, "k = \(k)")
        }
    }

    func testFitPredictsWithTheDualCoefficientsAndRejectsBadInput() throws {
        let (kernel, labels) = try problem(n: 30, k: 3, seed: 5)
        let model = try KernelLogistic.fit(kTrain: kernel, labels: labels, classes: 3, ridge: 0.2)
        let beta = try model.coefficientMatrix(), train = try model.trainLogitMatrix()
        XCTAssertLessThan(maxAbsDifference(try naiveAB(kernel, beta), train), 1e-12)
        XCTAssertLessThan(maxAbsDifference(try model.predict(kTest: kernel), train), 1e-12)
        // Stationarity of a full-rank kernel: β = (Y − P)/λ.
        for i in 0..<30 {
            let top = (0..<3).map { train[i, $0] }.max()!
            let e = (0..<3).map { exp(train[i, $0] - top) }, s = e.reduce(0, +)
            for c in 0..<3 {
                XCTAssertEqual(beta[i, c], ((labels[i] == c ? 1 : 0) - e[c] / s) / 0.2, accuracy: 1e-9)
            }
        }
        assertThrows(.invalidArgument, try KernelLogistic.fit(kTrain: kernel, labels: labels, classes: 3, ridge: 0))
        assertThrows(.invalidArgument, try KernelLogistic.fit(kTrain: kernel, labels: labels, classes: 1, ridge: 1))
        assertThrows(.invalidArgument, try KernelLogistic.fit(kTrain: kernel, labels: labels.map { $0 + 1 },
                                                              classes: 3, ridge: 1))
        assertThrows(.dimensionMismatch, try KernelLogistic.fit(kTrain: kernel, labels: Array(labels.prefix(5)),
                                                                classes: 3, ridge: 1))
        assertThrows(.invalidArgument, try KernelLogistic.fit(kTrain: kernel, labels: labels, classes: 3, ridge: 1,
                                                              ridges: []))
    }
}
