/// The few Unicode facts llama.cpp's pre-tokenizer regexes ask about a code point: is it a letter
/// (`\p{L}`), a number (`\p{N}`), whitespace (`\s`), or punctuation (`\p{P}`, for the default
/// regexes), with llama.cpp's own answers.
///
/// The answers come from Swift's Unicode tables, with one correction: llama.cpp's tables
/// (`unicode-data.cpp`) predate Unicode 16, so code points assigned since then are unassigned
/// there, which the pre-tokenizer treats as "other". `newerThanReference` lists exactly those
/// (found by comparing every code point of both tables) so that text in newer scripts splits the
/// way llama.cpp splits it.
enum PreTokenizerClass {
    static let other: UInt8 = 0
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let whitespace: UInt8 = 3
    /// Non-ASCII `\p{P}`; ASCII punctuation stays `other` (the regexes that need it name it).
    static let punctuation: UInt8 = 4
    /// A position outside the chunk being split; it is none of the above.
    static let outside: UInt8 = 255

    /// The class of every code point below `tableLimit`, built once (about 40 ms) because the
    /// splitters ask for it for every code point they read.
    static let table: [UInt8] = {
        var table = [UInt8](repeating: other, count: tableLimit)
        for value in 0..<UInt32(tableLimit) { table[Int(value)] = compute(value) }
        return table
    }()

    /// Planes 0-2 hold nearly all text; the rare code points above are classified on the spot.
    static let tableLimit = 0x30000

    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        value < UInt32(tableLimit) ? table[Int(value)] : compute(value)
    }

    static func compute(_ value: UInt32) -> UInt8 {
        if value < 0x80 { return ascii(UInt8(value)) }
        // llama.cpp's `\s`: the White_Space property, which has not changed since Unicode 6.3.
        switch value {
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return whitespace
        default: break
        }
        guard let scalar = Unicode.Scalar(value), !isNewerThanReference(value) else { return other }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return punctuation
        default:
            return other
        }
    }

    static func ascii(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): return letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return number
        case 0x09...0x0D, 0x20: return whitespace
        default: return other
        }
    }

    static func isNewerThanReference(_ value: UInt32) -> Bool {
        // Binary search over sorted, disjoint closed ranges.
        var low = 0
        var high = newerThanReference.count
        while low < high {
            let mid = (low + high) / 2
            let range = newerThanReference[mid]
            if value < range.lowerBound {
                high = mid
            } else if value > range.upperBound {
                low = mid + 1
            } else {
                return true
            }
        }
        return false
    }

    /// Code points Swift's tables assign but llama.cpp's treat as unassigned (each range may also
    /// span code points both leave unassigned).
    static let newerThanReference: [ClosedRange<UInt32>] = [
        0x88F...0x88F, 0x897...0x897, 0xC5C...0xC5C, 0xCDC...0xCDC, 0x1ACF...0x1AEB, 0x1B4E...0x1B4F,
        0x1B7F...0x1B7F, 0x1C89...0x1C8A, 0x20C1...0x20C1, 0x2427...0x2429, 0x2B96...0x2B96,
        0x31E4...0x31E5, 0xA7CB...0xA7CF, 0xA7D2...0xA7D2, 0xA7D4...0xA7D4, 0xA7DA...0xA7F1,
        0xFBC3...0xFBD2, 0xFD90...0xFD91, 0xFDC8...0xFDCE, 0x105C0...0x105F3, 0x10940...0x10959,
        0x10D40...0x10D8F, 0x10EC2...0x10EFC, 0x11380...0x113E2, 0x116D0...0x116E3, 0x11B60...0x11BF9,
        0x11DB0...0x11DE9, 0x11F5A...0x11F5A, 0x13460...0x143FA, 0x16100...0x16139, 0x16D40...0x16D79,
        0x16EA0...0x16ED3, 0x16FF2...0x16FF6, 0x187F8...0x187FF, 0x18CFF...0x18CFF, 0x18D09...0x18DF2,
        0x1CC00...0x1CEF0, 0x1E5D0...0x1E6FF, 0x1F6D8...0x1F6D8, 0x1F777...0x1F77A, 0x1F8B2...0x1F8D8,
        0x1FA54...0x1FA57, 0x1FA89...0x1FA8F, 0x1FABE...0x1FABE, 0x1FAC6...0x1FACD, 0x1FADC...0x1FADF,
        0x1FAE9...0x1FAEF, 0x1FBCB...0x1FBEF, 0x1FBFA...0x1FBFA, 0x2B73A...0x2B73F, 0x2CEA2...0x2CEAD,
        0x323B0...0x33479,
    ]
}
