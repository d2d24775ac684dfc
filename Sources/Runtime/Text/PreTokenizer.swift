/// How a byte-level BPE vocabulary cuts text into words before merging: the regexes llama.cpp
/// picks for each `tokenizer.ggml.pre` value (`llm_tokenizer_bpe` in `llama-vocab.cpp`), and the
/// settings that travel with the name.
struct PreTokenizer: Sendable {
    /// The regex sequences llama.cpp applies, each one to the pieces the previous left.
    enum Scheme: Sendable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
        case gpt2
        /// `\p{N}` (every digit alone), then the GPT-2 regex: StarCoder and SmolLM.
        case digitsThenGPT2
        /// `(?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case llama3
        /// Llama 3's regex with `\p{N}` in place of `\p{N}{1,3}`.
        case qwen2
        /// What llama.cpp uses when the file names no pre-tokenizer: runs of punctuation, the
        /// GPT-2 regex, runs of numbers, then ASCII digit triples.
        case standard
    }

    let name: String
    let scheme: Scheme
    /// Whether detokenizing tidies " ," " 's" and the like (llama.cpp's `clean_spaces`).
    let cleanSpaces: Bool
    /// Whether a whole word that is already a token skips merging (llama.cpp's `ignore_merges`).
    let ignoreMerges: Bool
    /// The add-BOS default before `tokenizer.ggml.add_bos_token` is read.
    let addsBOS: Bool

    /// The pre-tokenizer llama.cpp would use for `name` (nil: the file names none), or nil when
    /// the name is one this runtime does not implement.
    static func named(_ name: String?) -> PreTokenizer? {
        guard let name else { return PreTokenizer(name: "default", scheme: .standard, cleanSpaces: true, ignoreMerges: false, addsBOS: false) }
        guard let entry = known[name] else { return nil }
        return PreTokenizer(name: name, scheme: entry.scheme, cleanSpaces: entry.cleanSpaces, ignoreMerges: entry.ignoreMerges, addsBOS: entry.addsBOS)
    }

    static var supportedNames: [String] { known.keys.sorted() }

    private typealias Entry = (scheme: Scheme, cleanSpaces: Bool, ignoreMerges: Bool, addsBOS: Bool)

    /// The names llama.cpp maps to the schemes above, with the flags its vocabulary loader sets
    /// for each (names that need other regexes, separators or BOS handling are left out).
    private static let known: [String: Entry] = {
        var table: [String: Entry] = ["default": (.standard, true, false, false)]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"] {
            table[name] = (.llama3, true, true, true)
        }
        for name in ["dbrx", "smaug-bpe"] { table[name] = (.llama3, true, false, false) }
        for name in ["starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2"] {
            table[name] = (.digitsThenGPT2, true, false, false)
        }
        for name in ["smollm", "command-r"] { table[name] = (.digitsThenGPT2, false, false, false) }
        for name in ["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                     "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4"] {
            table[name] = (.gpt2, true, false, false)
        }
        for name in ["trillion", "granite-docling"] { table[name] = (.gpt2, false, false, false) }
        for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2"] {
            table[name] = (.qwen2, false, false, false)
        }
        for name in ["stablelm2", "megrez"] { table[name] = (.qwen2, true, false, false) }
        return table
    }()

    /// Cuts `count` code points into words; returns each word's length in code points, in order.
    func split(values: UnsafeBufferPointer<UInt32>, classes: UnsafeBufferPointer<UInt8>) -> [Int] {
        let splitter = PreTokenizerSplitter(values: values, classes: classes)
        let whole = [values.count]
        switch scheme {
        case .gpt2:
            return splitter.gpt2(whole)
        case .digitsThenGPT2:
            return splitter.gpt2(splitter.isolateEach(whole) { $0 == PreTokenizerClass.number })
        case .llama3:
            return splitter.llama3(whole, digitsPerWord: 3)
        case .qwen2:
            return splitter.llama3(whole, digitsPerWord: 1)
        case .standard:
            let punctuation = splitter.isolateRuns(whole) { value, kind in
                value < 0x80 ? PreTokenizerSplitter.isStandardASCIIPunctuation(value) : kind == PreTokenizerClass.punctuation
            }
            let words = splitter.gpt2(punctuation)
            let numbers = splitter.isolateRuns(words) { _, kind in kind == PreTokenizerClass.number }
            return splitter.isolateDigitTriples(numbers)
        }
    }
}
