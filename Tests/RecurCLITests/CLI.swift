import Foundation
import Runtime
import TestSupport
import XCTest

/// Runs the built `recur` binary the way a user does and captures what it prints.
enum CLI {
    static var repoRoot: URL { Repo.root }
    static var shared: URL { Repo.shared }

    static var binary: URL { Repo.recurExecutable }

    typealias Result = Subprocess.Result

    static func run(_ args: [String], stdin: String? = nil, in directory: URL? = nil) throws -> Result {
        try Subprocess.run(binary.path, args, directory: directory ?? repoRoot, stdin: stdin.map { Data($0.utf8) })
    }

    static func python(_ args: [String]) throws -> Result {
        try Subprocess.run("/usr/bin/env", ["python3"] + args, directory: repoRoot)
    }

    static func requireTorch() throws {
        if let r = try? python(["-c", "import torch, safetensors, yaml"]), r.status == 0 { return }
        let message = "PyTorch reference not installed"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" { XCTFail(message) }
        throw XCTSkip(message)
    }

    static func temporaryDirectory() throws -> URL { try Repo.temporaryDirectory("recur-cli") }
}
