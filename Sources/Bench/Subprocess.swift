import Foundation

/// A child process with its standard output and error captured.
///
/// Both pipes are drained from the moment the child starts, and its input is written from
/// another thread, so a chatty child never blocks on a full pipe while the parent is still
/// writing its input or waiting on the other stream. The child stays in the caller's process
/// group: Ctrl-C at a terminal reaches it directly.
public final class Subprocess: @unchecked Sendable {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public let process = Process()
    private let out = Pipe(), err = Pipe()
    private final class Box: @unchecked Sendable { var data = Data() }
    private let outBox = Box(), errBox = Box()
    private let drained = DispatchGroup()

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
        _ = Self.ignoreBrokenPipes
        try process.run()
        for (pipe, box) in [(out, outBox), (err, errBox)] {
            drained.enter()
            DispatchQueue.global().async { [drained] in
                box.data = pipe.fileHandleForReading.readDataToEndOfFile()
                drained.leave()
            }
        }
        let writer = input.fileHandleForWriting
        drained.enter()
        DispatchQueue.global().async { [drained] in
            // A child that exits without reading all of it closes the pipe: the write then fails
            // (SIGPIPE ignored, see `ignoreBrokenPipes`), which is no error of ours.
            if let stdin { try? writer.write(contentsOf: stdin) }
            try? writer.close()
            drained.leave()
        }
    }

    public var pid: Int32 { process.processIdentifier }

    /// Writing to a child that has closed its input must fail the write, not kill this process.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Reads both streams to the end and waits for the exit.
    public func wait() -> Result {
        drained.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Runs to the end.
    public static func run(_ executable: String, _ arguments: [String], directory: URL? = nil, stdin: Data? = nil) throws -> Result {
        try Subprocess(executable, arguments, directory: directory, stdin: stdin).wait()
    }
}
