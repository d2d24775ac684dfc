import CKernels
import Foundation
import XCTest

/// Deterministic generator so a failing case can be replayed from its seed.
struct QuantRandom {
    var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next() >> 24) }

    /// Uniform in [-1, 1).
    mutating func unit() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
}

enum QuantFormat: CaseIterable, CustomStringConvertible {
    case q8_0, q4_0, q4_1

    var type: recur_qtype {
        switch self {
        case .q8_0: return RECUR_Q8_0
        case .q4_0: return RECUR_Q4_0
        case .q4_1: return RECUR_Q4_1
        }
    }

    var blockBytes: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        }
    }

    var description: String {
        switch self {
        case .q8_0: return "Q8_0"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        }
    }
}

/// The SIMD tiers recur_q_linear_isa knows, with the name tests print when one is skipped.
let quantSIMDTiers: [(isa: recur_isa, name: String)] = [
    (RECUR_ISA_AVX2, "avx2"), (RECUR_ISA_AVXVNNI, "avxvnni"), (RECUR_ISA_AVX512, "avx512 (VNNI)"),
    (RECUR_ISA_AMX, "amx"),
]

/// 64-byte aligned scratch owned by the test.
final class AlignedBuffer {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(bytes: Int) {
        count = max(bytes, 1)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: count)
    }

    deinit { pointer.deallocate() }
}

/// Standard-layout (file) weights for n rows of k elements, with plain decoding in Swift.
struct QuantWeights {
    let format: QuantFormat
    let n: Int
    let k: Int
    var bytes: [UInt8]

    var rowBytes: Int { k / 32 * format.blockBytes }

    /// Random quants over their whole range (Q8_0 includes -128) and fp16 scales of either sign
    /// around 2^-8 (Q4_1 mins too).
    static func random(_ format: QuantFormat, n: Int, k: Int, rng: inout QuantRandom) -> QuantWeights {
        var bytes = (0..<(n * k / 32 * format.blockBytes)).map { _ in rng.byte() }
        var w = QuantWeights(format: format, n: n, k: k, bytes: [])
        for block in 0..<(n * k / 32) {
            let o = block * format.blockBytes
            let d = Float16(rng.unit() * 0x1p-6)
            bytes[o] = UInt8(d.bitPattern & 0xFF)
            bytes[o + 1] = UInt8(d.bitPattern >> 8)
            if format == .q4_1 {
                let m = Float16(rng.unit() * 0x1p-4)
                bytes[o + 2] = UInt8(m.bitPattern & 0xFF)
                bytes[o + 3] = UInt8(m.bitPattern >> 8)
            }
        }
        w.bytes = bytes
        return w
    }

    private func half(_ offset: Int) -> Double {
        Double(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
    }

    /// Element (row, j) as ggml defines it, in double precision.
    func value(row: Int, _ j: Int) -> Double {
        let o = row * rowBytes + (j / 32) * format.blockBytes
        let e = j % 32
        switch format {
        case .q8_0:
            return half(o) * Double(Int8(bitPattern: bytes[o + 2 + e]))
        case .q4_0:
            let byte = bytes[o + 2 + e % 16]
            let q = e < 16 ? Int(byte & 0x0F) : Int(byte >> 4)
            return half(o) * Double(q - 8)
        case .q4_1:
            let byte = bytes[o + 4 + e % 16]
            let q = e < 16 ? Int(byte & 0x0F) : Int(byte >> 4)
            return half(o) * Double(q) + half(o + 2)
        }
    }

    /// |d q| + |m|: the size of the parts a Q4_1 value is the sum of (rounding scales with them).
    func magnitude(row: Int, _ j: Int) -> Double {
        guard format == .q4_1 else { return abs(value(row: row, j)) }
        let o = row * rowBytes + (j / 32) * format.blockBytes
        let m = half(o + 2)
        return abs(value(row: row, j) - m) + abs(m)
    }

    /// Sets every quant of the given rows' first block to its most negative value (-128 for Q8_0).
    mutating func setExtremeQuants(rows: [Int]) {
        for row in rows where row < n {
            let o = row * rowBytes
            switch format {
            case .q8_0: for e in 0..<32 { bytes[o + 2 + e] = 0x80 }
            case .q4_0: for e in 0..<16 { bytes[o + 2 + e] = 0x00 }
            case .q4_1: for e in 0..<16 { bytes[o + 4 + e] = 0xFF }
            }
        }
    }

    /// Repacked for the kernels.
    func packed() -> AlignedBuffer {
        let size = recur_q_packed_size(format.type, Int64(n), Int64(k))
        let buffer = AlignedBuffer(bytes: size)
        let status = bytes.withUnsafeBytes { recur_q_repack(format.type, $0.baseAddress, buffer.pointer, Int64(n), Int64(k)) }
        precondition(status == 0, "repack of a valid test matrix failed") // test setup, not input data
        return buffer
    }
}

/// Runs y = x W^T through recur_q_linear_isa; nil if the tier cannot run here.
func quantLinear(
    isa: recur_isa, _ format: QuantFormat, packed: AlignedBuffer, x: [Float], m: Int, n: Int, k: Int
) -> [Float]? {
    let scratch = AlignedBuffer(bytes: recur_q_act_size(Int64(m), Int64(k)))
    var y = [Float](repeating: .nan, count: m * n)
    let status = x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            recur_q_linear_isa(isa, format.type, packed.pointer, xp.baseAddress, yp.baseAddress,
                               Int64(m), Int64(n), Int64(k), scratch.pointer)
        }
    }
    return status == 0 ? y : nil
}

/// Bytewise equality, so -0 vs +0 and NaN payloads count as differences.
func bitPatterns(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }
