import Foundation
import Runtime
import TestSupport
import XCTest
import Bench

/// Runs the built `recur` binary the way a user does and captures what it prints.
enum CLI {
    static var repoRoot: URL { Repo.root }
    static var shared: URL { Repo.shared }

    static var binary: URL { Repo.recurExecutable }

    typealias Result = Subprocess.Result

    static func run(_ args: [String], stdin: String? = nil, in directory: URL? = nil) throws -> Result {
        try Subprocess.run(binary.path, args, directory: directory ?? repoRoot, stdin: stdin.map { Data($0.utf8) })
    }

    /// Runs it with extra environment variables (through env(1)).
    static func run(_ args: [String], environment: [String: String]) throws -> Result {
        try Subprocess.run("/usr/bin/env", environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + [binary.path] + args,
                           directory: repoRoot)
    }

    static func temporaryDirectory() throws -> URL { try Repo.temporaryDirectory("recur-cli") }
}
