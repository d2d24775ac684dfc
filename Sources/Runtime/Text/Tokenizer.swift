/// A byte-level BPE tokenizer (`tokenizer.ggml.model = gpt2`) read from GGUF metadata, giving
/// the token ids llama.cpp gives (`llama_tokenize`) and the bytes it gives back
/// (`llama_token_to_piece`, `llama_detokenize`).
///
/// Encoding goes: special tokens split out (`TokenizerSpecialTokens`), the rest cut into words by
/// the file's pre-tokenizer (`PreTokenizer`), each word's bytes merged by rank
/// (`BytePairEncoder`). Safe to share between threads: the only mutable state is the word cache,
/// which is locked.
public final class Tokenizer: @unchecked Sendable {
    public let model: String
    /// `tokenizer.ggml.pre` ("default" when the file names none).
    public let preTokenizer: String
    public var count: Int { texts.count }
    public let bos: Int32?
    public let eos: Int32?
    /// End of turn: `tokenizer.ggml.eot_token_id`, else the token llama.cpp recognises by its
    /// text ("<|eot_id|>", "<|im_end|>", "<|endoftext|>", ...). Where a vocabulary has several
    /// of these, this takes the first in llama.cpp's list, while llama.cpp takes whichever its
    /// hash map yields first (for SmolLM2 built with libstdc++, "<|endoftext|>" rather than
    /// "<|im_end|>"); all of them are end-of-generation tokens either way.
    public let eot: Int32?
    public let addBOS: Bool
    public let addEOS: Bool

    private let texts: [String]
    private let attributes: [TokenizerVocabulary.Attributes]
    private let idForText: [String: Int32]
    /// Every token's bytes as `piece(_:special: true)` gives them.
    private let pieces: [[UInt8]]
    private let endOfGeneration: Set<Int32>
    private let special: TokenizerSpecialTokens
    private let splitter: PreTokenizer
    private let encoder: BytePairEncoder
    private let addSpacePrefix: Bool

    public init(file: GGUFFile) throws {
        let vocabulary = try TokenizerVocabulary(file: file)
        model = vocabulary.model
        preTokenizer = vocabulary.preTokenizer.name
        bos = vocabulary.bos
        eos = vocabulary.eos
        eot = vocabulary.eot
        addBOS = vocabulary.addBOS
        addEOS = vocabulary.addEOS
        texts = vocabulary.texts
        attributes = vocabulary.attributes
        idForText = vocabulary.idForText
        pieces = vocabulary.texts.indices.map(vocabulary.piece)
        endOfGeneration = vocabulary.endOfGeneration
        special = vocabulary.specialTokens
        splitter = vocabulary.preTokenizer
        encoder = BytePairEncoder(tokens: vocabulary.texts, merges: vocabulary.merges, ignoreMerges: vocabulary.preTokenizer.ignoreMerges)
        addSpacePrefix = vocabulary.addSpacePrefix
    }

    /// llama.cpp's `llama_tokenize(text, add_special, parse_special)`: BOS/EOS added when
    /// `addSpecial` and the file asks for them; control tokens written in the text (such as
    /// "<|im_start|>") become their ids only when `parseSpecial` (user-defined ones always do).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = false) -> [Int32] {
        var output: [Int32] = []
        if addSpecial && addBOS, let bos { output.append(bos) }
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBufferPointer { buffer in
            let text = UnsafeBufferPointer(buffer)
            for fragment in special.partition(text, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id): output.append(id)
                case .text(let range): encodeText(UnsafeBufferPointer(rebasing: text[range]), into: &output)
                }
            }
        }
        if addSpecial && addEOS, let eos { output.append(eos) }
        return output
    }

    /// Pre-tokenizes and merges one stretch of text with no special tokens in it.
    private func encodeText(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        // Code points, their classes, and where each starts in `bytes` (the input is valid UTF-8).
        var values: [UInt32] = []
        var starts: [Int] = []
        values.reserveCapacity(bytes.count)
        starts.reserveCapacity(bytes.count + 1)
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            starts.append(i)
            if lead < 0x80 {
                values.append(UInt32(lead))
                i += 1
            } else if lead < 0xE0 {
                values.append(UInt32(lead & 0x1F) << 6 | UInt32(bytes[i + 1] & 0x3F))
                i += 2
            } else if lead < 0xF0 {
                values.append(UInt32(lead & 0x0F) << 12 | UInt32(bytes[i + 1] & 0x3F) << 6 | UInt32(bytes[i + 2] & 0x3F))
                i += 3
            } else {
                values.append(UInt32(lead & 0x07) << 18 | UInt32(bytes[i + 1] & 0x3F) << 12 | UInt32(bytes[i + 2] & 0x3F) << 6 | UInt32(bytes[i + 3] & 0x3F))
                i += 4
            }
        }
        starts.append(bytes.count)
        let classes = values.map(PreTokenizerClass.of)
        let words = values.withUnsafeBufferPointer { values in
            classes.withUnsafeBufferPointer { classes in splitter.split(values: values, classes: classes) }
        }
        var first = 0
        for length in words {
            let word = UnsafeBufferPointer(rebasing: bytes[starts[first]..<starts[first + length]])
            encoder.encode(word: word, into: &output)
            first += length
        }
    }

    /// The bytes `token` stands for, as `llama_token_to_piece` gives them: control and unknown
    /// tokens give their text only when `special` is true (otherwise nothing); an id outside the
    /// vocabulary gives nothing.
    public func piece(_ token: Int32, special: Bool = false) -> [UInt8] {
        guard token >= 0 && Int(token) < texts.count else { return [] }
        if !special && !attributes[Int(token)].isDisjoint(with: [.unknown, .control]) { return [] }
        return pieces[Int(token)]
    }

    /// Whether generation stops at `token`: EOS, EOT, EOM, and the other end-of-generation
    /// tokens llama.cpp recognises (`llama_vocab_is_eog`).
    public func isEndOfGeneration(_ token: Int32) -> Bool {
        endOfGeneration.contains(token)
    }

    /// The text of `tokens` as `llama_detokenize(remove_special: false, unparse_special: special)`
    /// builds it, spaces cleaned up where the pre-tokenizer asks for it; invalid UTF-8 becomes
    /// U+FFFD only here, after all bytes are joined.
    public func decode(_ tokens: [Int32], special: Bool = false) -> String {
        var bytes: [UInt8] = []
        var removeSpace = addSpacePrefix
        for token in tokens {
            var piece = self.piece(token, special: special)[...]
            if removeSpace && piece.first == UInt8(ascii: " ") { piece = piece.dropFirst() }
            removeSpace = false
            bytes.append(contentsOf: piece)
        }
        if splitter.cleanSpaces { Self.cleanSpaces(&bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The id of the token whose stored text is `text` (for special tokens, their text as
    /// written, such as "<|im_end|>"); nil when there is none.
    public func token(named text: String) -> Int32? {
        idForText[text]
    }

    /// llama.cpp's `clean_spaces` passes over detokenized bytes: " ?", " !", " .", " ," lose the
    /// space, " ' " loses both, and " 's", " 'm", " 're", " 've" lose the space before them.
    static func cleanSpaces(_ text: inout [UInt8]) {
        let space = UInt8(ascii: " "), quote = UInt8(ascii: "'")
        var total = text.count
        let total1 = total
        total = total > 0 ? 1 : 0
        var i = 1
        while i < total1 {
            let x = text[i]
            if text[i - 1] == space && (x == UInt8(ascii: "?") || x == UInt8(ascii: "!") || x == UInt8(ascii: ".") || x == UInt8(ascii: ",")) {
                total -= 1
            }
            text[total] = x
            total += 1
            i += 1
        }
        let total2 = total
        total = total > 0 ? 1 : 0
        i = 1
        while i < total2 {
            let x = text[i]
            if x == quote && i + 1 < total2 && text[i - 1] == space && text[i + 1] == space {
                total -= 1
                i += 1
                text[i] = 0
            }
            text[total] = x
            total += 1
            i += 1
        }
        let total3 = total
        total = total > 0 ? 1 : 0
        i = 1
        while i < total3 {
            let x = text[i]
            if text[i - 1] == space && x == quote && i + 1 < total3 {
                let x1 = text[i + 1]
                if x1 == UInt8(ascii: "t") || x1 == UInt8(ascii: "d") {
                    // kept
                } else if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    total -= 1
                } else if i + 2 < total3 {
                    let x2 = text[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        total -= 1
                    }
                }
            }
            text[total] = x
            total += 1
            i += 1
        }
        text.removeLast(text.count - total)
    }
}
