/// The public entry point the CLI and the server use: open a GGUF file, and get what runs it
/// (an ACT runner for puzzle models, a generator for language models) without wiring models,
/// heads, tokenizers and caches by hand.
public final class Session: @unchecked Sendable {
    public enum Model {
        /// A TRM or HRM: fixed-length inputs, halting per sample.
        case puzzle(RecursiveModel)
        /// A causal language model with its tokenizer and chat template.
        case language(LanguageModel)
    }

    public let model: Model
    public let threads: Int
    public let path: String

    /// Opens `path`; the family registry (`general.architecture`) decides which kind it is.
    /// `checkTensors` first looks through every tensor for NaN and infinity (`TensorCheck`).
    /// `controller` attaches an attention controller to a language model (`alphaMax` overrides
    /// its gate's ceiling).
    public init(path: String, threads: Int, checkTensors: Bool = false, controller: String? = nil, alphaMax: Float? = nil) throws {
        let file = try GGUFFile(path: path)
        if checkTensors { try TensorCheck.require(file) }
        let description = try ModelFamilies.describe(file)
        self.path = path
        self.threads = threads
        if description.isCausal {
            model = .language(try LanguageModel(file: file, controller: controller, alphaMax: alphaMax))
        } else if description.architecture == "uzr" {
            throw ModelError.badInput("\(path) is a rule-latent model ('uzr'): use `recur rules`")
        } else {
            guard controller == nil else { throw ModelError.badInput("\(path) is a puzzle model: attention controllers steer language models") }
            model = .puzzle(try RecursiveModel(file: file))
        }
    }

    public var description: ModelDescription {
        switch model {
        case let .puzzle(m): return m.description
        case let .language(m): return m.model.description
        }
    }

    /// An ACT runner that solves puzzles `batch` at a time.
    public func solver(batch: Int, policy: HaltingPolicy, maxSteps: Int? = nil, qhead: QHeadSelection = .model) throws -> ACTRunner {
        try ACTRunner(model: puzzleModel(), batchSize: batch, policy: policy, maxSteps: maxSteps, threads: threads, qhead: qhead)
    }

    /// The puzzle model, or an error saying this file is a language model.
    public func puzzleModel() throws -> RecursiveModel {
        guard case let .puzzle(m) = model else {
            throw ModelError.badInput("\(path) is a language model ('\(description.architecture)'): use `recur generate` or `recur chat`")
        }
        return m
    }

    /// A generator over a fresh context of `contextSize` tokens (the model's `context_length`
    /// when nil, capped at 4096 as llama.cpp's default).
    public func generator(contextSize: Int? = nil) throws -> Generator {
        guard case let .language(m) = model else {
            throw ModelError.badInput("\(path) is a puzzle model ('\(description.architecture)'): use `recur solve`")
        }
        let size = contextSize ?? min(m.model.description.contextLength, 4096)
        return Generator(language: m, context: try DecoderContext(model: m.model, contextSize: size, threads: threads))
    }

    public var languageModel: LanguageModel? {
        if case let .language(m) = model { return m }
        return nil
    }
}
