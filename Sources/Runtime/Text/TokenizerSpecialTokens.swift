#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splitting special tokens out of text before BPE sees it (llama.cpp's `tokenizer_st_partition`).
///
/// Special tokens are taken one at a time, longest text first, and every occurrence of each in
/// the text still unclaimed becomes that token; the pieces between go on to the next. So a
/// longer token wins over a shorter one it contains, whatever comes first in the text.
struct TokenizerSpecialTokens: Sendable {
    struct Entry: Sendable {
        let id: Int32
        let bytes: [UInt8]
        /// Control and unknown tokens are only matched when special tokens are parsed;
        /// user-defined tokens always are.
        let needsParseSpecial: Bool
        /// Whitespace to the left / right of a match is dropped (llama.cpp's lstrip/rstrip attributes).
        let stripLeft: Bool
        let stripRight: Bool
    }

    enum Fragment {
        case text(Range<Int>)
        case token(Int32)
    }

    /// In matching order: longest first, ties by id (llama.cpp's sort leaves ties unspecified;
    /// tokens of one length can only both match where they overlap, which real vocabularies avoid).
    let entries: [Entry]

    init(entries: [Entry]) {
        self.entries = entries.sorted { $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id }
    }

    func partition(_ text: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0..<text.count)]
        for entry in entries where parseSpecial || !entry.needsParseSpecial {
            guard !entry.bytes.isEmpty else { continue }
            var split: [Fragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    split.append(fragment)
                    continue
                }
                var low = range.lowerBound
                let high = range.upperBound
                while let match = Self.find(entry.bytes, in: text, from: low, to: high) {
                    changed = true
                    var leftEnd = match
                    if entry.stripLeft {
                        while leftEnd > low && Self.isCSpace(text[leftEnd - 1]) { leftEnd -= 1 }
                    }
                    if leftEnd > low { split.append(.text(low..<leftEnd)) }
                    split.append(.token(entry.id))
                    low = match + entry.bytes.count
                    if entry.stripRight {
                        while low < high && Self.isCSpace(text[low]) { low += 1 }
                    }
                }
                if low < high { split.append(.text(low..<high)) }
            }
            if changed { fragments = split }
        }
        return fragments
    }

    private static func find(_ needle: [UInt8], in text: UnsafeBufferPointer<UInt8>, from low: Int, to high: Int) -> Int? {
        let count = needle.count
        guard high - low >= count, let base = text.baseAddress else { return nil }
        let first = needle[0]
        return needle.withUnsafeBytes { pattern -> Int? in
            var pos = low
            while pos <= high - count {
                if text[pos] == first && memcmp(base + pos, pattern.baseAddress!, count) == 0 { return pos }
                pos += 1
            }
            return nil
        }
    }

    /// C's `isspace` in the "C" locale, which llama.cpp strips with.
    private static func isCSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }
}
