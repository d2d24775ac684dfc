@testable import Bench
import Foundation
import XCTest

/// The process helper never deadlocks on full pipes, whatever order a child reads and writes in.
final class SubprocessTests: XCTestCase {
    /// A child that writes 4 MiB to each of stdout and stderr before reading 4 MiB of input: with
    /// the input written before the outputs were drained, both sides would wait on a full pipe.
    func testAChattyChildThatReadsItsInputLastDoesNotDeadlock() throws {
        let size = 4 << 20
        let script = """
        import sys
        sys.stdout.write("o" * \(size)); sys.stdout.flush()
        sys.stderr.write("e" * \(size)); sys.stderr.flush()
        data = sys.stdin.buffer.read()
        sys.stdout.write(str(len(data)))
        """
        let input = Data(repeating: 0x61, count: size)
        let done = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var result: Subprocess.Result? }
        let box = Box()
        DispatchQueue.global().async {
            box.result = try? Subprocess.run("/usr/bin/env", ["python3", "-c", script], stdin: input)
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the child finished (no deadlock)")
        let result = try XCTUnwrap(box.result)
        XCTAssertEqual(result.status, 0, result.stderr.suffix(200).description)
        XCTAssertEqual(result.stdout.count, size + String(size).count)
        XCTAssertTrue(result.stdout.hasSuffix(String(size)), "the child read all of its input")
        XCTAssertEqual(result.stderr.count, size)
    }

    /// A child that exits without reading its input: the parent carries on (no SIGPIPE death).
    func testAChildThatIgnoresItsInput() throws {
        let result = try Subprocess.run("/usr/bin/env", ["python3", "-c", "print('bye')"], stdin: Data(repeating: 0x62, count: 8 << 20))
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(result.stdout, "bye\n")
    }

    /// A stop (Ctrl-C in `recur bench`) terminates a running reference child at once, not at the
    /// next poll.
    func testStoppingTerminatesTheChildAtOnce() throws {
        let stop = StopFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { stop.set() }
        let start = Date()
        let result = try PyTorchBaseline.runPython(["-c", "import time; time.sleep(60)"], stop: stop)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10, "terminated long before the child's minute")
        XCTAssertNotEqual(result.status, 0)
        final class Ran: @unchecked Sendable { var value = false }
        let ran = Ran()
        stop.onSet { ran.value = true }
        XCTAssertTrue(ran.value, "a handler added after the stop runs at once")
    }
}
