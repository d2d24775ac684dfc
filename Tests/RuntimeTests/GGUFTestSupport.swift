import Foundation
import Runtime
import TestSupport
import XCTest

/// Shared pieces of the GGUF tests: the Python reference runner, the JSON
/// manifest both sides exchange (see tools/gguf/manifest.py) and a small valid sample file.
enum GGUFTestSupport {
    /// Runs a tools/gguf script and returns its output when its last line is `VERDICT: <expected>`.
    static func runReference(_ name: String, _ arguments: [String], expect verdict: String) throws -> String {
        let result = try Reference.runPython(["tools/gguf/\(name)"] + arguments)
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertEqual(result.status, 0, "\(name) failed:\n\(result.output)")
        XCTAssertEqual(last, "VERDICT: \(verdict)", "\(name) output:\n\(result.output)")
        return result.output
    }

    // MARK: Manifest

    static func manifestEntry(_ value: GGUFValue) -> [String: Any] {
        func hex<T: FixedWidthInteger>(_ bits: T) -> String {
            let digits = String(bits, radix: 16)
            return String(repeating: "0", count: MemoryLayout<T>.size * 2 - digits.count) + digits
        }
        let type = value.valueType.name
        switch value {
        case .float32(let v): return ["type": type, "bits": hex(v.bitPattern)]
        case .float64(let v): return ["type": type, "bits": hex(v.bitPattern)]
        case .bool(let v): return ["type": type, "value": v]
        case .string(let v): return ["type": type, "value": v]
        case .array(let items): return ["type": type, "items": items.map(manifestEntry)]
        default: return ["type": type, "value": value.description]
        }
    }

    struct ManifestError: Error, CustomStringConvertible {
        let description: String
    }

    static func value(fromManifest entry: [String: Any]) throws -> GGUFValue {
        guard let type = entry["type"] as? String else { throw ManifestError(description: "no type in \(entry)") }
        let text = entry["value"] as? String ?? ""
        func int<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let v = T(text) else { throw ManifestError(description: "bad \(type) \(text)") }
            return v
        }
        func bits<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let s = entry["bits"] as? String, let v = T(s, radix: 16) else {
                throw ManifestError(description: "bad \(type) bits in \(entry)")
            }
            return v
        }
        switch type {
        case "UINT8": return .uint8(try int(UInt8.self))
        case "INT8": return .int8(try int(Int8.self))
        case "UINT16": return .uint16(try int(UInt16.self))
        case "INT16": return .int16(try int(Int16.self))
        case "UINT32": return .uint32(try int(UInt32.self))
        case "INT32": return .int32(try int(Int32.self))
        case "UINT64": return .uint64(try int(UInt64.self))
        case "INT64": return .int64(try int(Int64.self))
        case "FLOAT32": return .float32(Float(bitPattern: try bits(UInt32.self)))
        case "FLOAT64": return .float64(Double(bitPattern: try bits(UInt64.self)))
        case "BOOL":
            guard let b = entry["value"] as? Bool else { throw ManifestError(description: "bad BOOL \(entry)") }
            return .bool(b)
        case "STRING": return .string(text)
        case "ARRAY":
            let items = entry["items"] as? [[String: Any]] ?? []
            return .array(try items.map(value(fromManifest:)))
        default: throw ManifestError(description: "unknown manifest type \(type)")
        }
    }

    /// Equality that compares floats by bit pattern, so -0 and NaN payloads count.
    static func sameBits(_ a: GGUFValue, _ b: GGUFValue) -> Bool {
        switch (a, b) {
        case let (.float32(x), .float32(y)): return x.bitPattern == y.bitPattern
        case let (.float64(x), .float64(y)): return x.bitPattern == y.bitPattern
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { sameBits($0, $1) }
        default: return a == b
        }
    }

    /// Replaces a file's contents in place. Opening with O_TRUNC makes ext4 flush on close
    /// (milliseconds per call), which the fuzz tests would pay thousands of times; writing over
    /// the old bytes and then cutting the length does not.
    static func overwrite(_ path: String, with bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else { throw ManifestError(description: "cannot open \(path)") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { $0.isEmpty ? 0 : write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, ftruncate(fd, off_t(bytes.count)) == 0 else {
            throw ManifestError(description: "cannot write \(path)")
        }
    }

    static func writeJSON(_ object: Any, to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: url)
    }

    static func writeFloats(_ values: [Float], to url: URL) throws {
        try values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { try Data($0).write(to: url) }
    }

    static func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    // MARK: Sample data

    typealias SplitMix64 = TestSupport.SplitMix64

    /// Roughly normal values (sum of uniforms), scaled.
    static func randomFloats(_ count: Int, scale: Float, rng: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in
            var s: Float = 0
            for _ in 0..<4 { s += Float.random(in: -1...1, using: &rng) }
            return s * scale
        }
    }

    /// One value of every metadata type, arrays (empty, strings, nested) and unicode included.
    static let everyValueType: [(String, GGUFValue)] = [
        ("general.architecture", .string("trm")),
        ("test.u8", .uint8(255)), ("test.i8", .int8(-128)),
        ("test.u16", .uint16(65535)), ("test.i16", .int16(-32768)),
        ("test.u32", .uint32(4_294_967_295)), ("test.i32", .int32(-2_147_483_648)),
        ("test.f32", .float32(-0.1)), ("test.bool", .bool(true)), ("test.bool.false", .bool(false)),
        ("test.string", .string("Grüße, 世界 🧠")), ("test.empty_string", .string("")),
        ("test.u64", .uint64(UInt64.max)), ("test.i64", .int64(Int64.min)),
        ("test.f64", .float64(1.0 / 3.0)),
        ("test.array.u8", .array([.uint8(0), .uint8(1), .uint8(255)])),
        ("test.array.i8", .array([.int8(-1), .int8(127)])),
        ("test.array.u16", .array([.uint16(7)])),
        ("test.array.i16", .array([.int16(-7), .int16(300)])),
        ("test.array.u32", .array([.uint32(1), .uint32(2)])),
        ("test.array.i32", .array([.int32(-5), .int32(5)])),
        ("test.array.f32", .array([.float32(1.5), .float32(-0.0), .float32(Float(bitPattern: 0x0001_16C2))])),
        ("test.array.bool", .array([.bool(false), .bool(true)])),
        ("test.array.string", .array([.string("a"), .string("ünï"), .string(""), .string("日本語")])),
        ("test.array.u64", .array([.uint64(1 << 40)])),
        ("test.array.i64", .array([.int64(-(1 << 40))])),
        ("test.array.f64", .array([.float64(-2.5), .float64(1e300)])),
        ("test.array.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
        ("test.array.empty", .array([])),
    ]

    /// Tensors of every encodable type with 1-D to 4-D shapes.
    static let sampleTensors: [(name: String, shape: [Int], type: GGMLType)] = [
        ("f32.vector", [7], .f32),
        ("f16.matrix", [3, 5], .f16),
        ("bf16.cube", [2, 3, 4], .bf16),
        ("q8_0.four", [2, 3, 2, 64], .q8_0),
        ("q4_0.matrix", [5, 96], .q4_0),
        ("q4_1.cube", [3, 2, 32], .q4_1),
        ("q8_0.vector", [32], .q8_0),
        ("f32.four", [1, 2, 3, 2], .f32),
    ]

    /// A valid file with metadata and a few tensors, for the corruption tests.
    static func sampleFile(in folder: URL, alignment: Int = 32) throws -> (url: URL, source: [String: [Float]]) {
        var writer = GGUFWriter(alignment: alignment)
        for (key, value) in everyValueType { writer.add(key, value) }
        var rng = SplitMix64(seed: 42)
        var source: [String: [Float]] = [:]
        for tensor in sampleTensors.prefix(6) {
            let values = randomFloats(tensor.shape.reduce(1, *), scale: 0.5, rng: &rng)
            try writer.addTensor(name: tensor.name, shape: tensor.shape, floats: values, type: tensor.type)
            source[tensor.name] = values
        }
        let url = folder.appendingPathComponent("sample.gguf")
        try writer.write(to: url.path)
        return (url, source)
    }
}
