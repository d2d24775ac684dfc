/// Element decoding from little-endian storage to float32.
///
/// Written out per dtype (rather than through Swift's Float16, which macOS on Intel lacks) and
/// matched bit for bit against torch's `tensor.float()` by the tests.
enum ElementConversion {
    static func toFloat(_ dtype: TensorDType, _ raw: UnsafeRawBufferPointer, start: Int, stride: Int,
                        count: Int, into out: UnsafeMutablePointer<Float>) {
        let size = dtype.byteSize
        @inline(__always) func offset(_ i: Int) -> Int { (start + i * stride) * size }
        switch dtype {
        case .float32:
            #if _endian(little)
            if stride == 1 {
                UnsafeMutableRawPointer(out).copyMemory(from: raw.baseAddress! + start * 4, byteCount: count * 4)
                return
            }
            #endif
            for i in 0 ..< count {
                out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: UInt32.self)))
            }
        case .float16:
            for i in 0 ..< count {
                out[i] = halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: UInt16.self)))
            }
        case .bfloat16:
            for i in 0 ..< count {
                let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .float64:
            for i in 0 ..< count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: UInt64.self))))
            }
        case .int64:
            for i in 0 ..< count {
                out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: Int64.self)))
            }
        case .int32:
            for i in 0 ..< count {
                out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: Int32.self)))
            }
        case .int16:
            for i in 0 ..< count {
                out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: offset(i), as: Int16.self)))
            }
        case .int8:
            for i in 0 ..< count { out[i] = Float(Int8(bitPattern: raw[offset(i)])) }
        case .uint8:
            for i in 0 ..< count { out[i] = Float(raw[offset(i)]) }
        case .bool:
            for i in 0 ..< count { out[i] = raw[offset(i)] != 0 ? 1 : 0 }
        }
    }

    /// IEEE binary16 to binary32; exact (every half is a float), NaN payloads kept.
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa * 2^-24, exact in float32.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}
