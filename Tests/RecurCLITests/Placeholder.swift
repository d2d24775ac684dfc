import XCTest
final class RecurCLITestsPlaceholder: XCTestCase { func testBuilds() {} }
