/// GPT-2's byte-level alphabet: every byte 0...255 stands for one printable code point, so that
/// byte-level BPE vocabularies can be stored as ordinary strings.
///
/// Printable Latin-1 bytes (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) stand for themselves; the other 68
/// (controls, space, DEL, NBSP, soft hyphen, ...) take U+0100, U+0101, ... in byte order. This is
/// the table llama.cpp builds in `unicode_byte_to_utf8_map`, and the one `tokenizer.ggml.tokens`
/// and `tokenizer.ggml.merges` are written in.
enum BytePairByteMap {
    /// byte -> the code point that stands for it.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// Code point (below 0x144) -> the byte it stands for, or -1 for code points outside the alphabet.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar)] = Int16(byte) }
        return table
    }()

    static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The raw bytes a string of the alphabet stands for; nil when it holds a code point outside it
    /// (such a string can never be produced by byte-level pre-tokenization, so it never matches).
    static func bytes(of encoded: Substring.UnicodeScalarView) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(encoded.count)
        for scalar in encoded {
            let v = Int(scalar.value)
            guard v < byteForScalar.count, byteForScalar[v] >= 0 else { return nil }
            out.append(UInt8(byteForScalar[v]))
        }
        return out
    }

    static func bytes(of encoded: String) -> [UInt8]? {
        bytes(of: Substring(encoded).unicodeScalars)
    }
}
