/// The windows of a convolution or pooling layer over all its spatial axes: for output position
/// o (row-major over the output's axes) and window offset a (row-major over the window's axes),
/// `table[o · window + a]` is the input position read (row-major over the input's axes), or −1
/// where the window lies in zero padding. The product of the layer's per-axis `WindowAxis`.
struct PatchTable: Sendable {
    let inputs: Int, outputs: Int, window: Int
    /// The output's size along each spatial axis.
    let outputDims: [Int]
    let table: [Int32]

    /// - Throws: `tooLarge` beyond 2^28 entries.
    init(_ axes: [WindowAxis], layer: String) throws {
        let outputs = axes.reduce(1) { $0 * $1.out }, window = axes.reduce(1) { $0 * $1.window }
        guard try Sizes.product(outputs, window, "\(layer): patch table") <= 1 << 28 else {
            throw NTKError.tooLarge("\(layer): \(outputs) positions × a window of \(window) (more than 2^28)")
        }
        var table = [Int32](repeating: -1, count: outputs * window)
        for o in 0..<outputs {
            for a in 0..<window {
                var (restO, restA, source, stride) = (o, a, 0, 1)
                var inside = true
                for axis in axes.reversed() {  // the last axis varies fastest
                    let s = Int(axis.table[(restA % axis.window) * axis.out + restO % axis.out])
                    restO /= axis.out
                    restA /= axis.window
                    inside = inside && s >= 0
                    source += s * stride
                    stride *= axis.input
                }
                if inside { table[o * window + a] = Int32(source) }
            }
        }
        self.inputs = axes.reduce(1) { $0 * $1.input }
        (self.outputs, self.window, self.outputDims) = (outputs, window, axes.map(\.out))
        self.table = table
    }
}

extension PatchTable {
    /// Calls `body(example, output, offset, input)` for every window entry inside the input, for
    /// `rows` examples: the walk of pooling and of its backward scatter. (A convolution's patch
    /// gather also writes the padding's zeros, and its scatter goes by chunks: `LayerPass`.)
    @inline(__always)
    func forEachEntry(rows: Int, _ body: (Int, Int, Int, Int) -> Void) {
        table.withUnsafeBufferPointer { t in
            for i in 0..<rows {
                for o in 0..<outputs {
                    for a in 0..<window {
                        let source = Int(t[o * window + a])
                        if source >= 0 { body(i, o, a, source) }
                    }
                }
            }
        }
    }
}
