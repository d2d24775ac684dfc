import Foundation
import XCTest

/// Locations and the Python reference (tools/reference) that conformance tests compare against.
enum Reference {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let shared = repoRoot.deletingLastPathComponent().appendingPathComponent("shared")

    /// Runs `python3 ARGS` from the repository root; returns stdout or throws with stderr.
    @discardableResult
    static func python(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        p.currentDirectoryURL = repoRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "python", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: "python3 \(args.joined(separator: " ")) failed: \(String(decoding: errData, as: UTF8.self))"])
        }
        return String(decoding: outData, as: UTF8.self)
    }

    /// Skips (or fails, under RECUR_REQUIRE_REFERENCE=1) when PyTorch is not importable.
    static func requireTorch() throws {
        if (try? python(["-c", "import torch, safetensors, yaml"])) != nil { return }
        let message = "PyTorch reference not installed (python3 -c 'import torch, safetensors, yaml' failed)"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" {
            XCTFail(message)
            throw XCTSkip("failed: \(message)")
        }
        throw XCTSkip(message)
    }

    /// Skips (or fails, under RECUR_REQUIRE_REFERENCE=1) when ../shared is not beside the checkout.
    static func requireShared(_ relative: String) throws -> URL {
        let url = shared.appendingPathComponent(relative)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let message = "\(relative) not found beside the checkout (../shared)"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" {
            XCTFail(message)
        }
        throw XCTSkip(message)
    }

    /// A fresh temporary folder removed at process exit is not needed: tests remove their own.
    static func temporaryDirectory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
