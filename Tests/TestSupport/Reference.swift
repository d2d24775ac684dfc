import Foundation
import Runtime
import XCTest

/// Locations and the Python reference (tools/reference) that conformance tests compare against.
public enum Reference {
    public static var repoRoot: URL { Repo.root }
    public static var shared: URL { Repo.shared }

    /// Runs `python3 ARGS` from the repository root; returns stdout or throws with stderr.
    @discardableResult
    public static func python(_ args: [String]) throws -> String {
        let r = try Subprocess.run("/usr/bin/env", ["python3"] + args, directory: Repo.root)
        guard r.status == 0 else {
            throw NSError(domain: "python", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "python3 \(args.joined(separator: " ")) failed: \(r.stderr)"])
        }
        return r.stdout
    }

    /// Skips (or fails, under RECUR_REQUIRE_REFERENCE=1) when PyTorch is not importable.
    public static func requireTorch() throws {
        if (try? python(["-c", "import torch, safetensors, yaml"])) != nil { return }
        let message = "PyTorch reference not installed (python3 -c 'import torch, safetensors, yaml' failed)"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" {
            XCTFail(message)
            throw XCTSkip("failed: \(message)")
        }
        throw XCTSkip(message)
    }

    /// Skips (or fails, under RECUR_REQUIRE_REFERENCE=1) when ../shared is not beside the checkout.
    public static func requireShared(_ relative: String) throws -> URL {
        let url = shared.appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let message = "\(relative) not found beside the checkout (../shared)"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" {
            XCTFail(message)
        }
        throw XCTSkip(message)
    }

    public static func temporaryDirectory(_ name: String) throws -> URL { try Repo.temporaryDirectory("recur-\(name)") }
}
