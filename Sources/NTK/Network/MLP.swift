import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A dense network (multilayer perceptron): an architecture and its parameters θ.
///
/// Every computation reads a snapshot of θ taken when it starts, and `setParameters` swaps in a
/// new vector atomically, so a network can be shared between threads, even while its parameters
/// are replaced (a computation already running keeps the old ones).
public final class MLP: @unchecked Sendable {
    /// The architecture; the parameters live in the network.
    public let architecture: MLPArchitecture
    private let current: Mutex<ParameterVector>

    /// θ, immutable once made (the `Network` of layers keeps its parameters the same way).
    package final class ParameterVector: @unchecked Sendable {
        let storage: Workspace
        init(_ storage: Workspace) { self.storage = storage }
        var pointer: UnsafePointer<Double> { UnsafePointer(storage.pointer) }
    }

    /// A network with parameters drawn from `NormalGenerator(seed:)`.
    public init(_ architecture: MLPArchitecture, seed: UInt64 = 0) throws {
        self.architecture = architecture
        let theta = try Workspace(count: architecture.parameterCount, for: "the parameters")
        var rng = NormalGenerator(seed: seed)
        let a = architecture
        for l in 0..<a.layerCount {
            let base = theta.pointer + a.weightOffset(l)
            let weights = a.fanIn(l) * a.fanOut(l), sw = a.initialWeightStd(l)
            for i in 0..<weights { base[i] = sw * rng.next() }
            if a.hasBias {
                for j in 0..<a.fanOut(l) { base[weights + j] = a.initialBiasStd * rng.next() }
            }
        }
        current = Mutex(ParameterVector(theta))
    }

    /// The parameter vector in use now (a snapshot).
    package var parameters: ParameterVector { current.withLock { $0 } }

    /// Copies θ (P doubles) into `out`.
    package func copyParameters(into out: UnsafeMutablePointer<Double>) {
        let p = parameters
        out.update(from: p.pointer, count: architecture.parameterCount)
    }

    /// θ as an array.
    public var parameterArray: [Double] {
        let p = parameters
        return Array(UnsafeBufferPointer(start: p.pointer, count: architecture.parameterCount))
    }

    /// Replaces θ by the `count` doubles at `theta` (layout as `MLPArchitecture`).
    /// - Throws: `dimensionMismatch` unless `count` is P; `nonFinite` for NaN/Inf.
    package func setParameters(_ theta: UnsafePointer<Double>, count: Int) throws {
        let p = architecture.parameterCount
        guard count == p else { throw NTKError.dimensionMismatch("\(count) parameters given, the network has \(p)") }
        if p > 0 {
            try InputCheck.finite(MatrixView(unchecked: theta, rows: 1, cols: p, ld: p), "parameters")
        }
        let copy = try Workspace(count: p, for: "the parameters")
        copy.pointer.update(from: theta, count: p)
        let vector = ParameterVector(copy)
        current.withLock { $0 = vector }
    }

    /// Replaces θ from an array.
    public func setParameters(_ theta: [Double]) throws {
        try theta.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else {
                throw NTKError.dimensionMismatch("0 parameters given, the network has \(architecture.parameterCount)")
            }
            try setParameters(base, count: buffer.count)
        }
    }

    /// Checks that `x` has the input dimension and is finite.
    package func checkInput(_ x: MatrixView, _ name: String) throws { try checkRows(x, name) }

    /// `checkInput` in either precision (internal: see `checkRows`).
    func checkInput<S: BLASScalar>(_ x: RowMajorView<S>, _ name: String) throws { try checkRows(x, name) }

    /// The body of both `checkInput`s. The exported one is concrete: a generic function called
    /// from another module runs unspecialised.
    private func checkRows<S: BLASScalar>(_ x: RowMajorView<S>, _ name: String) throws {
        guard x.cols == architecture.inputDimension else {
            throw NTKError.dimensionMismatch("\(name) has \(x.cols) columns but the network's input dimension is "
                                             + "\(architecture.inputDimension)")
        }
        _ = try Sizes.blasInt(x.rows, "rows of \(name)")
        _ = try Sizes.blasInt(x.ld, "leading dimension of \(name)")
        try InputCheck.finite(x, name)
    }

    /// The outputs `f(X)` (n × k) into `out`.
    public func forward(_ x: MatrixView, into out: MutableMatrixView) throws {
        try checkInput(x, "X")
        let a = architecture
        guard out.rows == x.rows, out.cols == a.outputDimension else {
            throw NTKError.dimensionMismatch("output is \(out.rows) × \(out.cols) but f(X) is \(x.rows) × "
                                             + "\(a.outputDimension)")
        }
        try out.requireDisjoint(from: x, "output", "X")
        let theta = parameters
        let block = min(max(x.rows, 1), 1024)
        let pass = try NetworkPass<Double>(a, capacity: block, deltas: false)
        var r0 = 0
        while r0 < x.rows {
            let rows = min(block, x.rows - r0)
            try pass.run(x.rowRange(r0, r0 + rows), theta)
            let z = pass.outputs
            for s in 0..<rows { (out.base + (r0 + s) * out.ld).update(from: z + s * a.outputDimension,
                                                                      count: a.outputDimension) }
            r0 += rows
        }
        try InputCheck.finiteResult(out, "the network's outputs")
    }
}

extension MLP {
    /// `f(X)` for a `Matrix` of inputs (n × d): n × k.
    public func callAsFunction(_ x: Matrix) throws -> Matrix {
        var out = try Matrix(rows: x.rows, cols: architecture.outputDimension)
        try x.withView { xv in try out.withMutableView { try forward(xv, into: $0) } }
        return out
    }
}
