import NTK
import XCTest

final class BLASTests: XCTestCase {
    func testInfoAndThreadCount() throws {
        let before = BLAS.info
        XCTAssertFalse(before.coreName.isEmpty)
        XCTAssertTrue(before.config.contains("OpenBLAS"), before.config)
        try BLAS.setThreadCount(1)
        XCTAssertEqual(BLAS.info.threadCount, 1)
        try BLAS.setThreadCount(before.threadCount)
        XCTAssertEqual(BLAS.info.threadCount, before.threadCount)
        assertThrows(.invalidArgument, try BLAS.setThreadCount(0))
        assertThrows(.invalidArgument, try BLAS.setThreadCount(BLAS.maxThreadCount + 1))
    }

    func testVersion() {
        XCTAssertEqual(Version.number, Version.major * 10000 + Version.minor * 100 + Version.patch)
        XCTAssertEqual("\(Version.string)", "\(Version.major).\(Version.minor).\(Version.patch)")
    }
}
