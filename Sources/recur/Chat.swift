import ArgumentParser
import Foundation
import Runtime

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a language model in its chat template, streaming each reply.",
        discussion: """
            Type a message and press Enter; an empty line or end of input (Ctrl-D) ends the chat. The \
            conversation stays in the KV cache: each turn evaluates only the new tokens.
            """)

    @Option(name: [.customShort("m"), .customLong("model")], help: "The GGUF language model (default: models/\(DefaultModel.languageFileName)).")
    var model: String?
    @Option(name: .customLong("system"), help: "A system message to start the conversation with.")
    var system: String?
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup(title: "Per-token halting (recursive LMs)") var halting: HaltingOptions
    @Flag(name: .customLong("verbose"), help: "Print each turn's speed to stderr.")
    var verbose = false

    /// `-n 0` would leave no room for any reply; without this it was reported as a full context.
    @Flag(name: .customLong("check-tensors"), help: "Look through every tensor for NaN and infinity before running (as llama.cpp's --check-tensors).")
    var checkTensors = false

    func validate() throws {
        guard sampling.count > 0 else { throw ValidationError("-n/--n-predict must be at least 1 for a chat reply, got \(sampling.count)") }
    }

    func run() throws {
        let model = try self.model ?? DefaultModel.path(DefaultModel.languageFileName)
        let session = try Session(path: model, threads: sampling.threads, checkTensors: checkTensors)
        guard let language = session.languageModel else {
            throw CLIError("\(model) is a puzzle model ('\(session.description.architecture)'): use `recur solve`")
        }
        let generator = try session.generator(contextSize: sampling.contextSize)
        try generator.context.setHalting(halting.policy(), maxSteps: halting.maxSteps)
        var messages: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        let out = FileHandle.standardOutput
        let interactive = isatty(0) != 0
        while true {
            if interactive { out.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true), !line.isEmpty else { break }
            messages.append(ChatMessage(role: "user", content: line))
            let prompt = language.tokenizer.encode(try language.renderChat(messages), addSpecial: true, parseSpecial: true)
            var options = sampling.options()
            options.maxTokens = min(options.maxTokens, generator.context.contextSize - prompt.count)
            guard options.maxTokens > 0 else { throw CLIError("the conversation has filled the context (\(generator.context.contextSize) tokens)") }
            let result = try generator.generate(prompt: prompt, options: options) { piece in
                out.write(Data(piece.utf8))
                return true
            }
            out.write(Data("\n".utf8))
            messages.append(ChatMessage(role: "assistant", content: result.text))
            if verbose {
                FileHandle.standardError.write(Data(String(
                    format: "[%d prompt tokens (%d reused) at %.1f tokens/s, %d tokens at %.1f tokens/s]\n",
                    prompt.count, result.reusedPromptTokens, result.promptTokensPerSecond, result.tokens.count, result.tokensPerSecond).utf8))
            }
        }
    }
}
