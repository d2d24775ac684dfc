/// A GGUF file's vocabulary with everything llama.cpp derives from it on load
/// (`llama_vocab::impl::load`): token attributes, special ids, the end-of-generation set, the
/// special tokens matched before BPE, and each token's bytes.
struct TokenizerVocabulary {
    /// llama.cpp's `llama_token_attr` bits.
    struct Attributes: OptionSet, Sendable {
        let rawValue: UInt16
        static let unknown = Attributes(rawValue: 1 << 0)
        static let unused = Attributes(rawValue: 1 << 1)
        static let normal = Attributes(rawValue: 1 << 2)
        static let control = Attributes(rawValue: 1 << 3)
        static let userDefined = Attributes(rawValue: 1 << 4)
        static let byte = Attributes(rawValue: 1 << 5)
        static let stripLeft = Attributes(rawValue: 1 << 7)
        static let stripRight = Attributes(rawValue: 1 << 8)

        /// `tokenizer.ggml.token_type` values (1 normal, 2 unknown, 3 control, 4 user-defined,
        /// 5 unused, 6 byte); anything else has no attribute, as in llama.cpp.
        init(tokenType: Int) {
            switch tokenType {
            case 1: self = .normal
            case 2: self = .unknown
            case 3: self = .control
            case 4: self = .userDefined
            case 5: self = .unused
            case 6: self = .byte
            default: self = []
            }
        }

        init(rawValue: UInt16) { self.rawValue = rawValue }
    }

    enum Key {
        static let model = "tokenizer.ggml.model"
        static let pre = "tokenizer.ggml.pre"
        static let tokens = "tokenizer.ggml.tokens"
        static let tokenTypes = "tokenizer.ggml.token_type"
        static let merges = "tokenizer.ggml.merges"
        static let bos = "tokenizer.ggml.bos_token_id"
        static let eos = "tokenizer.ggml.eos_token_id"
        static let eot = "tokenizer.ggml.eot_token_id"
        static let eom = "tokenizer.ggml.eom_token_id"
        static let addBOS = "tokenizer.ggml.add_bos_token"
        static let addEOS = "tokenizer.ggml.add_eos_token"
        static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
    }

    let path: String
    let model: String
    let preTokenizer: PreTokenizer
    /// Token texts as stored (in the byte alphabet for normal tokens); empty ones renamed.
    let texts: [String]
    var attributes: [Attributes]
    /// Text -> id; a repeated text maps to its last id.
    let idForText: [String: Int32]
    let merges: [String]
    var bos: Int32?
    var eos: Int32?
    var eot: Int32?
    var eom: Int32?
    var addBOS: Bool
    var addEOS: Bool
    let addSpacePrefix: Bool
    var endOfGeneration: Set<Int32> = []

    init(file: GGUFFile) throws {
        let path = file.path
        self.path = path
        guard let modelValue = file.value(Key.model) else {
            throw TokenizerError.missing(path, Key.model, "the file has no tokenizer")
        }
        guard let model = modelValue.string else {
            throw TokenizerError.wrongType(path, Key.model, found: modelValue, expected: "a STRING")
        }
        guard model == "gpt2" else {
            throw TokenizerError(path: path, key: Key.model, message: "is \"\(model)\"; only \"gpt2\" (byte-level BPE) tokenizers are supported")
        }
        self.model = model
        let preName = try Self.optionalString(file, Key.pre)
        guard let pre = PreTokenizer.named(preName) else {
            throw TokenizerError(path: path, key: Key.pre, message: "is \"\(preName ?? "")\", a pre-tokenizer this runtime does not implement; supported: \(PreTokenizer.supportedNames.joined(separator: ", "))")
        }
        preTokenizer = pre

        var texts = try Self.strings(file, Key.tokens, what: "the file has no tokenizer vocabulary")
        guard !texts.isEmpty else { throw TokenizerError(path: path, key: Key.tokens, message: "is empty") }
        guard texts.count <= Int(Int32.max) else { throw TokenizerError(path: path, key: Key.tokens, message: "has \(texts.count) entries, more than token ids can number") }
        for i in texts.indices where texts[i].isEmpty { texts[i] = "[EMPTY_\(i)]" }  // as llama.cpp renames them
        self.texts = texts
        let count = texts.count

        if let typesValue = file.value(Key.tokenTypes) {
            guard let items = typesValue.array, items.allSatisfy({ $0.int != nil }) else {
                throw TokenizerError.wrongType(path, Key.tokenTypes, found: typesValue, expected: "an array of INT32")
            }
            guard items.count >= count else {
                throw TokenizerError(path: path, key: Key.tokenTypes, message: "has \(items.count) entries for \(count) tokens")
            }
            attributes = items.prefix(count).map { Attributes(tokenType: $0.int!) }
        } else {
            attributes = Array(repeating: .normal, count: count)
        }

        merges = try Self.strings(file, Key.merges, what: "a gpt2 tokenizer needs its BPE merges")

        var idForText: [String: Int32] = [:]
        idForText.reserveCapacity(count)
        for (id, text) in texts.enumerated() { idForText[text] = Int32(id) }
        self.idForText = idForText

        // llama.cpp's gpt2 defaults are 11 for both, dropped when the vocabulary is smaller.
        let fallback: Int32? = count > 11 ? 11 : nil
        bos = try Self.tokenID(file, Key.bos, count: count, required: true) ?? fallback
        eos = try Self.tokenID(file, Key.eos, count: count, required: true) ?? fallback
        eot = try Self.tokenID(file, Key.eot, count: count, required: false)
        eom = try Self.tokenID(file, Key.eom, count: count, required: false)
        addBOS = try Self.optionalBool(file, Key.addBOS) ?? pre.addsBOS
        addEOS = try Self.optionalBool(file, Key.addEOS) ?? false
        addSpacePrefix = try Self.optionalBool(file, Key.addSpacePrefix) ?? false

        try deriveSpecialTokens(file)
        applyModelAttributes(file)
    }

    /// The texts that mark special tokens in vocabularies that do not label them, and the
    /// end-of-generation set, as llama.cpp derives them (it scans a hash map, so where several
    /// candidates exist it takes whichever it meets first; here the first in these lists).
    private mutating func deriveSpecialTokens(_ file: GGUFFile) throws {
        let count = texts.count
        func detect(_ key: String, _ candidates: [String], deprecated: String? = nil) throws -> Int32? {
            if let id = try Self.tokenID(file, key, count: count, required: false) { return id }
            if let deprecated, let id = try Self.tokenID(file, deprecated, count: count, required: false) { return id }
            for text in candidates {
                if let id = idForText[text] {
                    attributes[Int(id)].insert(.control)
                    return id
                }
            }
            return nil
        }
        if eot == nil {
            eot = try detect(Key.eot, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                                       "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"])
        }
        if eom == nil { eom = try detect(Key.eom, ["<|eom_id|>"]) }
        _ = try detect("tokenizer.ggml.fim_pre_token_id", ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"],
                       deprecated: "tokenizer.ggml.prefix_token_id")
        _ = try detect("tokenizer.ggml.fim_suf_token_id", ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"],
                       deprecated: "tokenizer.ggml.suffix_token_id")
        _ = try detect("tokenizer.ggml.fim_mid_token_id", ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"],
                       deprecated: "tokenizer.ggml.middle_token_id")
        let fimPad = try detect("tokenizer.ggml.fim_pad_token_id", ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        let fimRep = try detect("tokenizer.ggml.fim_rep_token_id", ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        let fimSep = try detect("tokenizer.ggml.fim_sep_token_id", ["<|file_sep|>"])

        var eog = Set([fimPad, fimRep, fimSep].compactMap { $0 })
        for text in Self.endOfGenerationTexts {
            if let id = idForText[text] {
                eog.insert(id)
                attributes[Int(id)].insert(.control)
            }
        }
        // llama.cpp always renders these gpt-oss tokens.
        for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let id = idForText[text] { attributes[Int(id)] = .userDefined }
        }
        for id in [eos, eot, eom].compactMap({ $0 }) { eog.insert(id) }

        // gpt-oss and solar-open: "<|end|>" ends a message, not the generation.
        let eogTexts = Set(eog.map { texts[Int($0)] })
        let hasCall = eogTexts.contains("<|call|>") || eogTexts.contains("<|calls|>")
        if let end = eog.first(where: { texts[Int($0)] == "<|end|>" }),
           (eogTexts.contains("<|return|>") && hasCall) || (hasCall && eogTexts.contains("<|flush|>")) {
            eog.remove(end)
            attributes[Int(end)] = .userDefined
        }
        // Gemma 4 and PLaMo: "</s>" is an ordinary token.
        if eogTexts.contains("<|tool_response>") || eogTexts.contains("<|plamo:eos|>"),
           let s = eog.first(where: { texts[Int($0)] == "</s>" }) {
            eog.remove(s)
            attributes[Int(s)] = .normal
        }
        endOfGeneration = eog
    }

    static let endOfGenerationTexts = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ]

    /// Tokens matched before BPE: control, user-defined and unknown ones.
    var specialTokens: TokenizerSpecialTokens {
        var entries: [TokenizerSpecialTokens.Entry] = []
        for (id, attribute) in attributes.enumerated() where !attribute.isDisjoint(with: [.control, .userDefined, .unknown]) {
            entries.append(.init(id: Int32(id), bytes: Array(texts[id].utf8),
                                 needsParseSpecial: !attribute.isDisjoint(with: [.control, .unknown]),
                                 stripLeft: attribute.contains(.stripLeft), stripRight: attribute.contains(.stripRight)))
        }
        return TokenizerSpecialTokens(entries: entries)
    }

    /// The per-model strip attributes llama.cpp sets by name (it has no GGUF key for them).
    private mutating func applyModelAttributes(_ file: GGUFFile) {
        let name = String((file.value("general.name")?.string ?? "").map { $0.isASCII ? Character($0.lowercased()) : $0 })
        let architecture = file.value("general.architecture")?.string ?? ""
        let pre = file.value(Key.pre)?.string ?? ""
        if ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: pre.contains)
            || ["nomic-bert-moe", "jina-bert-v3"].contains(where: architecture.contains) {
            if let mask = idForText["<mask>"] { attributes[Int(mask)].insert(.stripLeft) }
        } else if name.contains("phi-3") || name.contains("phi3") {
            for id in attributes.indices where !attributes[id].isDisjoint(with: [.control, .userDefined, .unknown]) {
                attributes[id].insert(.stripRight)
            }
            if let id = idForText["</s>"] { attributes[Int(id)].insert(.stripRight) }
            for text in ["<unk>", "<s>", "<|endoftext|>"] {
                if let id = idForText[text] { attributes[Int(id)].remove(.stripRight) }
            }
        } else if name.contains("modern-bert") {
            if let mask = idForText["[MASK]"] { attributes[Int(mask)].insert(.stripLeft) }
        }
    }

    /// What `llama_token_to_piece` gives with `special` true.
    func piece(_ id: Int) -> [UInt8] {
        let attribute = attributes[id]
        let text = texts[id]
        if !attribute.isDisjoint(with: [.unknown, .control, .userDefined]) { return Array(text.utf8) }
        if attribute.contains(.normal) { return Self.decodeAlphabet(text) }
        if attribute.contains(.byte) {
            // "<0xAB>": llama.cpp reads the two characters after "<0x" with strtol.
            let digits = text.utf8.dropFirst(3).prefix(2).prefix { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
            return [UInt8(UInt32(String(decoding: digits, as: UTF8.self), radix: 16) ?? 0)]
        }
        return []
    }

    /// The bytes a normal token's text stands for; a character outside the alphabet comes out as
    /// llama.cpp writes it, "[UNK_BYTE_0x<its UTF-8 in hex><the token text>]".
    static func decodeAlphabet(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in text.unicodeScalars {
            let v = Int(scalar.value)
            if v < BytePairByteMap.byteForScalar.count, BytePairByteMap.byteForScalar[v] >= 0 {
                out.append(UInt8(BytePairByteMap.byteForScalar[v]))
            } else {
                out.append(contentsOf: Array("[UNK_BYTE_0x".utf8))
                for byte in String(scalar).utf8 {
                    let hex = String(byte, radix: 16)
                    out.append(contentsOf: Array((hex.count < 2 ? "0" + hex : hex).utf8))
                }
                out.append(contentsOf: Array(text.utf8))
                out.append(UInt8(ascii: "]"))
            }
        }
        return out
    }

    // MARK: Metadata

    private static func optionalString(_ file: GGUFFile, _ key: String) throws -> String? {
        guard let value = file.value(key) else { return nil }
        guard let string = value.string else { throw TokenizerError.wrongType(file.path, key, found: value, expected: "a STRING") }
        return string
    }

    private static func optionalBool(_ file: GGUFFile, _ key: String) throws -> Bool? {
        guard let value = file.value(key) else { return nil }
        guard let bool = value.bool else { throw TokenizerError.wrongType(file.path, key, found: value, expected: "a BOOL") }
        return bool
    }

    private static func strings(_ file: GGUFFile, _ key: String, what: String) throws -> [String] {
        guard let value = file.value(key) else { throw TokenizerError.missing(file.path, key, what) }
        guard let items = value.array else { throw TokenizerError.wrongType(file.path, key, found: value, expected: "an array of STRING") }
        var strings: [String] = []
        strings.reserveCapacity(items.count)
        for item in items {
            guard let string = item.string else { throw TokenizerError.wrongType(file.path, key, found: value, expected: "an array of STRING") }
            strings.append(string)
        }
        return strings
    }

    /// A token id key: nil when absent. An id outside the vocabulary is refused for the ids
    /// encoding emits (`required`), and ignored for the others, as llama.cpp ignores it.
    private static func tokenID(_ file: GGUFFile, _ key: String, count: Int, required: Bool) throws -> Int32? {
        guard let value = file.value(key) else { return nil }
        guard let id = value.int else { throw TokenizerError.wrongType(file.path, key, found: value, expected: "an integer") }
        guard id >= 0 && id < count else {
            if required { throw TokenizerError(path: file.path, key: key, message: "is \(id), outside the vocabulary of \(count) tokens") }
            return nil
        }
        return Int32(id)
    }
}
