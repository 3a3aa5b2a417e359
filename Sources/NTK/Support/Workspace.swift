#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Scratch memory of `count` elements (doubles: `Workspace`; singles: `SingleWorkspace`), 64-byte
/// aligned, allocated *fallibly*.
///
/// Swift arrays trap when an allocation fails, which would kill a Python interpreter that
/// loaded libntk. Every workspace the core needs on a path reachable from the C API comes from
/// here instead, so an impossible request throws `NTKError.outOfMemory`. The memory is
/// uninitialised and freed when the object dies.
final class AlignedBuffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, for what: @autoclosure () -> String) throws {
        let bytes = try Sizes.product(max(count, 1), MemoryLayout<Element>.stride, "\(what()) in bytes")
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw NTKError.outOfMemory("could not allocate \(bytes) bytes for \(what())")
        }
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        self.count = count
    }

    deinit { free(pointer) }
}

/// Double-precision scratch memory (see `AlignedBuffer`).
typealias Workspace = AlignedBuffer<Double>
/// Single-precision storage (see `AlignedBuffer`): matrices kept only to be read back into
/// doubles, where half the memory matters more than the seventh significant digit.
typealias SingleWorkspace = AlignedBuffer<Float>
