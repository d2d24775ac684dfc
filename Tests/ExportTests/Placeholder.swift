import XCTest
final class ExportTestsPlaceholder: XCTestCase { func testBuilds() {} }
