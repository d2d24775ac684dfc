import Foundation
import Runtime

/// A training run's tokenizer (`tokenizer.json` in the Hugging Face `tokenizers` format, plus
/// `tokenizer_config.json` when present) as GGUF `tokenizer.*` metadata, the way llama.cpp's
/// converter writes a byte-level BPE: model `gpt2`, pre-tokenizer `gpt-2`, tokens by id, token
/// types (special added tokens are control tokens), merges, BOS/EOS ids and the chat template.
///
/// Only the byte-level BPE with the GPT-2 split and no normalizer is imported: anything else would
/// tokenize differently in Recur than in training, so it is refused with the reason.
public struct TokenizerImport {
    public let count: Int
    public let metadata: [(key: String, value: GGUFValue)]

    public static func load(_ path: String, configPath: String? = nil) throws -> TokenizerImport {
        func fail(_ detail: String) -> ExportError { .badConfig(file: path, detail: detail) }
        guard let data = FileManager.default.contents(atPath: path) else { throw ExportError.missingConfig("\(path): cannot read the tokenizer") }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw fail("not a JSON object") }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw fail("model.type is not BPE (Recur imports byte-level BPE tokenizers)")
        }
        if let normalizer = root["normalizer"], !(normalizer is NSNull) { throw fail("a normalizer is not supported") }
        guard isByteLevel(root["pre_tokenizer"]) else {
            throw fail("the pre-tokenizer is not ByteLevel with the GPT-2 split and add_prefix_space false")
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw fail("model.vocab is missing") }
        var byID: [Int: String] = [:]
        for (token, id) in vocab {
            guard let id = (id as? NSNumber)?.intValue, id >= 0 else { throw fail("token '\(token)' has no valid id") }
            byID[id] = token
        }
        var special = Set<Int>()
        for case let added as [String: Any] in root["added_tokens"] as? [Any] ?? [] {
            guard let id = (added["id"] as? NSNumber)?.intValue, id >= 0, let content = added["content"] as? String else {
                throw fail("an added token has no id or content")
            }
            byID[id] = content
            if added["special"] as? Bool ?? false { special.insert(id) }
        }
        let count = (byID.keys.max() ?? -1) + 1
        guard count > 0, byID.count == count else { throw fail("token ids are not 0 ..< \(count) without gaps") }
        let tokens = (0..<count).map { byID[$0]! }
        var merges: [String] = []
        for merge in model["merges"] as? [Any] ?? [] {
            if let text = merge as? String {
                merges.append(text)
            } else if let pair = merge as? [String], pair.count == 2 {
                merges.append("\(pair[0]) \(pair[1])")
            } else {
                throw fail("a merge is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }

        var config: [String: Any] = [:]
        if let configPath, let configData = FileManager.default.contents(atPath: configPath) {
            guard let object = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
                throw ExportError.badConfig(file: configPath, detail: "not a JSON object")
            }
            config = object
        }
        func tokenID(_ key: String) throws -> Int? {
            let value = config[key]
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String ?? (config.isEmpty ? "<|endoftext|>" : nil)
            guard let text else { return nil }
            guard let id = tokens.firstIndex(of: text) else {
                if config.isEmpty { return nil }
                throw ExportError.badConfig(file: configPath ?? path, detail: "\(key) '\(text)' is not a token")
            }
            return id
        }
        var metadata: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", .array(tokens.map { .string($0) })),
            ("tokenizer.ggml.token_type", .array((0..<count).map { .int32(special.contains($0) ? 3 : 1) })),
            ("tokenizer.ggml.merges", .array(merges.map { .string($0) })),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        if let bos = try tokenID("bos_token") { metadata.append(("tokenizer.ggml.bos_token_id", .uint32(UInt32(bos)))) }
        if let eos = try tokenID("eos_token") { metadata.append(("tokenizer.ggml.eos_token_id", .uint32(UInt32(eos)))) }
        if let template = config["chat_template"] as? String { metadata.append(("tokenizer.chat_template", .string(template))) }
        return TokenizerImport(count: count, metadata: metadata)
    }

    /// ByteLevel (alone or inside a Sequence) splitting with the GPT-2 regex, no prefix space.
    private static func isByteLevel(_ value: Any?) -> Bool {
        guard let object = value as? [String: Any], let type = object["type"] as? String else { return false }
        if type == "Sequence", let parts = object["pretokenizers"] as? [Any], parts.count == 1 { return isByteLevel(parts[0]) }
        return type == "ByteLevel" && !(object["add_prefix_space"] as? Bool ?? true) && (object["use_regex"] as? Bool ?? true)
    }
}
