import Foundation
import Runtime

// Request and response bodies of the OpenAI API that `recur serve` speaks, as the official client
// sends and reads them. Fields the server does not use are ignored, as OpenAI's server does.

/// A string, or an array of strings (`stop`).
struct StringOrList: Decodable {
    var values: [String]

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) {
            values = [one]
        } else {
            values = try c.decode([String].self)
        }
    }
}

/// A message's content: a string, or an array of parts of which the text ones count.
struct MessageContent: Decodable {
    var text: String

    private struct Part: Decodable {
        var type: String
        var text: String?
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            text = ""
        } else if let string = try? c.decode(String.self) {
            text = string
        } else {
            let parts = try c.decode([Part].self)
            if let other = parts.first(where: { $0.type != "text" }) {
                throw APIError.badRequest("content parts of type '\(other.type)' are not supported (text only)", param: "messages")
            }
            text = parts.compactMap(\.text).joined()
        }
    }
}

/// A completion prompt: text, or token ids (one prompt; a list of one string is accepted too).
enum CompletionPrompt: Decodable {
    case text(String)
    case tokens([Int32])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let string = try? c.decode(String.self) {
            self = .text(string)
        } else if let tokens = try? c.decode([Int32].self) {
            self = .tokens(tokens)
        } else if let strings = try? c.decode([String].self) {
            guard strings.count == 1 else { throw APIError.badRequest("one prompt per request is supported, got \(strings.count)", param: "prompt") }
            self = .text(strings[0])
        } else {
            throw APIError.badRequest("'prompt' must be a string or an array of token ids", param: "prompt")
        }
    }
}

/// Sampling and length fields shared by chat and text completions.
struct GenerationFields: Decodable {
    var model: String?
    var maxTokens: Int?
    var maxCompletionTokens: Int?
    var temperature: Float?
    var topP: Float?
    var topK: Int?
    var minP: Float?
    var repeatPenalty: Float?
    var presencePenalty: Float?
    var frequencyPenalty: Float?
    var seed: Int64?
    var stop: StringOrList?
    var stream: Bool?
    var streamOptions: StreamOptions?
    var n: Int?

    struct StreamOptions: Decodable {
        var includeUsage: Bool?
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    enum CodingKeys: String, CodingKey {
        case model, temperature, seed, stop, stream, n
        case maxTokens = "max_tokens", maxCompletionTokens = "max_completion_tokens", topP = "top_p", topK = "top_k", minP = "min_p"
        case repeatPenalty = "repeat_penalty", presencePenalty = "presence_penalty", frequencyPenalty = "frequency_penalty"
        case streamOptions = "stream_options"
    }

    /// The generation options: llama.cpp's server defaults where a field is absent (and a random
    /// seed, as llama.cpp draws one), at most what the context leaves after the prompt.
    func options(promptTokens: Int, contextSize: Int) throws -> GenerationOptions {
        if let n, n != 1 { throw APIError.badRequest("only n = 1 is supported", param: "n") }
        var p = SamplingParameters()
        if let temperature { p.temperature = temperature }
        if let topP { p.topP = topP }
        if let topK { p.topK = topK }
        if let minP { p.minP = minP }
        if let repeatPenalty { p.repeatPenalty = repeatPenalty }
        if let presencePenalty { p.presencePenalty = presencePenalty }
        if let frequencyPenalty { p.frequencyPenalty = frequencyPenalty }
        p.seed = seed.map { UInt64(bitPattern: $0) } ?? UInt64.random(in: 0...UInt64(UInt32.max))
        do { try p.validate() } catch { throw APIError.badRequest("\(error)") }
        let limit = maxCompletionTokens ?? maxTokens
        if let limit, limit < 1 { throw APIError.badRequest("max_tokens must be at least 1, got \(limit)", param: "max_tokens") }
        let room = contextSize - promptTokens
        guard room > 0 else {
            throw APIError(.badRequest, "the prompt has \(promptTokens) tokens, the context holds \(contextSize)", code: "context_length_exceeded",
                           param: "messages")
        }
        if let limit {
            guard limit <= room else {
                throw APIError(.badRequest, "the prompt (\(promptTokens) tokens) and max_tokens \(limit) exceed the context of \(contextSize) tokens",
                               code: "context_length_exceeded", param: "max_tokens")
            }
        }
        return GenerationOptions(maxTokens: limit ?? room, sampling: p, stop: stop?.values ?? [])
    }
}

struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: MessageContent?
    }

    var messages: [Message]
    var fields: GenerationFields

    enum CodingKeys: String, CodingKey { case messages }

    init(from decoder: Decoder) throws {
        messages = try decoder.container(keyedBy: CodingKeys.self).decode([Message].self, forKey: .messages)
        fields = try GenerationFields(from: decoder)
    }
}

struct CompletionRequest: Decodable {
    var prompt: CompletionPrompt
    var fields: GenerationFields

    enum CodingKeys: String, CodingKey { case prompt }

    init(from decoder: Decoder) throws {
        prompt = try decoder.container(keyedBy: CodingKeys.self).decode(CompletionPrompt.self, forKey: .prompt)
        fields = try GenerationFields(from: decoder)
    }
}

/// `POST /v1/solve`: puzzles in, solutions out (Recur's own endpoint for TRM/HRM models).
struct SolveRequest: Decodable {
    var model: String?
    var puzzles: [String]
    /// `qhead` (the model's rule, the default), `compare`, or `max`.
    var halt: String?
    var maxSteps: Int?

    enum CodingKeys: String, CodingKey {
        case model, puzzles, halt
        case maxSteps = "max_steps"
    }
}

struct Usage: Encodable {
    var promptTokens: Int
    var completionTokens: Int
    var totalTokens: Int { promptTokens + completionTokens }

    enum CodingKeys: String, CodingKey { case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", totalTokens = "total_tokens" }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(completionTokens, forKey: .completionTokens)
        try c.encode(totalTokens, forKey: .totalTokens)
    }
}

/// A chat or text completion, whole or as one streamed chunk: the same envelope, the choice's
/// shape differs by `object`.
struct CompletionEnvelope: Encodable {
    var id: String
    var object: String
    var created: Int
    var model: String
    var choices: [Choice]
    var usage: Usage?
    var systemFingerprint = "recur"

    struct Choice: Encodable {
        var index = 0
        /// Chat, whole response.
        var message: ChatOutput?
        /// Chat, streamed chunk.
        var delta: ChatOutput?
        /// Text completion.
        var text: String?
        var finishReason: String?
        var logprobs: String? = nil

        enum CodingKeys: String, CodingKey { case index, message, delta, text, logprobs, finishReason = "finish_reason" }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encodeIfPresent(message, forKey: .message)
            try c.encodeIfPresent(delta, forKey: .delta)
            try c.encodeIfPresent(text, forKey: .text)
            try c.encodeNil(forKey: .logprobs)
            // OpenAI sends `finish_reason: null` while a stream goes on.
            try c.encode(finishReason, forKey: .finishReason)
        }
    }

    struct ChatOutput: Encodable {
        var role: String?
        var content: String?
    }

    enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, systemFingerprint = "system_fingerprint" }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(object, forKey: .object)
        try c.encode(created, forKey: .created)
        try c.encode(model, forKey: .model)
        try c.encode(systemFingerprint, forKey: .systemFingerprint)
        try c.encode(choices, forKey: .choices)
        try c.encodeIfPresent(usage, forKey: .usage)
    }
}

struct SolveResponse: Encodable {
    struct Result: Encodable {
        var index: Int
        var puzzle: String
        var solution: String
        var actSteps: Int
        var qHalt: [Float]
        var qContinue: [Float]
        /// The prediction is a complete grid that keeps the givens and breaks no rule.
        var valid: Bool

        enum CodingKeys: String, CodingKey {
            case index, puzzle, solution, valid
            case actSteps = "act_steps", qHalt = "q_halt", qContinue = "q_continue"
        }
    }

    struct SolveUsage: Encodable {
        var puzzles: Int
        var actSteps: Int
        enum CodingKeys: String, CodingKey { case puzzles, actSteps = "act_steps" }
    }

    var id: String
    var object = "solve"
    var created: Int
    var model: String
    var results: [Result]
    var usage: SolveUsage
}

struct ModelList: Encodable {
    struct Entry: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "recur"
        /// Recur's own facts: `language` or `puzzle`, the architecture, the context size.
        var meta: [String: String]

        enum CodingKeys: String, CodingKey { case id, object, created, meta, ownedBy = "owned_by" }
    }

    var object = "list"
    var data: [Entry]
}

/// Identifiers and timestamps for response envelopes.
enum ResponseID {
    static func make(_ prefix: String) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return prefix + "-" + String((0..<24).map { _ in alphabet.randomElement()! })
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
}
