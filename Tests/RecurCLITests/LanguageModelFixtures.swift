import Foundation
import Runtime
import TestSupport
import XCTest
import Bench

/// Rewrites bytes of a written GGUF header in place: the fields of a named tensor's info.
enum GGUFPatch {
    /// Byte offset of the type id in the info of tensor `name` (after its name, dimension count
    /// and dimensions), and of its first dimension.
    static func tensorInfoOffsets(_ bytes: Data, name: String, dimensions: Int) throws -> (firstDimension: Int, type: Int) {
        // The name is preceded by its u64 length; match both so a prefix of another name does not.
        var needle = Data()
        withUnsafeBytes(of: UInt64(name.utf8.count).littleEndian) { needle.append(contentsOf: $0) }
        needle.append(contentsOf: Array(name.utf8))
        let end = try XCTUnwrap(bytes.range(of: needle), "tensor \(name) is in the header").upperBound
        return (end + 4, end + 4 + 8 * dimensions)
    }

    static func setTensorType(_ url: URL, name: String, dimensions: Int, to type: GGMLType) throws {
        var bytes = try Data(contentsOf: url)
        let at = try tensorInfoOffsets(bytes, name: name, dimensions: dimensions).type
        withUnsafeBytes(of: type.rawValue.littleEndian) { bytes.replaceSubrange(at..<at + 4, with: $0) }
        try bytes.write(to: url)
    }

    /// Sets the ggml-order dimensions (innermost first) of tensor `name`.
    static func setTensorDimensions(_ url: URL, name: String, to ne: [Int]) throws {
        var bytes = try Data(contentsOf: url)
        var at = try tensorInfoOffsets(bytes, name: name, dimensions: ne.count).firstDimension
        for d in ne {
            withUnsafeBytes(of: UInt64(d).littleEndian) { bytes.replaceSubrange(at..<at + 8, with: $0) }
            at += 8
        }
        try bytes.write(to: url)
    }
}

extension CLI {
    /// How a guarded run ended.
    struct Guarded {
        var result: Result
        /// False when the process died of a signal (a trap, an abort, a segfault, or the guard's kill).
        var exited: Bool
        var timedOut: Bool
    }

    /// Runs `recur ARGS` and kills it after `seconds` (a hang guard, not a timing check).
    static func runGuarded(_ args: [String], stdin: String? = nil, seconds: Double = 120) throws -> Guarded {
        let child = try Subprocess(binary.path, args, directory: repoRoot, stdin: stdin.map { Data($0.utf8) })
        let lock = NSLock()
        var killed = false
        let guardItem = DispatchWorkItem {
            lock.lock()
            defer { lock.unlock() }
            if child.process.isRunning {
                killed = true
                kill(child.pid, SIGKILL)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: guardItem)
        let result = child.wait()
        guardItem.cancel()
        lock.lock()
        defer { lock.unlock() }
        return Guarded(result: result, exited: child.process.terminationReason == .exit, timedOut: killed)
    }
}

/// Runs `recur ARGS` under the hang guard, checks it exited 0 on its own, and returns what it
/// printed.
func runSucceeding(_ args: [String], stdin: String? = nil, seconds: Double = 300, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
    let run = try CLI.runGuarded(args, stdin: stdin, seconds: seconds)
    XCTAssertFalse(run.timedOut, "still running at the time bound: \(args)", file: file, line: line)
    XCTAssertTrue(run.exited, "killed by a signal: \(args)\n\(run.result.stderr)", file: file, line: line)
    XCTAssertEqual(run.result.status, 0, "\(args)\n\(run.result.stderr)", file: file, line: line)
    return run.result
}

/// Asserts that `recur` refused: a non-zero exit of its own (no signal, no shell-style 128+signal
/// status, no hang), with stderr holding every one of `mentions`.
func XCTAssertRefuses(_ run: CLI.Guarded, mentioning mentions: [String], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertFalse(run.timedOut, "\(what): still running at the time bound", file: file, line: line)
    XCTAssertTrue(run.exited, "\(what): killed by signal \(run.result.status): \(run.result.stderr)", file: file, line: line)
    XCTAssertNotEqual(run.result.status, 0, "\(what): must fail", file: file, line: line)
    XCTAssertFalse([132, 134, 139].contains(run.result.status), "\(what): status \(run.result.status) is a crash", file: file, line: line)
    for mention in mentions {
        XCTAssertTrue(run.result.stderr.contains(mention), "\(what): stderr names '\(mention)': \(run.result.stderr)", file: file, line: line)
    }
}
