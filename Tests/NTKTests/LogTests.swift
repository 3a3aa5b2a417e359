@testable import NTK
import Synchronization
import XCTest

final class LogTests: XCTestCase {
    /// Messages received by a test handler.
    final class Received: Sendable {
        let messages = Mutex<[(LogLevel, String)]>([])
        func texts(_ level: LogLevel) -> [String] { messages.withLock { $0.filter { $0.0 == level }.map(\.1) } }
    }

    override func tearDown() {
        Log.setHandler(nil)
    }

    func testHandlerReceivesDecisionsAndWarnings() throws {
        let received = Received()
        Log.setHandler(minimumLevel: .info) { level, message in received.messages.withLock { $0.append((level, message)) } }
        XCTAssertTrue(received.texts(.info).contains { $0.hasPrefix("BLAS: OpenBLAS core \(BLAS.info.coreName)") })

        // Kernel ridge that needs jitter: a WARNING with the jitter, an INFO naming Cholesky.
        let singular = try Matrix([[1, 1], [1, 1]])
        _ = try KernelRidge.fit(kTrain: singular, y: try Matrix([[1], [2]]), maxJitter: 1e-3)
        XCTAssertTrue(received.texts(.warning).contains { $0.contains("added jitter") }, "\(received.texts(.warning))")
        XCTAssertTrue(received.texts(.info).contains { $0.hasPrefix("kernel ridge: Cholesky of the 2 x 2 kernel") })

        // tanh infinite width names the mixture with automatic nodes.
        let arch = try MLPArchitecture(inputDimension: 2, hiddenWidths: [4], outputDimension: 1, activation: .tanh)
        _ = try arch.infiniteWidthKernels(try Matrix([[1, 0], [0, 1]]))
        XCTAssertTrue(received.texts(.info).contains { $0.contains("Kolmogorov scale mixture, automatic nodes") })
    }

    func testMinimumLevelAndRemoval() throws {
        let received = Received()
        Log.setHandler(minimumLevel: .warning) { level, message in received.messages.withLock { $0.append((level, message)) } }
        XCTAssertFalse(Log.isEnabled(.info))
        XCTAssertTrue(Log.isEnabled(.warning))
        _ = try SpectralSolver(try Matrix([[1, 0], [0, -1]]))
        XCTAssertEqual(received.texts(.info), [])
        XCTAssertEqual(received.texts(.warning).count, 1)
        XCTAssertTrue(received.texts(.warning)[0].contains("1 negative eigenvalue(s) clamped to 0, the lowest -1.0"))

        Log.setHandler(nil)
        XCTAssertFalse(Log.isEnabled(.warning))
        _ = try SpectralSolver(try Matrix([[1, 0], [0, -1]]))
        XCTAssertEqual(received.texts(.warning).count, 1)
    }

    func testSizesAndNumbersFormatWithoutFoundation() {
        XCTAssertEqual(Log.bytes(512), "512 B")
        XCTAssertEqual(Log.bytes(64 << 20), "64.0 MiB")
        XCTAssertEqual(Log.bytes(3 << 29), "1.50 GiB")
        XCTAssertEqual(Log.format(-0.004, 2), "0.00")
        XCTAssertEqual(Log.format(2.345, 1), "2.3")
        XCTAssertEqual(Log.format(-1.25, 1), "-1.3")
    }
}
