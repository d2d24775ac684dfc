/// A causal model with what turns text into its tokens and back: the tokenizer and the chat
/// template read from the same GGUF file.
public final class LanguageModel: @unchecked Sendable {
    public let model: CausalModel
    public let tokenizer: Tokenizer
    /// The file's `tokenizer.chat_template`, parsed; nil when the file has none.
    public let chatTemplate: ChatTemplate?
    /// Why the file's template could not be used, when it has one Recur cannot render.
    public let chatTemplateError: String?

    public convenience init(path: String, controller: String? = nil, alphaMax: Float? = nil) throws {
        try self.init(file: GGUFFile(path: path), controller: controller, alphaMax: alphaMax)
    }

    /// `controller`: an attention controller file to attach (`CausalModel.init`).
    public init(file: GGUFFile, controller: String? = nil, alphaMax: Float? = nil) throws {
        model = try CausalModel(file: file, controller: controller, alphaMax: alphaMax)
        tokenizer = try Tokenizer(file: file)
        guard tokenizer.count == model.vocabSize else {
            throw ModelError.badMetadata(file: file.path, detail: "the tokenizer has \(tokenizer.count) tokens, the model's vocabulary \(model.vocabSize)")
        }
        if let source = file.value("tokenizer.chat_template")?.string {
            do {
                chatTemplate = try ChatTemplate(source: source)
                chatTemplateError = nil
            } catch {
                chatTemplate = nil
                chatTemplateError = "\(error)"
            }
        } else {
            chatTemplate = nil
            chatTemplateError = nil
        }
    }

    /// The prompt text for `messages` in the model's template (ChatML when the file has none, as
    /// llama.cpp falls back to), ready to tokenize with special tokens parsed.
    public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        if let chatTemplateError {
            throw ModelError.badMetadata(file: model.path, detail: "tokenizer.chat_template cannot be rendered: \(chatTemplateError)")
        }
        let template = chatTemplate ?? ChatTemplate.chatML
        let bos = tokenizer.bos.map { String(decoding: tokenizer.piece($0, special: true), as: UTF8.self) } ?? ""
        let eos = tokenizer.eos.map { String(decoding: tokenizer.piece($0, special: true), as: UTF8.self) } ?? ""
        return try template.render(messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bos, eosToken: eos)
    }
}
