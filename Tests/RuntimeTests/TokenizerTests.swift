import Foundation
import Runtime
import TestSupport
import XCTest

/// The byte-level BPE tokenizer against llama.cpp (through llama-cpp-python) on a generated
/// corpus, plus checks that need no reference: a hand-made vocabulary, the UTF-8 stream decoder,
/// and files whose tokenizer metadata is missing or wrong.
final class TokenizerTests: XCTestCase {
    // MARK: Against llama.cpp

    func testCorpusIDsMatchLlamaCpp() throws {
        let (tokenizer, reference) = try Self.smolLMReference()
        XCTAssertGreaterThanOrEqual(reference.texts.count, 10_000)
        var checked = 0, matched = 0
        var mismatches: [String] = []
        for (index, text) in reference.texts.enumerated() {
            let line = reference.lines[index]
            let cases: [(String, [Int32], [Int32])] = [
                ("plain", tokenizer.encode(text, addSpecial: false, parseSpecial: false), line.ids),
                ("parseSpecial", tokenizer.encode(text, addSpecial: false, parseSpecial: true), line.idsSpecial),
                ("addSpecial+parseSpecial", tokenizer.encode(text, addSpecial: true, parseSpecial: true), line.idsAdd),
            ]
            var all = true
            for (mode, mine, theirs) in cases where mine != theirs {
                all = false
                if mismatches.count < 8 {
                    mismatches.append("line \(index + 1) (\(mode)) \(text.debugDescription)\n  recur:     \(mine)\n  llama.cpp: \(theirs)")
                }
            }
            checked += 1
            matched += all ? 1 : 0
        }
        print("tokenizer corpus: \(matched) of \(checked) lines match llama.cpp in all three modes")
        XCTAssertEqual(matched, checked, "first mismatches:\n" + mismatches.joined(separator: "\n"))
    }

    func testPiecesAndDecodeMatchLlamaCpp() throws {
        let (tokenizer, reference) = try Self.smolLMReference()
        XCTAssertEqual(tokenizer.count, reference.pieces.count)
        var bad: [String] = []
        for token in 0..<Int32(tokenizer.count) {
            let plain = tokenizer.piece(token), special = tokenizer.piece(token, special: true)
            if plain != reference.pieces[Int(token)] || special != reference.piecesSpecial[Int(token)], bad.count < 8 {
                bad.append("token \(token): recur \(plain)/\(special), llama.cpp \(reference.pieces[Int(token)])/\(reference.piecesSpecial[Int(token)])")
            }
        }
        XCTAssertTrue(bad.isEmpty, bad.joined(separator: "\n"))
        XCTAssertEqual(tokenizer.piece(-1), [])
        XCTAssertEqual(tokenizer.piece(Int32(tokenizer.count)), [])

        var mismatches: [String] = []
        for (index, line) in reference.lines.enumerated() {
            let plain = tokenizer.decode(line.ids), special = tokenizer.decode(line.idsSpecial, special: true)
            let expected = String(decoding: line.detok, as: UTF8.self), expectedSpecial = String(decoding: line.detokSpecial, as: UTF8.self)
            if (!plain.utf8.elementsEqual(expected.utf8) || !special.utf8.elementsEqual(expectedSpecial.utf8)) && mismatches.count < 5 {
                mismatches.append("line \(index + 1): recur \(plain.debugDescription) / \(special.debugDescription), llama.cpp \(expected.debugDescription) / \(expectedSpecial.debugDescription)")
            }
        }
        XCTAssertTrue(mismatches.isEmpty, mismatches.joined(separator: "\n"))
    }

    func testSpecialTokensMatchLlamaCpp() throws {
        let (tokenizer, reference) = try Self.smolLMReference()
        XCTAssertEqual(tokenizer.model, "gpt2")
        XCTAssertEqual(tokenizer.preTokenizer, "smollm")
        XCTAssertEqual(tokenizer.bos, reference.bos)
        XCTAssertEqual(tokenizer.eos, reference.eos)
        // Where several end-of-turn texts exist, llama.cpp takes whichever its std::unordered_map
        // yields first (libstdc++ gives <|endoftext|> here; another standard library may not);
        // this tokenizer takes the first in llama.cpp's list, <|im_end|>. Both stop generation.
        XCTAssertEqual(tokenizer.eot, 2)
        if let eot = reference.eot { XCTAssertTrue(tokenizer.isEndOfGeneration(eot)) }
        print("end of turn: recur \(tokenizer.eot.map(String.init) ?? "none"), llama.cpp \(reference.eot.map(String.init) ?? "none")")
        XCTAssertEqual(tokenizer.addBOS, reference.addBOS)
        XCTAssertEqual(tokenizer.addEOS, reference.addEOS)
        let eog = (0..<Int32(tokenizer.count)).filter(tokenizer.isEndOfGeneration)
        XCTAssertEqual(eog, reference.endOfGeneration)
        XCTAssertEqual(tokenizer.token(named: "<|im_start|>"), 1)
        XCTAssertEqual(tokenizer.token(named: "<|im_end|>"), 2)
        XCTAssertNil(tokenizer.token(named: "no such token"))
    }

    /// decode(encode(x)) == x wherever llama.cpp round-trips x too: SmolLM2's vocabulary has no
    /// token for a few bytes (0xF1, 0xF2, ... which lead 4-byte characters beyond plane 1, which
    /// the corpus draws at random), and llama.cpp drops those bytes, as this tokenizer does.
    func testRoundTripAndStreaming() throws {
        let (tokenizer, reference) = try Self.smolLMReference()
        var failures: [String] = []
        var lossy = 0
        for (index, text) in reference.texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecial: false)
            let decoded = tokenizer.decode(ids)
            let exact = reference.lines[index].detok.elementsEqual(text.utf8)
            if !exact {
                lossy += 1
            } else if !decoded.utf8.elementsEqual(text.utf8), failures.count < 5 {
                failures.append("round trip \(text.debugDescription) -> \(decoded.debugDescription)")
            }

            // Token by token, the stream decoder gives the same text, never a U+FFFD mid-stream.
            var stream = UTF8StreamDecoder()
            var streamed = ""
            for id in ids {
                let chunk = stream.append(tokenizer.piece(id))
                if exact && chunk.unicodeScalars.contains("\u{FFFD}") && !text.unicodeScalars.contains("\u{FFFD}"), failures.count < 5 {
                    failures.append("replacement character mid-stream in \(text.debugDescription) at token \(id)")
                }
                streamed += chunk
            }
            streamed += stream.finish()
            if !streamed.utf8.elementsEqual(decoded.utf8), failures.count < 5 { failures.append("stream \(streamed.debugDescription) != decode \(decoded.debugDescription)") }
        }
        print("tokenizer round trip: \(reference.texts.count - lossy) of \(reference.texts.count) lines; llama.cpp drops bytes of the other \(lossy) too")
        XCTAssertLessThan(lossy, reference.texts.count / 5)
        XCTAssertTrue(failures.isEmpty, failures.joined(separator: "\n"))

        // Emoji and CJK really do arrive split across tokens.
        let text = "日本語 🤖👍🏽 👨‍👩‍👧‍👦"
        let ids = tokenizer.encode(text, addSpecial: false)
        XCTAssertTrue(ids.contains { id in
            let piece = tokenizer.piece(id)
            return !String(decoding: piece, as: UTF8.self).utf8.elementsEqual(piece)
        }, "expected some token of \(text.debugDescription) to hold only part of a character")
        var stream = UTF8StreamDecoder()
        var pieces: [String] = []
        for id in ids { pieces.append(stream.append(tokenizer.piece(id))) }
        pieces.append(stream.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.unicodeScalars.contains("\u{FFFD}") })
    }

    func testEncodeSpeed() throws {
        let (tokenizer, reference) = try Self.smolLMReference()
        let bytes = reference.texts.reduce(0) { $0 + $1.utf8.count }
        let fresh = try Tokenizer(file: GGUFFile(path: try Reference.requireSmolLM().path))
        var tokens = 0
        let cold = Date()
        for text in reference.texts { tokens += fresh.encode(text, addSpecial: false).count }
        let coldSeconds = Date().timeIntervalSince(cold)
        let warm = Date()
        for text in reference.texts { _ = tokenizer.encode(text, addSpecial: false, parseSpecial: true) }
        let warmSeconds = Date().timeIntervalSince(warm)
        print(String(format: "tokenizer encode: %d lines, %d bytes, %d tokens; first pass %.3f s (%.2f MB/s), cached words %.3f s (%.2f MB/s)",
                     reference.texts.count, bytes, tokens, coldSeconds, Double(bytes) / coldSeconds / 1e6, warmSeconds, Double(bytes) / warmSeconds / 1e6))
    }

    /// The other pre-tokenizers, checked by giving SmolLM's vocabulary their names (llama.cpp
    /// then splits with their regexes) on part of the corpus.
    func testOtherPreTokenizersMatchLlamaCpp() throws {
        let model = try Reference.requireSmolLM()
        try Reference.requireLlamaCpp()
        let corpus = try Self.corpus()
        let folder = try Reference.temporaryDirectory("tokenizer-pre")
        defer { try? FileManager.default.removeItem(at: folder) }
        let texts = Array(try Self.readCorpus(corpus).prefix(2500))
        let subset = folder.appendingPathComponent("subset.jsonl")
        try texts.map { try Self.jsonLine($0) }.joined(separator: "\n").appending("\n").write(to: subset, atomically: true, encoding: .utf8)
        let source = try GGUFFile(path: model.path)
        for pre in ["llama-bpe", "qwen2", "gpt-2", "starcoder", nil] as [String?] {
            let name = pre ?? "none"
            let path = folder.appendingPathComponent("pre-\(name).gguf").path
            try Self.copyMetadata(of: source, to: path) { key, value in
                if key == "tokenizer.ggml.pre" { return pre.map { GGUFValue.string($0) } }
                return value
            }
            let reference = try Self.runReference(model: path, corpus: subset.path, folder: folder, pieces: false)
            let tokenizer = try Tokenizer(file: GGUFFile(path: path))
            XCTAssertEqual(tokenizer.preTokenizer, pre ?? "default")
            XCTAssertEqual(tokenizer.addBOS, reference.addBOS, name)
            var matched = 0
            var mismatches: [String] = []
            for (index, text) in texts.enumerated() {
                let line = reference.lines[index]
                let ids = tokenizer.encode(text, addSpecial: false), special = tokenizer.encode(text, addSpecial: true, parseSpecial: true)
                let decoded = tokenizer.decode(ids)
                if ids == line.ids && special == line.idsAdd && decoded.utf8.elementsEqual(String(decoding: line.detok, as: UTF8.self).utf8) {
                    matched += 1
                } else if mismatches.count < 5 {
                    mismatches.append("line \(index + 1) \(text.debugDescription)\n  recur:     \(ids) \(decoded.debugDescription)\n  llama.cpp: \(line.ids) \(String(decoding: line.detok, as: UTF8.self).debugDescription)")
                }
            }
            print("pre-tokenizer \(name): \(matched) of \(texts.count) lines match llama.cpp")
            XCTAssertEqual(matched, texts.count, "pre-tokenizer \(name), first mismatches:\n" + mismatches.joined(separator: "\n"))
        }
    }

    // MARK: Without a reference

    /// A hand-made vocabulary: the 256 byte characters, then merges "Ġ t", "h e", "Ġt he", "Ġ 1".
    func testHandMadeVocabulary() throws {
        let folder = try Reference.temporaryDirectory("tokenizer-small")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.writeSmallVocabulary(in: folder)
        let tokenizer = try Tokenizer(file: GGUFFile(path: path))
        let byte = Self.byteCharacters
        func id(_ text: String) -> Int32 { tokenizer.token(named: text)! }
        XCTAssertEqual(tokenizer.count, 256 + 4 + 2)
        XCTAssertEqual(tokenizer.preTokenizer, "gpt-2")
        XCTAssertEqual(tokenizer.encode(" the", addSpecial: false), [id("Ġthe")])
        XCTAssertEqual(tokenizer.encode("the the", addSpecial: false), [id("t"), id("he"), id("Ġthe")])
        // Space before a letter joins it; a lone trailing space stays alone; digits follow letters' rule.
        XCTAssertEqual(tokenizer.encode("he 1", addSpecial: false), [id("he"), id("Ġ1")])
        XCTAssertEqual(tokenizer.encode("é", addSpecial: false), [id(byte[0xC3]), id(byte[0xA9])])
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("é the\n", addSpecial: false)), "é the\n")
        // Control tokens: only with parseSpecial, and only shown with special.
        XCTAssertEqual(tokenizer.encode("<|end|>", addSpecial: false, parseSpecial: true), [id("<|end|>")])
        XCTAssertNotEqual(tokenizer.encode("<|end|>", addSpecial: false, parseSpecial: false), [id("<|end|>")])
        XCTAssertEqual(tokenizer.piece(id("<|end|>")), [])
        XCTAssertEqual(tokenizer.piece(id("<|end|>"), special: true), Array("<|end|>".utf8))
        XCTAssertTrue(tokenizer.isEndOfGeneration(id("<|end|>")))
        XCTAssertEqual(tokenizer.eot, id("<|end|>"))
        // User-defined tokens are split out even without parseSpecial, and always shown.
        XCTAssertEqual(tokenizer.encode("a<user>b", addSpecial: false, parseSpecial: false), [id("a"), id("<user>"), id("b")])
        XCTAssertEqual(tokenizer.decode([id("<user>")]), "<user>")
        // addSpecial adds BOS only when the file asks for it (add_bos_token true here).
        XCTAssertEqual(tokenizer.encode("a", addSpecial: true), [tokenizer.bos!, id("a")])
        XCTAssertEqual(tokenizer.encode("", addSpecial: false), [])
        // GPT-2's clean-up of spaces before punctuation when detokenizing.
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("a , b ' c 's", addSpecial: false)), "a, b'c's")
    }

    func testUTF8StreamDecoder() {
        let text = "aé日🤖👍🏽"
        let bytes = Array(text.utf8)
        var stream = UTF8StreamDecoder()
        var out: [String] = []
        for byte in bytes { out.append(stream.append([byte])) }
        out.append(stream.finish())
        XCTAssertEqual(out.joined(), text)
        XCTAssertFalse(out.contains { $0.contains("\u{FFFD}") })
        XCTAssertEqual(out.filter { !$0.isEmpty }.count, text.unicodeScalars.count)

        // A byte that can never start a character is replaced at once; an unfinished tail at the end.
        var bad = UTF8StreamDecoder()
        XCTAssertEqual(bad.append([0x61, 0xFF, 0x62]), "a\u{FFFD}b")
        XCTAssertEqual(bad.append([0xE6, 0x97]), "")
        XCTAssertEqual(bad.finish(), "\u{FFFD}")
        XCTAssertEqual(bad.finish(), "")
        // A lead byte followed by what cannot continue it is not waited for.
        var wrong = UTF8StreamDecoder()
        XCTAssertEqual(wrong.append([0xE0, 0x80]), "\u{FFFD}\u{FFFD}")
    }

    func testBadTokenizerMetadata() throws {
        let folder = try Reference.temporaryDirectory("tokenizer-bad")
        defer { try? FileManager.default.removeItem(at: folder) }
        let good = try Self.smallVocabularyMetadata()

        func expectError(_ name: String, containing parts: [String], edit: (inout [(String, GGUFValue)]) -> Void) throws {
            var pairs = good
            edit(&pairs)
            var writer = GGUFWriter()
            for (key, value) in pairs { writer.add(key, value) }
            let path = folder.appendingPathComponent("\(name).gguf").path
            try writer.write(to: path)
            XCTAssertThrowsError(try Tokenizer(file: GGUFFile(path: path)), name) { error in
                let message = "\(error)"
                XCTAssertTrue(error is TokenizerError, "\(name): \(message)")
                for part in parts + [path] {
                    XCTAssertTrue(message.contains(part), "\(name): \"\(message)\" does not mention \(part)")
                }
            }
        }
        func drop(_ key: String) -> (inout [(String, GGUFValue)]) -> Void { { $0.removeAll { $0.0 == key } } }
        func set(_ key: String, _ value: GGUFValue) -> (inout [(String, GGUFValue)]) -> Void {
            { pairs in
                pairs.removeAll { $0.0 == key }
                pairs.append((key, value))
            }
        }

        try expectError("no-model", containing: ["tokenizer.ggml.model", "no tokenizer"], edit: drop("tokenizer.ggml.model"))
        try expectError("llama-model", containing: ["tokenizer.ggml.model", "\"llama\"", "gpt2"], edit: set("tokenizer.ggml.model", .string("llama")))
        try expectError("model-type", containing: ["tokenizer.ggml.model", "INT32"], edit: set("tokenizer.ggml.model", .int32(2)))
        try expectError("unknown-pre", containing: ["tokenizer.ggml.pre", "\"klingon\"", "smollm", "llama-bpe", "qwen2", "gpt-2"],
                        edit: set("tokenizer.ggml.pre", .string("klingon")))
        try expectError("no-tokens", containing: ["tokenizer.ggml.tokens", "missing"], edit: drop("tokenizer.ggml.tokens"))
        try expectError("empty-tokens", containing: ["tokenizer.ggml.tokens", "empty"], edit: set("tokenizer.ggml.tokens", .array([])))
        try expectError("token-ints", containing: ["tokenizer.ggml.tokens", "STRING"], edit: set("tokenizer.ggml.tokens", .array([.int32(1)])))
        try expectError("no-merges", containing: ["tokenizer.ggml.merges", "missing"], edit: drop("tokenizer.ggml.merges"))
        try expectError("short-types", containing: ["tokenizer.ggml.token_type", "3 entries", "262 tokens"],
                        edit: set("tokenizer.ggml.token_type", .array([.int32(1), .int32(1), .int32(1)])))
        try expectError("string-types", containing: ["tokenizer.ggml.token_type", "INT32"],
                        edit: set("tokenizer.ggml.token_type", .array([.string("normal")])))
        try expectError("bos-range", containing: ["tokenizer.ggml.bos_token_id", "262"], edit: set("tokenizer.ggml.bos_token_id", .uint32(262)))
        try expectError("eos-type", containing: ["tokenizer.ggml.eos_token_id", "STRING"], edit: set("tokenizer.ggml.eos_token_id", .string("2")))
        try expectError("add-bos-type", containing: ["tokenizer.ggml.add_bos_token"], edit: set("tokenizer.ggml.add_bos_token", .uint8(1)))
    }

    // MARK: Reference data

    struct TokenizerTestFailure: Error, CustomStringConvertible {
        let description: String
    }

    struct ReferenceLine {
        let ids: [Int32], idsSpecial: [Int32], idsAdd: [Int32]
        let detok: [UInt8], detokSpecial: [UInt8]
    }

    struct ReferenceResult {
        var texts: [String] = []
        let lines: [ReferenceLine]
        let pieces: [[UInt8]], piecesSpecial: [[UInt8]]
        let bos: Int32?, eos: Int32?, eot: Int32?
        let addBOS: Bool, addEOS: Bool
        let endOfGeneration: [Int32]
    }

    private static var smolLM: (Tokenizer, ReferenceResult)?
    private static var corpusPath: URL?

    override class func tearDown() {
        if let corpusPath { try? FileManager.default.removeItem(at: corpusPath.deletingLastPathComponent()) }
        corpusPath = nil
        smolLM = nil
        super.tearDown()
    }

    /// SmolLM2's tokenizer and llama.cpp's answers on the full corpus, made once per test run.
    static func smolLMReference() throws -> (Tokenizer, ReferenceResult) {
        if let smolLM { return smolLM }
        let model = try Reference.requireSmolLM()
        try Reference.requireLlamaCpp()
        let corpus = try corpus()
        var result = try runReference(model: model.path, corpus: corpus.path, folder: corpus.deletingLastPathComponent())
        result.texts = try readCorpus(corpus)
        XCTAssertEqual(result.texts.count, result.lines.count)
        let tokenizer = try Tokenizer(file: GGUFFile(path: model.path))
        smolLM = (tokenizer, result)
        return (tokenizer, result)
    }

    /// The generated corpus, in a temporary folder kept for the test run.
    static func corpus() throws -> URL {
        if let corpusPath { return corpusPath }
        let folder = try Reference.temporaryDirectory("tokenizer-corpus")
        let path = folder.appendingPathComponent("corpus.jsonl")
        try Reference.python(["tools/reference/make_tokenizer_corpus.py", path.path, "--lines", "10000"])
        corpusPath = path
        return path
    }

    static func readCorpus(_ url: URL) throws -> [String] {
        try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            guard let text = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) as? String else {
                throw TokenizerTestFailure(description: "corpus line is not a JSON string: \(line.prefix(80))")
            }
            return text
        }
    }

    static func jsonLine(_ text: String) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed]), as: UTF8.self)
    }

    static func runReference(model: String, corpus: String, folder: URL, pieces: Bool = true) throws -> ReferenceResult {
        let out = folder.appendingPathComponent("reference-\(UUID().uuidString).json")
        try Reference.python(["tools/reference/llamacpp_tokenize.py", "--model", model, "--corpus", corpus, "--out", out.path]
                             + (pieces ? [] : ["--no-pieces"]))
        defer { try? FileManager.default.removeItem(at: out) }
        guard let root = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any],
              let vocab = root["vocab"] as? [String: Any], let lines = root["lines"] as? [[String: Any]]
        else { throw TokenizerTestFailure(description: "unexpected reference output in \(out.path)") }
        func ids(_ any: Any?) -> [Int32] { (any as? [Int] ?? []).map(Int32.init) }
        func id(_ any: Any?) -> Int32? { (any as? Int).flatMap { $0 < 0 ? nil : Int32($0) } }
        func hex(_ any: Any?) -> [UInt8] {
            let text = Array((any as? String ?? "").utf8)
            return stride(from: 0, to: text.count - 1, by: 2).map { UInt8(String(decoding: text[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        }
        return ReferenceResult(
            lines: lines.map { ReferenceLine(ids: ids($0["ids"]), idsSpecial: ids($0["ids_special"]), idsAdd: ids($0["ids_add"]),
                                             detok: hex($0["detok"]), detokSpecial: hex($0["detok_special"])) },
            pieces: (vocab["pieces"] as? [Any] ?? []).map(hex), piecesSpecial: (vocab["pieces_special"] as? [Any] ?? []).map(hex),
            bos: id(vocab["bos"]), eos: id(vocab["eos"]), eot: id(vocab["eot"]),
            addBOS: vocab["add_bos"] as? Bool ?? false, addEOS: vocab["add_eos"] as? Bool ?? false,
            endOfGeneration: ids(vocab["eog"]))
    }

    /// Writes `source`'s metadata (no tensors) to `path`, each value passed through `edit`
    /// (nil drops the key).
    static func copyMetadata(of source: GGUFFile, to path: String, edit: (String, GGUFValue) -> GGUFValue?) throws {
        var writer = GGUFWriter()
        var seen = false
        for (key, value) in source.metadata {
            seen = seen || key == "tokenizer.ggml.pre"
            if let value = edit(key, value) { writer.add(key, value) }
        }
        if !seen, let value = edit("tokenizer.ggml.pre", .string("")) { writer.add("tokenizer.ggml.pre", value) }
        try writer.write(to: path)
    }

    // MARK: A small vocabulary

    /// GPT-2's byte alphabet: the character each byte is stored as.
    static let byteCharacters: [String] = {
        var table = [String](repeating: "", count: 256)
        var next = 256
        for byte in 0..<256 {
            if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
                table[byte] = String(UnicodeScalar(UInt8(byte)))
            } else {
                table[byte] = String(UnicodeScalar(UInt32(next))!)
                next += 1
            }
        }
        return table
    }()

    static func smallVocabularyMetadata() throws -> [(String, GGUFValue)] {
        let tokens = byteCharacters + ["Ġt", "he", "Ġthe", "Ġ1", "<|end|>", "<user>"]
        let types = [Int32](repeating: 1, count: 260) + [3, 4]
        return [
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array(types.map { .int32($0) })),
            ("tokenizer.ggml.merges", .array(["Ġ t", "h e", "Ġt he", "Ġ 1"].map { .string($0) })),
            ("tokenizer.ggml.bos_token_id", .uint32(UInt32(byteCharacters.firstIndex(of: "!")!))),
            ("tokenizer.ggml.eos_token_id", .uint32(260)),
            ("tokenizer.ggml.add_bos_token", .bool(true)),
        ]
    }

    static func writeSmallVocabulary(in folder: URL) throws -> String {
        var writer = GGUFWriter()
        for (key, value) in try smallVocabularyMetadata() { writer.add(key, value) }
        let path = folder.appendingPathComponent("small.gguf").path
        try writer.write(to: path)
        return path
    }
}
