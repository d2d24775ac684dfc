import Foundation
import XCTest

/// Writes the tiny model to $RECUR_BENCH_TINY_MODEL when set, for trying the CLI by hand.
final class MakeTinyModel: XCTestCase {
    func testWriteTinyModelWhenAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["RECUR_BENCH_TINY_MODEL"] else {
            throw XCTSkip("set RECUR_BENCH_TINY_MODEL=FILE to write the tiny test model there")
        }
        try BenchTestSupport.tinyModel(at: URL(fileURLWithPath: path))
    }
}
