import Foundation
import Runtime
import TestSupport
import XCTest

/// Runs tools/gguf/quant_reference.py (the `gguf` package's quantizers) for the Quantize tests.
enum QuantizeReference {
    /// Runs tools/gguf/quant_reference.py and checks that it says `VERDICT: OK`.
    static func quantReference(_ arguments: [String]) throws {
        let result = try Reference.runPython(["tools/gguf/quant_reference.py"] + arguments)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.hasSuffix("VERDICT: OK\n"), result.output)
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

