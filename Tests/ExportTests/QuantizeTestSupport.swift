import Foundation
import TestSupport
import XCTest

/// Runs tools/gguf/quant_reference.py (the `gguf` package's quantizers) for the Quantize tests.
enum QuantizeReference {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static let probe: (ok: Bool, output: String) = {
        let result = try? run(["python3", "-c", "import gguf, numpy"])
        return (result?.status == 0, result?.output ?? "python3 could not be started")
    }()

    /// Skips (or, with RECUR_REQUIRE_REFERENCE=1, fails) when the `gguf` package is unavailable.
    static func require() throws {
        guard !probe.ok else { return }
        let reason = "python3 with the gguf and numpy packages not installed: \(probe.output.suffix(300))"
        if ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" {
            XCTFail(reason)
            throw NSError(domain: "QuantizeTests", code: 1, userInfo: [NSLocalizedDescriptionKey: reason])
        }
        throw XCTSkip(reason)
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func quantReference(_ arguments: [String]) throws {
        let script = repoRoot.appendingPathComponent("tools/gguf/quant_reference.py").path
        let result = try run(["python3", script] + arguments)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.hasSuffix("VERDICT: OK\n"), result.output)
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-quantize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func write<T>(_ values: [T], to url: URL) throws {
        try values.withUnsafeBytes { try Data($0).write(to: url) }
    }

    static func readBytes(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }

    static func readFloats(_ url: URL) throws -> [Float] {
        let bytes = try readBytes(url)
        return stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
    }
}

