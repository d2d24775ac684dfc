/// Turns the bytes of a token stream into text without ever splitting a UTF-8 character across
/// two outputs.
///
/// Byte-level BPE tokens are byte strings, not characters: an emoji can arrive as three tokens
/// of one, two and one bytes. `append` emits every complete character and holds back a tail
/// that is the start of one still arriving; bytes that can never become valid UTF-8 are emitted
/// at once as U+FFFD, so one bad byte does not stall the stream.
public struct UTF8StreamDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func append(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        let keep = Self.incompleteTail(pending)
        guard pending.count > keep else { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Everything still held back; an unfinished character becomes U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// How many bytes at the end of `bytes` are a proper prefix of a valid UTF-8 sequence (0-3).
    static func incompleteTail(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        guard count > 0 else { return 0 }
        // A sequence is at most 4 bytes, so its lead byte is among the last 3 if it is unfinished.
        for back in 1...min(3, count) {
            let lead = bytes[count - back]
            if lead & 0xC0 == 0x80 { continue }  // continuation byte: keep looking for the lead
            let length: Int
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return 0  // ASCII or a byte that cannot start a sequence: nothing to wait for
            }
            guard back < length else { return 0 }  // the sequence is complete (or over-long: invalid anyway)
            // Only wait when the bytes so far can still become a valid character.
            if back >= 2 {
                let second = bytes[count - back + 1]
                let valid: Bool
                switch lead {
                case 0xE0: valid = (0xA0...0xBF).contains(second)
                case 0xED: valid = (0x80...0x9F).contains(second)
                case 0xF0: valid = (0x90...0xBF).contains(second)
                case 0xF4: valid = (0x80...0x8F).contains(second)
                default: valid = (0x80...0xBF).contains(second)
                }
                if !valid { return 0 }
            }
            return back
        }
        return 0
    }
}
