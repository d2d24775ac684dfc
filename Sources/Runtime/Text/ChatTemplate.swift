/// One message of a conversation, as chat templates read it (`message['role']`,
/// `message.content`).
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's chat template (`tokenizer.chat_template` in GGUF metadata): the Jinja program
/// that turns a conversation into the prompt text the model was trained on.
///
/// Templates are written for Hugging Face transformers' `apply_chat_template`, which renders
/// with jinja2 in a sandbox with `trim_blocks` and `lstrip_blocks`; this is a Jinja subset
/// interpreter with those semantics. A template using Jinja it does not implement (macros,
/// includes, an unknown filter) fails in `init` with a `ChatTemplateError`, and one that fails
/// while rendering (or calls `raise_exception`) fails in `render`: never a prompt that
/// differs from what jinja2 would produce.
public struct ChatTemplate: Sendable {
    public let source: String
    private let body: [JinjaNode]

    /// Parses `source`; throws `ChatTemplateError` for invalid or unsupported Jinja.
    public init(source: String) throws {
        self.source = source
        self.body = try JinjaParser.parse(source)
    }

    /// Renders the prompt for `messages`.
    ///
    /// The template sees `messages` (dicts with `role` and `content`), `add_generation_prompt`,
    /// `bos_token`, `eos_token`, `tools` and `documents` (None, as transformers passes without
    /// tools), and each of `extra` as a string variable (which may replace the tokens or tools).
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String = "",
                       eosToken: String = "", extra: [String: String] = [:]) throws -> String {
        var variables: [String: JinjaValue] = [
            "bos_token": .string(bosToken),
            "eos_token": .string(eosToken),
            "tools": .none,
            "documents": .none,
        ]
        for (name, value) in extra { variables[name] = .string(value) }
        variables["messages"] = .list(messages.map { message in
            .dict(JinjaDict([JinjaDictItem(key: .string("role"), value: .string(message.role)),
                             JinjaDictItem(key: .string("content"), value: .string(message.content))]))
        })
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        do {
            return try JinjaRenderer(variables: variables).render(body)
        } catch let failure as JinjaFailure {
            throw failure.located(.unknown)
        }
    }

    /// ChatML, the template llama.cpp falls back to when a GGUF file has none:
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message, then `<|im_start|>assistant\n`.
    public static let chatML: ChatTemplate = {
        do {
            return try ChatTemplate(source: chatMLSource)
        } catch {
            preconditionFailure("the built-in ChatML template does not parse: \(error)")
        }
    }()

    static let chatMLSource = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
}
