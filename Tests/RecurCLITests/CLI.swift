import Foundation
import XCTest

/// Runs the built `recur` binary the way a user does and captures what it prints.
enum CLI {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")

    /// The `recur` executable beside the test bundle (.build/<config>/recur).
    static var binary: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("recur")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        for config in ["debug", "release"] {
            let candidate = repoRoot.appendingPathComponent(".build/\(config)/recur")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repoRoot.appendingPathComponent(".build/debug/recur")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ args: [String], stdin: String? = nil, in directory: URL? = nil) throws -> Result {
        try execute(binary, args, stdin: stdin, in: directory)
    }

    static func python(_ args: [String]) throws -> Result {
        try execute(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + args, stdin: nil, in: repoRoot)
    }

    private static func execute(_ exe: URL, _ args: [String], stdin: String?, in directory: URL?) throws -> Result {
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        p.currentDirectoryURL = directory ?? repoRoot
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inp.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty process cannot block on a full pipe.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    static func requireTorch() throws {
        if let r = try? python(["-c", "import torch, safetensors, yaml"]), r.status == 0 { return }
        let message = "PyTorch reference not installed"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" { XCTFail(message) }
        throw XCTSkip(message)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
