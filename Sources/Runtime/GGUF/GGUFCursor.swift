/// A bounds-checked little-endian reader over the mapped file.
///
/// Every read states what it is reading, so that a truncated or corrupt file produces an error
/// naming the field and its offset. Counts read from the file are checked against the bytes
/// that remain *before* anything is allocated, so a corrupt count cannot exhaust memory.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    /// Reserves `count` bytes and returns where they start.
    mutating func take(_ count: Int, _ what: String) throws -> Int {
        guard count >= 0, count <= remaining else {
            throw GGUFError.truncated(path: path, offset: offset, what: what, needed: count, fileSize: bytes.count)
        }
        let start = offset
        offset += count
        return start
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let at = try take(MemoryLayout<T>.size, what)
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    mutating func u8(_ what: String) throws -> UInt8 { try load(UInt8.self, what) }
    mutating func u32(_ what: String) throws -> UInt32 { try load(UInt32.self, what) }
    mutating func u64(_ what: String) throws -> UInt64 { try load(UInt64.self, what) }

    /// Reads a u64 count of items each at least `minimumSize` bytes long, refusing counts the
    /// rest of the file cannot possibly hold.
    mutating func count(_ what: String, minimumSize: Int) throws -> Int {
        let at = offset
        let raw = try u64("the \(what)")
        let limit = remaining / max(minimumSize, 1)
        guard raw <= UInt64(limit) else {
            throw GGUFError.malformed(
                path: path, offset: at,
                message: "\(what) is \(raw), but the remaining \(remaining) bytes can hold at most \(limit)")
        }
        return Int(raw)
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (no terminator).
    mutating func string(_ what: String) throws -> String {
        let at = offset
        let length = try count("length of \(what)", minimumSize: 1)
        let start = try take(length, what)
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)])
        let decoded = String(decoding: raw, as: UTF8.self)
        // String(decoding:) repairs invalid sequences; a repaired string would not round-trip.
        guard decoded.utf8.elementsEqual(raw) else {
            throw GGUFError.malformed(path: path, offset: at, message: "\(what) is not valid UTF-8")
        }
        return decoded
    }
}
