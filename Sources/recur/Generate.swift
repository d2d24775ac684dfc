import ArgumentParser
import Foundation
import Runtime

/// Sampling and context options `generate` and `chat` share, named as llama.cpp's tools name them.
///
/// Every value option parses `.unconditional`ly: the next argument is its value even when it starts
/// with a dash, so `--repeat-last-n -1` (the documented whole-context window), a negative presence
/// penalty and a stop string such as "---" are read as values rather than as unknown options.
struct SamplingOptions: ParsableArguments {
    @Option(name: [.customShort("n"), .customLong("n-predict")], parsing: .unconditional, help: "Tokens to generate at most.")
    var count: Int = 128
    @Option(name: .customLong("temp"), parsing: .unconditional, help: "Temperature; 0 is greedy (always the most likely token).")
    var temperature: Float = 0.8
    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the K most likely tokens (0: off).")
    var topK: Int = 40
    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Keep the smallest set of tokens whose probability reaches P (1: off).")
    var topP: Float = 0.95
    @Option(name: .customLong("min-p"), parsing: .unconditional, help: "Drop tokens less likely than P times the most likely one (0: off).")
    var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), parsing: .unconditional, help: "Penalty for tokens among the last --repeat-last-n (1: off).")
    var repeatPenalty: Float = 1.0
    @Option(name: .customLong("repeat-last-n"), parsing: .unconditional, help: "How many recent tokens the penalties look at (-1: the whole context).")
    var repeatLastN: Int = 64
    @Option(name: .customLong("presence-penalty"), parsing: .unconditional, help: "Subtracted from the logit of every token already present (0: off).")
    var presencePenalty: Float = 0
    @Option(name: .customLong("frequency-penalty"), parsing: .unconditional, help: "Subtracted once per earlier occurrence (0: off).")
    var frequencyPenalty: Float = 0
    @Option(name: .customLong("seed"), parsing: .unconditional, help: "Random seed for sampling (the same seed gives the same text).")
    var seed: UInt64 = 0
    @Option(name: [.customShort("c"), .customLong("ctx-size")], parsing: .unconditional, help: "Context size in tokens (default: the model's, at most 4096).")
    var contextSize: Int?
    @Option(name: [.customShort("t"), .customLong("threads")], parsing: .unconditional, help: "Threads for the kernels.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("stop"), parsing: .unconditionalSingleValue, help: "Stop before this text (repeatable).")
    var stop: [String] = []

    /// Refuses values the sampler cannot use before the model is loaded (and before `generate`
    /// echoes the prompt), with the sampler's own message.
    func validate() throws {
        guard count >= 0 else { throw ValidationError("-n/--n-predict must not be negative, got \(count)") }
        do {
            try parameters.validate()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    var parameters: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature
        p.topK = topK
        p.topP = topP
        p.minP = minP
        p.repeatPenalty = repeatPenalty
        p.repeatLastN = repeatLastN
        p.presencePenalty = presencePenalty
        p.frequencyPenalty = frequencyPenalty
        p.seed = seed
        return p
    }

    func options(ignoreEndOfGeneration: Bool = false) -> GenerationOptions {
        GenerationOptions(maxTokens: count, sampling: parameters, stop: stop, ignoreEndOfGeneration: ignoreEndOfGeneration)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a language model (llama, qwen2 or recursive rlm GGUF files), streaming it to stdout.",
        discussion: "Prompt and generation speed (tokens/s) and memory go to stderr, as llama.cpp prints them.")

    @Option(name: [.customShort("m"), .customLong("model")], help: "The GGUF language model (default: models/\(DefaultModel.languageFileName)).")
    var model: String?
    @Option(name: [.customShort("p"), .customLong("prompt")], help: "The prompt text.")
    var prompt: String?
    @Option(name: [.customShort("f"), .customLong("file")], help: "Read the prompt from this file (UTF-8).")
    var file: String?
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup(title: "Per-token halting (recursive LMs)") var halting: HaltingOptions
    @Flag(name: .customLong("chat"), help: "Wrap the prompt as one user message in the model's chat template.")
    var chat = false
    @Flag(name: .customLong("ignore-eos"), help: "Keep generating past end-of-generation tokens.")
    var ignoreEOS = false
    @Flag(name: .customLong("json"), help: "Print one JSON object (token ids, text, speeds, memory) instead of streaming.")
    var json = false
    @Flag(name: .customLong("profile"), help: "Print the time per operation to stderr.")
    var profile = false

    @Flag(name: .customLong("check-tensors"), help: "Look through every tensor for NaN and infinity before running (as llama.cpp's --check-tensors).")
    var checkTensors = false
    @OptionGroup(title: "Attention controller") var steering: SteeringOptions

    func run() throws {
        let text = try promptText()
        let model = try self.model ?? DefaultModel.path(DefaultModel.languageFileName)
        let session = try Session(path: model, threads: sampling.threads, checkTensors: checkTensors,
                                  controller: steering.controller, alphaMax: steering.alphaMax)
        guard let language = session.languageModel else {
            throw CLIError("\(model) is a puzzle model ('\(session.description.architecture)'): use `recur solve`")
        }
        let generator = try session.generator(contextSize: sampling.contextSize)
        try generator.context.setHalting(halting.policy(), maxSteps: halting.maxSteps)
        if profile { generator.context.profile = OpProfile() }
        let promptTokens: [Int32]
        if chat {
            let rendered = try language.renderChat([ChatMessage(role: "user", content: text)])
            promptTokens = language.tokenizer.encode(rendered, addSpecial: true, parseSpecial: true)
        } else {
            promptTokens = language.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        }
        // Refused here rather than by `generate`, which would come after the prompt is echoed.
        guard promptTokens.count + sampling.count <= generator.context.contextSize else {
            throw CLIError("the prompt (\(promptTokens.count) tokens) and \(sampling.count) tokens to generate exceed the context size "
                           + "\(generator.context.contextSize) (--ctx-size)")
        }
        let out = FileHandle.standardOutput
        // A plain completion echoes its prompt, as llama.cpp does; a chat turn shows the reply only.
        if !json && !chat { out.write(Data(text.utf8)) }
        let result = try generator.generate(prompt: promptTokens, options: sampling.options(ignoreEndOfGeneration: ignoreEOS)) { piece in
            if !json { out.write(Data(piece.utf8)) }
            return true
        }
        // VmHWM lags VmRSS (the kernel folds its per-thread counters in now and then), so the peak
        // read alone can be below the resident size read a moment later.
        let resident = ProcessMemory.residentBytes() ?? 0
        let peak = Double(max(ProcessMemory.peakResidentBytes() ?? 0, resident)) / 1_048_576
        let recursive = language.model.isRecursive
        let stepCap = min(halting.maxSteps ?? language.model.maxSteps, language.model.maxSteps)
        if json {
            var object: [String: Any] = [
                "prompt_tokens": result.promptTokens.map(Int.init), "tokens": result.tokens.map(Int.init), "text": result.text,
                "finish_reason": result.finishReason.rawValue,
                "prompt_tokens_per_second": result.promptTokensPerSecond, "tokens_per_second": result.tokensPerSecond,
                "peak_resident_mib": peak,
            ]
            if recursive {
                object["act_steps"] = result.actSteps
                object["max_steps"] = stepCap
            }
            if steering.controller != nil { object["gate_alpha"] = steering.generatedAlphas(result, context: generator.context).map { $0.map(Double.init) } }
            out.write(Data((try JSONOutput.line(object) + "\n").utf8))
        } else {
            out.write(Data("\n".utf8))
        }
        var report = String(format: "prompt: %d tokens in %.1f ms (%.1f tokens/s)\n", result.promptTokens.count - result.reusedPromptTokens,
                            result.promptSeconds * 1000, result.promptTokensPerSecond)
        report += String(format: "generation: %d tokens, %d decode steps in %.1f ms (%.1f tokens/s)\n", result.tokens.count, result.decodeSteps,
                         result.decodeSeconds * 1000, result.tokensPerSecond)
        if recursive, !result.actSteps.isEmpty {
            report += String(format: "act steps: %.2f per generated token on average (cap %d, ", Double(result.actSteps.reduce(0, +)) / Double(result.actSteps.count), stepCap)
                + "halting \(halting.halt.rawValue))\n"
        }
        report += String(format: "memory: resident %.1f MiB, peak %.1f MiB (model file %.1f MiB, KV cache reserved %.1f MiB)\n",
                         Double(resident) / 1_048_576, peak,
                         Double(language.model.file.fileSize) / 1_048_576, Double(generator.context.cacheBytes) / 1_048_576)
        if steering.showGate, let controller = language.model.controller {
            report += steering.gateTable(result, context: generator.context, controller: controller, tokenizer: language.tokenizer)
        }
        if let table = generator.context.profile?.table(peak: MachinePeak.int8GOPS(threads: sampling.threads)) { report += "time per operation:\n" + table + "\n" }
        FileHandle.standardError.write(Data(report.utf8))
    }

    private func promptText() throws -> String {
        switch (prompt, file) {
        case let (p?, nil): return p
        case let (nil, f?):
            guard FileManager.default.fileExists(atPath: f) else { throw CLIError("\(f): no such file (--file)") }
            guard let data = FileManager.default.contents(atPath: f) else { throw CLIError("\(f): cannot read the file (--file)") }
            guard let text = String(validatingUTF8: data) else {
                let offset = firstInvalidUTF8Offset(data)
                throw CLIError("\(f): not valid UTF-8 (first bad byte at offset \(offset))")
            }
            return text
        case (nil, nil): throw CLIError("pass --prompt TEXT or --file FILE")
        default: throw CLIError("pass either --prompt or --file, not both")
        }
    }
}

extension String {
    /// The text of `data` when it is valid UTF-8, else nil (no replacement characters).
    init?(validatingUTF8 data: Data) {
        var decoder = UTF8()
        var iterator = data.makeIterator()
        var scalars = String.UnicodeScalarView()
        loop: while true {
            switch decoder.decode(&iterator) {
            case let .scalarValue(s): scalars.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self = String(scalars)
    }
}

/// Byte offset of the first byte that does not start or continue a valid UTF-8 sequence.
func firstInvalidUTF8Offset(_ data: Data) -> Int {
    let bytes = [UInt8](data)
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        let length = b < 0x80 ? 1 : b >> 5 == 0b110 ? 2 : b >> 4 == 0b1110 ? 3 : b >> 3 == 0b11110 ? 4 : 0
        guard length > 0, i + length <= bytes.count,
              String(bytes: bytes[i..<(i + length)], encoding: .utf8) != nil else { return i }
        i += length
    }
    return bytes.count
}

/// `--controller`, `--alpha-max` and `--show-gate`: an attention controller steering the model
/// (docs/attention-controller.md).
struct SteeringOptions: ParsableArguments {
    @Option(name: .customLong("controller"), help: "An attention controller GGUF (general.architecture attn_controller) to steer the model's attention.")
    var controller: String?
    @Option(name: .customLong("alpha-max"), parsing: .unconditional, help: "The gate's ceiling, in [0, 1] (default: the controller file's); 0 runs the plain model.")
    var alphaMax: Float?
    @Flag(name: .customLong("show-gate"), help: "Print the gate's alpha per generated token and controlled layer to stderr.")
    var showGate = false

    func validate() throws {
        if let alphaMax, !(alphaMax >= 0 && alphaMax <= 1) { throw ValidationError("--alpha-max must lie in [0, 1], got \(alphaMax)") }
        if controller == nil && (alphaMax != nil || showGate) { throw ValidationError("--alpha-max and --show-gate need --controller FILE") }
    }

    /// The alphas of the forward step that gave each generated token its logits: the prompt's
    /// last token for the first, then each generated token for the next.
    func generatedAlphas(_ result: GenerationResult, context: DecoderContext) -> [[Float]] {
        let first = result.promptTokens.count - 1
        return result.tokens.indices.compactMap { i in
            let at = first + i
            return at < context.gateAlphas.count ? context.gateAlphas[at] : nil
        }
    }

    func gateTable(_ result: GenerationResult, context: DecoderContext, controller: AttentionController, tokenizer: Tokenizer) -> String {
        var out = "gate alpha per generated token (layers " + controller.layers.map(String.init).joined(separator: ", ")
            + String(format: "; alpha_max %.3f):\n", controller.alphaMax)
        for (token, alphas) in zip(result.tokens, generatedAlphas(result, context: context)) {
            let piece = String(decoding: tokenizer.piece(token, special: true), as: UTF8.self)
            let shown = piece.debugDescription
            let padded = shown.count < 16 ? shown + String(repeating: " ", count: 16 - shown.count) : shown
            out += String(format: "%6d ", Int(token)) + padded + " " + alphas.map { String(format: "%.3f", $0) }.joined(separator: " ") + "\n"
        }
        return out
    }
}
