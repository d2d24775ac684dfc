/// The splitting passes behind `PreTokenizer`, ported from llama.cpp's `unicode.cpp`.
///
/// Each pass takes the text as consecutive chunks (lengths in code points) and cuts every chunk
/// on its own: a regex never looks across a chunk boundary, which is why SmolLM's "a 1" ends up
/// as "a", " ", "1" rather than "a", " 1". The GPT-2 and Llama 3 passes are llama.cpp's
/// hand-written matchers (`unicode_regex_split_custom_gpt2` / `_llama3` / `_qwen2`) line for
/// line, quirks included; the others reproduce what its std::regex fallback does for the simple
/// character-class regexes involved.
struct PreTokenizerSplitter {
    let values: UnsafeBufferPointer<UInt32>
    let classes: UnsafeBufferPointer<UInt8>

    private static let outsideValue: UInt32 = 0xFFFF_FFFF
    private static let apostrophe = UInt32(UInt8(ascii: "'"))
    private static let space = UInt32(UInt8(ascii: " "))
    private static let carriageReturn: UInt32 = 0x0D
    private static let lineFeed: UInt32 = 0x0A

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    func gpt2(_ chunks: [Int]) -> [Int] {
        var words: [Int] = []
        words.reserveCapacity(chunks.count * 2)
        var start = 0
        for length in chunks {
            let begin = start, end = start + length
            start = end
            @inline(__always) func value(_ pos: Int) -> UInt32 { pos >= begin && pos < end ? values[pos] : Self.outsideValue }
            @inline(__always) func kind(_ pos: Int) -> UInt8 { pos >= begin && pos < end ? classes[pos] : PreTokenizerClass.outside }
            var previousEnd = begin
            @inline(__always) func add(_ upTo: Int) -> Int {
                let count = upTo - previousEnd
                if count > 0 { words.append(count) }
                previousEnd = upTo
                return count
            }
            var pos = begin
            while pos < end {
                let cpt = values[pos]
                let flags = classes[pos]
                if cpt == Self.apostrophe && pos + 1 < end {
                    let next = value(pos + 1)
                    if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 {  // s t m d
                        pos += add(pos + 2)
                        continue
                    }
                    if pos + 2 < end {
                        let after = value(pos + 2)
                        if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) {  // re ve ll
                            pos += add(pos + 3)
                            continue
                        }
                    }
                }
                var flags2 = cpt == Self.space ? kind(pos + 1) : flags
                if flags2 == PreTokenizerClass.letter {
                    pos += cpt == Self.space ? 1 : 0
                    while flags2 == PreTokenizerClass.letter { pos += 1; flags2 = kind(pos) }
                    _ = add(pos)
                    continue
                }
                if flags2 == PreTokenizerClass.number {
                    pos += cpt == Self.space ? 1 : 0
                    while flags2 == PreTokenizerClass.number { pos += 1; flags2 = kind(pos) }
                    _ = add(pos)
                    continue
                }
                if Self.isOtherInside(flags2) {
                    pos += cpt == Self.space ? 1 : 0
                    while Self.isOtherInside(flags2) { pos += 1; flags2 = kind(pos) }
                    _ = add(pos)
                    continue
                }
                var whitespaces = 0
                while kind(pos + whitespaces) == PreTokenizerClass.whitespace { whitespaces += 1 }
                if whitespaces > 1 && value(pos + whitespaces) != Self.outsideValue {
                    pos += whitespaces - 1
                    _ = add(pos)
                    continue
                }
                if whitespaces > 0 {
                    pos += whitespaces
                    _ = add(pos)
                    continue
                }
                pos += 1
                _ = add(pos)
            }
        }
        return words
    }

    /// Llama 3's regex (`digitsPerWord` 3) and Qwen 2's (`digitsPerWord` 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    func llama3(_ chunks: [Int], digitsPerWord: Int) -> [Int] {
        var words: [Int] = []
        words.reserveCapacity(chunks.count * 2)
        var start = 0
        for length in chunks {
            let begin = start, end = start + length
            start = end
            @inline(__always) func value(_ pos: Int) -> UInt32 { pos >= begin && pos < end ? values[pos] : Self.outsideValue }
            @inline(__always) func kind(_ pos: Int) -> UInt8 { pos >= begin && pos < end ? classes[pos] : PreTokenizerClass.outside }
            var previousEnd = begin
            @inline(__always) func add(_ upTo: Int) -> Int {
                let count = upTo - previousEnd
                if count > 0 { words.append(count) }
                previousEnd = upTo
                return count
            }
            var pos = begin
            while pos < end {
                let cpt = values[pos]
                let flags = classes[pos]
                if cpt == Self.apostrophe && pos + 1 < end {
                    // Case-insensitive; only ASCII letters lower-case to these.
                    let next = Self.asciiLower(value(pos + 1))
                    if next == 0x73 || next == 0x74 || next == 0x6D || next == 0x64 {
                        pos += add(pos + 2)
                        continue
                    }
                    if pos + 2 < end {
                        let after = Self.asciiLower(value(pos + 2))
                        if (next == 0x72 && after == 0x65) || (next == 0x76 && after == 0x65) || (next == 0x6C && after == 0x6C) {
                            pos += add(pos + 3)
                            continue
                        }
                    }
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if !(cpt == Self.carriageReturn || cpt == Self.lineFeed || flags == PreTokenizerClass.number) {
                    if flags == PreTokenizerClass.letter || kind(pos + 1) == PreTokenizerClass.letter {
                        pos += 1
                        while kind(pos) == PreTokenizerClass.letter { pos += 1 }
                        _ = add(pos)
                        continue
                    }
                }
                // \p{N}{1,3}
                if flags == PreTokenizerClass.number {
                    var first = pos
                    while kind(pos) == PreTokenizerClass.number {
                        pos += 1
                        if pos - first >= digitsPerWord {
                            _ = add(pos)
                            first = pos
                        }
                    }
                    _ = add(pos)
                    continue
                }
                // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (the position after a trailing space counts as "not
                // whitespace, letter or number" here, as in llama.cpp)
                var flags2 = cpt == Self.space ? kind(pos + 1) : flags
                if !(flags2 == PreTokenizerClass.whitespace || flags2 == PreTokenizerClass.letter || flags2 == PreTokenizerClass.number) {
                    pos += cpt == Self.space ? 1 : 0
                    while Self.isOtherInside(flags2) { pos += 1; flags2 = kind(pos) }
                    var cpt2 = value(pos)
                    while cpt2 == Self.carriageReturn || cpt2 == Self.lineFeed { pos += 1; cpt2 = value(pos) }
                    _ = add(pos)
                    continue
                }
                var whitespaces = 0
                var afterLastNewline = 0
                while kind(pos + whitespaces) == PreTokenizerClass.whitespace {
                    let cpt2 = values[pos + whitespaces]
                    if cpt2 == Self.carriageReturn || cpt2 == Self.lineFeed { afterLastNewline = pos + whitespaces + 1 }
                    whitespaces += 1
                }
                // \s*[\r\n]+
                if afterLastNewline > 0 {
                    pos = afterLastNewline
                    _ = add(pos)
                    continue
                }
                // \s+(?!\S)
                if whitespaces > 1 && value(pos + whitespaces) != Self.outsideValue {
                    pos += whitespaces - 1
                    _ = add(pos)
                    continue
                }
                // \s+
                if whitespaces > 0 {
                    pos += whitespaces
                    _ = add(pos)
                    continue
                }
                pos += 1
                _ = add(pos)
            }
        }
        return words
    }

    /// A regex matching one code point (`\p{N}`), applied with llama.cpp's "isolated" behaviour:
    /// every matching code point becomes a chunk of its own, the text between them another.
    func isolateEach(_ chunks: [Int], where matches: (UInt8) -> Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(chunks.count)
        var start = 0
        for length in chunks {
            var run = 0
            for pos in start..<(start + length) {
                if matches(classes[pos]) {
                    if run > 0 { out.append(run) }
                    out.append(1)
                    run = 0
                } else {
                    run += 1
                }
            }
            if run > 0 { out.append(run) }
            start += length
        }
        return out
    }

    /// A regex `[class]+`: every maximal run of matching code points becomes a chunk, and so does
    /// every stretch between runs.
    func isolateRuns(_ chunks: [Int], where matches: (UInt32, UInt8) -> Bool) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(chunks.count)
        var start = 0
        for length in chunks {
            var run = 0
            var runMatches = false
            for pos in start..<(start + length) {
                let hit = matches(values[pos], classes[pos])
                if run > 0 && hit != runMatches {
                    out.append(run)
                    run = 0
                }
                runMatches = hit
                run += 1
            }
            if run > 0 { out.append(run) }
            start += length
        }
        return out
    }

    /// `[0-9][0-9][0-9]`: left to right, every three consecutive ASCII digits become a chunk.
    func isolateDigitTriples(_ chunks: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(chunks.count)
        var start = 0
        for length in chunks {
            let end = start + length
            var previous = start
            var pos = start
            while pos + 3 <= end {
                if Self.isASCIIDigit(values[pos]) && Self.isASCIIDigit(values[pos + 1]) && Self.isASCIIDigit(values[pos + 2]) {
                    if pos > previous { out.append(pos - previous) }
                    out.append(3)
                    pos += 3
                    previous = pos
                } else {
                    pos += 1
                }
            }
            if end > previous { out.append(end - previous) }
            start = end
        }
        return out
    }

    /// The ASCII part of the default pre-tokenizer's `[\p{P}\$\+<=>\^~\|]`, as llama.cpp's collapsed
    /// regex spells `\p{P}` for ASCII (`!-#%-*,-/:-;?-@[-]_{}`; not the backtick).
    static func isStandardASCIIPunctuation(_ value: UInt32) -> Bool {
        switch value {
        case 0x21...0x23, 0x25...0x2A, 0x2C...0x2F, 0x3A...0x3B, 0x3F...0x40, 0x5B...0x5D, 0x5F, 0x7B, 0x7D: return true
        case 0x24, 0x2B, 0x3C...0x3E, 0x5E, 0x7E, 0x7C: return true
        default: return false
        }
    }

    @inline(__always)
    private static func isOtherInside(_ kind: UInt8) -> Bool {
        kind == PreTokenizerClass.other || kind == PreTokenizerClass.punctuation
    }

    @inline(__always)
    private static func isASCIIDigit(_ value: UInt32) -> Bool { value >= 0x30 && value <= 0x39 }

    @inline(__always)
    private static func asciiLower(_ value: UInt32) -> UInt32 {
        value >= 0x41 && value <= 0x5A ? value + 0x20 : value
    }
}
