/// Float32 <-> IEEE half and bfloat16 bit conversions, written out in integer arithmetic.
///
/// Swift's `Float16` is unavailable on Intel macOS and its NaN handling is the hardware's; these
/// reproduce NumPy's `astype(np.float16)` bit for bit (round to nearest even, subnormals, NaN
/// payload kept rather than quieted) because the `gguf` Python package is the reference that
/// Recur's files are checked against.
public enum HalfBits {
    /// float32 -> IEEE binary16, round to nearest even.
    @inlinable
    public static func half(from value: Float) -> UInt16 {
        let f = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (f >> 16) & 0x8000)
        let exponent = Int((f >> 23) & 0xFF)
        let mantissa = f & 0x7F_FFFF
        if exponent == 0xFF {
            if mantissa == 0 { return sign | 0x7C00 }
            // NaN: keep the top payload bits; never let a NaN collapse into infinity.
            let payload = UInt16(truncatingIfNeeded: mantissa >> 13)
            return sign | 0x7C00 | (payload == 0 ? 1 : payload)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 31 { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Result is a half subnormal (or zero): units of 2^-24.
            guard exponent != 0 else { return sign }
            let significand = 0x80_0000 | mantissa
            let shift = UInt32(126 - exponent)
            if shift >= 25 { return sign }
            var q = significand >> shift
            let remainder = significand & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if remainder > halfway || (remainder == halfway && (q & 1) == 1) { q += 1 }
            return sign | UInt16(truncatingIfNeeded: q)
        }
        var h = (UInt32(halfExponent) << 10) | (mantissa >> 13)
        let remainder = mantissa & 0x1FFF
        // A carry out of the mantissa correctly bumps the exponent, up to infinity.
        if remainder > 0x1000 || (remainder == 0x1000 && (h & 1) == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }

    /// IEEE binary16 -> float32 (exact; NaN payload kept).
    @inlinable
    public static func float(fromHalf h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            // Subnormal halves are exact multiples of 2^-24, representable as normal floats.
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        }
        if exponent == 0x1F {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// float32 -> bfloat16 the way ggml (and `gguf.quants`) does it: NaNs are forced quiet,
    /// everything else rounds to nearest even.
    @inlinable
    public static func bfloat(from value: Float) -> UInt16 {
        var n = value.bitPattern
        if (n & 0x7FFF_FFFF) > 0x7F80_0000 {
            n = (n & 0xFFFF_0000) | 0x0040_0000
        }
        let rounded = (UInt64(n) + 0x7FFF + UInt64((n >> 16) & 1)) >> 16
        return UInt16(truncatingIfNeeded: rounded)
    }

    /// bfloat16 -> float32 (exact).
    @inlinable
    public static func float(fromBFloat b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }
}
