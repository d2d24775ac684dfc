import Foundation

/// A child process with its standard output and error captured.
///
/// Both pipes are drained at the same time, so a chatty child can never block on a full pipe
/// while the parent waits on the other one.
public final class Subprocess: @unchecked Sendable {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public let process = Process()
    private let out = Pipe(), err = Pipe()

    /// Starts `executable` (`/usr/bin/env` finds a program on the PATH) with `stdin` as its input
    /// (none: an empty input).
    public init(_ executable: String, _ arguments: [String], directory: URL? = nil, stdin: Data? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try? input.fileHandleForWriting.close()
    }

    public var pid: Int32 { process.processIdentifier }

    /// Reads both streams to the end and waits for the exit.
    public func wait() -> Result {
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        let err = self.err
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Runs to the end.
    public static func run(_ executable: String, _ arguments: [String], directory: URL? = nil, stdin: Data? = nil) throws -> Result {
        try Subprocess(executable, arguments, directory: directory, stdin: stdin).wait()
    }
}
