import CKernels

/// Block encoders and decoders for the ggml types Recur writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1),
/// plus decoders for the types it only reads (Q5_0, Q5_1 and the K-quants Q4_K, Q5_K, Q6_K).
///
/// They live in Runtime (not Export) because `GGUFWriter` and `GGUFFile.floats` need them and
/// Runtime cannot import Export. The arithmetic mirrors `gguf.quants` from the `gguf` Python
/// package step by step in float32 (no fused multiply-add, same operation order, same tie
/// rules) so that the bytes are identical to the reference's, not merely close. The read-only
/// types decode in C (`recur_kq_dequantize_row`, ggml's own dequantizers), which the runtime
/// also calls per row.
public enum GGMLBlocks {
    /// Types `encode` handles (and `decode`). This is what Recur can write, so export and
    /// requantization offer exactly these.
    public static let supportedTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// Whether `encode` (and therefore `decode`) handles `type`.
    public static func supports(_ type: GGMLType) -> Bool { supportedTypes.contains(type) }

    /// Types `decode` handles: every encodable type plus those Recur reads from other tools'
    /// files but never writes (quantizing to them well needs ggml's search for scales, and a
    /// writer that differs from ggml's bytes would be worse than none).
    public static let decodableTypes: [GGMLType] = supportedTypes + readOnlyTypes

    /// Whether `decode` handles `type`.
    public static func decodable(_ type: GGMLType) -> Bool { decodableTypes.contains(type) }

    /// Decoded by the C row dequantizer.
    static let readOnlyTypes: [GGMLType] = [.q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    /// Bytes `count` elements occupy when encoded as `type`.
    public static func encodedByteCount(_ count: Int, as type: GGMLType) throws -> Int {
        try type.rowBytes(count)
    }

    /// Encodes (quantizes) `values` as `type` into `out`, which must be exactly
    /// `encodedByteCount(values.count, as: type)` bytes.
    public static func encode(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, into out: UnsafeMutableRawBufferPointer
    ) throws {
        guard supports(type) else { throw GGMLBlockError.unsupported(type: type, operation: "encoded") }
        let expected = try type.rowBytes(values.count)
        guard out.count == expected else {
            throw GGMLBlockError.sizeMismatch(type: type, what: "output bytes", expected: expected, actual: out.count)
        }
        guard let src = values.baseAddress, let dst = out.baseAddress else { return }
        let n = values.count
        switch type {
        case .f32:
            dst.copyMemory(from: UnsafeRawPointer(src), byteCount: n * 4)
        case .f16:
            for i in 0..<n {
                dst.storeBytes(of: HalfBits.half(from: src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .bf16:
            for i in 0..<n {
                dst.storeBytes(of: HalfBits.bfloat(from: src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .q8_0:
            for b in 0..<(n / 32) { encodeQ8_0(src + 32 * b, dst + 34 * b) }
        case .q4_0:
            for b in 0..<(n / 32) { encodeQ4_0(src + 32 * b, dst + 18 * b) }
        case .q4_1:
            for b in 0..<(n / 32) { encodeQ4_1(src + 32 * b, dst + 20 * b) }
        default:
            throw GGMLBlockError.unsupported(type: type, operation: "encoded")
        }
    }

    public static func encode(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
        let count = try encodedByteCount(values.count, as: type)
        var out = [UInt8](repeating: 0, count: count)
        try values.withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBytes { dst in try encode(src, as: type, into: dst) }
        }
        return out
    }

    /// Decodes (dequantizes) `bytes` of `type` into `out`, which must hold exactly the number of
    /// elements the bytes encode.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, as type: GGMLType, into out: UnsafeMutableBufferPointer<Float>
    ) throws {
        guard decodable(type) else { throw GGMLBlockError.unsupported(type: type, operation: "decoded") }
        let expected = try elementCount(ofBytes: bytes.count, as: type)
        guard out.count == expected else {
            throw GGMLBlockError.sizeMismatch(type: type, what: "output elements", expected: expected, actual: out.count)
        }
        guard let src = bytes.baseAddress, let dst = out.baseAddress else { return }
        let n = out.count
        switch type {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .f16:
            for i in 0..<n {
                let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                dst[i] = HalfBits.float(fromHalf: h)
            }
        case .bf16:
            for i in 0..<n {
                let h = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                dst[i] = HalfBits.float(fromBFloat: h)
            }
        case .q8_0:
            for b in 0..<(n / 32) { decodeQ8_0(src + 34 * b, dst + 32 * b) }
        case .q4_0:
            for b in 0..<(n / 32) { decodeQ4_0(src + 18 * b, dst + 32 * b) }
        case .q4_1:
            for b in 0..<(n / 32) { decodeQ4_1(src + 20 * b, dst + 32 * b) }
        case .q5_0, .q5_1, .q4_K, .q5_K, .q6_K:
            // Blocks never straddle rows, so the whole tensor decodes as one long row.
            guard recur_kq_dequantize_row(Int32(type.rawValue), src, dst, Int64(n)) == 0 else {
                throw GGMLBlockError.unsupported(type: type, operation: "decoded")
            }
        default:
            throw GGMLBlockError.unsupported(type: type, operation: "decoded")
        }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, as type: GGMLType) throws -> [Float] {
        let count = try elementCount(ofBytes: bytes.count, as: type)
        var out = [Float](repeating: 0, count: count)
        try out.withUnsafeMutableBufferPointer { try decode(bytes, as: type, into: $0) }
        return out
    }

    public static func decode(_ bytes: [UInt8], as type: GGMLType) throws -> [Float] {
        try bytes.withUnsafeBytes { try decode($0, as: type) }
    }

    /// Elements encoded by `byteCount` bytes of `type`.
    public static func elementCount(ofBytes byteCount: Int, as type: GGMLType) throws -> Int {
        guard byteCount % type.blockBytes == 0 else {
            throw GGMLBlockError.partialBlock(type: type, byteCount: byteCount)
        }
        return byteCount / type.blockBytes * type.blockSize
    }

    // MARK: - Reference arithmetic

    /// NumPy's `astype(np.uint8)` / `astype(np.int8)` of a float32 on x86: the value is truncated
    /// through a 32-bit integer, so NaN, infinities and magnitudes from 2^31 up give 0x80000000,
    /// whose low byte is 0. Only reachable for inputs whose scale overflows (huge or tiny blocks).
    @inline(__always)
    static func numpyLowByte(_ x: Float) -> UInt8 {
        guard x.isFinite, x.magnitude < 2_147_483_648 else { return 0 }
        return UInt8(truncatingIfNeeded: Int32(x))
    }

    @inline(__always)
    static func storeHalf(_ value: Float, _ dst: UnsafeMutableRawPointer, _ offset: Int) {
        dst.storeBytes(of: HalfBits.half(from: value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    static func loadHalf(_ src: UnsafeRawPointer, _ offset: Int) -> Float {
        HalfBits.float(fromHalf: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Q8_0: `d = max|x| / 127`, `q = round_half_away(x / d)`; bytes `d:f16, q:int8[32]`.
    @inline(__always)
    static func encodeQ8_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 {
            let a = x[j].magnitude
            if a.isNaN { if !amax.isNaN { amax = a } } else if a > amax { amax = a }
        }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        storeHalf(d, out, 0)
        for j in 0..<32 {
            // gguf.quants' np_roundf is round-half-away-from-zero on the float32 product.
            let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
            out.storeBytes(of: numpyLowByte(r), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// Q4_0: the signed value of largest magnitude (first one on ties) sets `d = max / -8`;
    /// `q = min(15, trunc(x / d + 8.5))`; nibbles pack element j with element j + 16.
    @inline(__always)
    static func encodeQ4_0(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var best = 0
        var bestMagnitude = x[0].magnitude
        if !bestMagnitude.isNaN {
            for j in 1..<32 {
                let a = x[j].magnitude
                if a.isNaN { best = j; break }
                if a > bestMagnitude { bestMagnitude = a; best = j }
            }
        }
        let d = x[best] / -8
        let id: Float = d == 0 ? 0 : 1 / d
        storeHalf(d, out, 0)
        for j in 0..<16 {
            let lo = min(numpyLowByte(x[j] * id + 8.5), 15)
            let hi = min(numpyLowByte(x[j + 16] * id + 8.5), 15)
            out.storeBytes(of: lo | (hi << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }

    /// Q4_1: `d = (max - min) / 15`, `q = min(15, trunc((x - min) / d + 0.5))`; bytes
    /// `d:f16, min:f16, nibbles`. NumPy's min/max reductions return the later of equal values,
    /// which only shows for +0 versus -0 and decides the sign bit of the stored minimum.
    @inline(__always)
    static func encodeQ4_1(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var lowest = x[0]
        var highest = x[0]
        for j in 1..<32 {
            let v = x[j]
            // NumPy's reductions propagate the first NaN; both bounds are NaN together or not at all.
            if lowest.isNaN { break }
            if v.isNaN { lowest = v; highest = v; break }
            if v <= lowest { lowest = v }
            if v >= highest { highest = v }
        }
        let d = (highest - lowest) / 15
        let id: Float = d == 0 ? 0 : 1 / d
        storeHalf(d, out, 0)
        storeHalf(lowest, out, 2)
        for j in 0..<16 {
            let lo = min(numpyLowByte((x[j] - lowest) * id + 0.5), 15)
            let hi = min(numpyLowByte((x[j + 16] - lowest) * id + 0.5), 15)
            out.storeBytes(of: lo | (hi << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }

    @inline(__always)
    static func decodeQ8_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        for j in 0..<32 {
            y[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d
        }
    }

    @inline(__always)
    static func decodeQ4_0(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        for j in 0..<16 {
            let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * Float(Int(q & 0x0F) - 8)
            y[j + 16] = d * Float(Int(q >> 4) - 8)
        }
    }

    @inline(__always)
    static func decodeQ4_1(_ block: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = loadHalf(block, 0)
        let m = loadHalf(block, 2)
        for j in 0..<16 {
            let q = block.load(fromByteOffset: 4 + j, as: UInt8.self)
            // Two roundings (product, then sum) as NumPy does; a fused multiply-add would differ.
            let lo = d * Float(q & 0x0F)
            let hi = d * Float(q >> 4)
            y[j] = lo + m
            y[j + 16] = hi + m
        }
    }
}
