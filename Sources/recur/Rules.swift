import ArgumentParser
import Foundation
import Rules
import Runtime

/// `recur rules`: the rule-latent model (docs/rule-latent.md). Fit z on a few examples and answer
/// queries; or run a long session with a memory.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Fit a rule latent z on examples and answer queries (a rule-latent UZR model).",
        subcommands: [RulesFit.self, RulesSession.self],
        defaultSubcommand: RulesFit.self)
}

/// What both rules commands share: the model, the fit settings, threads.
struct RulesModelOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .customLong("model")], help: "A uzr GGUF (default: models/\(DefaultModel.rulesFileName)).")
    var model: String?
    @Option(name: .customLong("steps"), help: "Adam steps on z (default: the file's).")
    var steps: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate (default: the file's).")
    var learningRate: Float?
    @Option(name: .customLong("l1"), help: "L1 weight: after each Adam step z is soft-thresholded by lr x l1 (default: the file's).")
    var l1: Float?
    @Option(name: [.customShort("t"), .customLong("threads")], help: "Threads for the kernels.")
    var threads = 1

    func fitter() throws -> RuleFitter {
        let path = try model ?? DefaultModel.path(DefaultModel.rulesFileName)
        let m = try RuleModel(path: path)
        var settings = m.fitDefaults
        if let steps {
            guard steps >= 0 else { throw CLIError("--steps must not be negative") }
            settings.steps = steps
        }
        if let learningRate {
            guard learningRate > 0, learningRate.isFinite else { throw CLIError("--lr must be positive") }
            settings.learningRate = learningRate
        }
        if let l1 {
            guard l1 >= 0, l1.isFinite else { throw CLIError("--l1 must not be negative") }
            settings.l1 = l1
        }
        guard threads >= 1, threads <= ACTRunner.maxThreads else { throw CLIError("--threads must be between 1 and \(ACTRunner.maxThreads)") }
        return RuleFitter(model: m, settings: settings, threads: threads)
    }
}

/// Bytes of one text field, checked against the model's sizes.
func ruleBytes(_ text: String, limit: Int, what: String) throws -> [UInt8] {
    let bytes = Array(text.utf8)
    guard bytes.count <= limit else { throw CLIError("\(what) \(text.debugDescription) is \(bytes.count) bytes; the model reads at most \(limit)") }
    return bytes
}

struct RulesFit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit z on examples (one input<TAB>output per line) and print one answer per query.",
        discussion: "z's sparsity and the fit's confidence go to stderr.")

    @OptionGroup var options: RulesModelOptions
    @Option(name: [.customShort("e"), .customLong("examples")], help: "Examples: one `input<TAB>output` pair per line, UTF-8.")
    var examples: String
    @Option(name: [.customShort("q"), .customLong("query")], help: "A query (repeatable).")
    var query: [String] = []
    @Flag(name: .customLong("json"), help: "Print one JSON object (answers, confidence, sparsity, z) instead.")
    var json = false

    func run() throws {
        let fitter = try options.fitter()
        let m = fitter.model
        let pairs = try Self.readExamples(examples, model: m)
        let queries = try query.map { try ruleBytes($0, limit: m.maxInput, what: "the query") }
        let fit = try fitter.fit(pairs)
        let answers = try queries.map { try fitter.answer($0, z: fit.z) }
        let out = FileHandle.standardOutput
        if json {
            let object: [String: Any] = [
                "answers": answers.map { String(decoding: $0, as: UTF8.self) }, "confidence": Double(fit.confidence),
                "cross_entropy": Double(fit.crossEntropy), "sparsity": Double(fit.sparsity), "z": fit.z.map(Double.init),
            ]
            out.write(Data((try JSONOutput.line(object) + "\n").utf8))
        } else {
            for a in answers { out.write(Data((String(decoding: a, as: UTF8.self) + "\n").utf8)) }
        }
        FileHandle.standardError.write(Data(String(format: "z: %d of %d values zero (sparsity %.2f); confidence %.3f (cross-entropy %.4f) after %d steps on %d examples\n",
                                                   fit.z.filter { $0 == 0 }.count, fit.z.count, fit.sparsity, fit.confidence, fit.crossEntropy,
                                                   fitter.settings.steps, pairs.count).utf8))
    }

    /// `input<TAB>output` lines; blank lines skipped.
    static func readExamples(_ path: String, model m: RuleModel) throws -> [RulePair] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot read the examples") }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8 text") }
        var pairs: [RulePair] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw CLIError("\(path):\(n + 1): expected `input<TAB>output`, found no tab") }
            pairs.append(RulePair(input: try ruleBytes(String(parts[0]), limit: m.maxInput, what: "\(path):\(n + 1): the input"),
                                  output: try ruleBytes(String(parts[1]), limit: m.maxOutput, what: "\(path):\(n + 1): the output")))
        }
        guard !pairs.isEmpty else { throw CLIError("\(path): no examples: z needs at least one `input<TAB>output` pair to be fitted on") }
        return pairs
    }
}

struct RulesSession: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "A long multi-turn run: z = z_slow + z_fast, a confidence gate, a sketch memory in SQLite.",
        discussion: """
        Turns are JSON lines from --turns FILE or stdin: {"examples": [[input, output], ...], "queries": [input, ...]} \
        (either may be absent; "expected": [answer, ...] scores the answers). Each turn prints one line: its answers \
        separated by tabs, or with --json an object with answers, confidence, sparsity and memory size.
        """)

    @OptionGroup var options: RulesModelOptions
    @Option(name: .customLong("memory"), help: "The SQLite memory (created if missing; a session resumes from it).")
    var memory: String?
    @Option(name: .customLong("turns"), help: "Read turns from this file instead of stdin.")
    var turns: String?
    @Option(name: .customLong("seed"), help: "Seed of the replay draws of a new session.")
    var seed: UInt64 = 0
    @Flag(name: .customLong("json"), help: "Print one JSON object per turn.")
    var json = false

    func run() throws {
        let fitter = try options.fitter()
        let m = fitter.model
        let store = try memory.map { try RuleMemory(path: $0, hidden: m.hidden, latent: m.latent, capacity: fitter.settings.capacity) }
        let session = try RuleSession(fitter: fitter, memory: store, seed: seed)
        let input: FileHandle
        if let turns {
            guard let h = FileHandle(forReadingAtPath: turns) else { throw CLIError("\(turns): cannot read the turns") }
            input = h
        } else {
            input = .standardInput
        }
        var scored = 0, correct = 0, count = 0, confident = 0
        var fitSeconds = 0.0
        let start = DispatchTime.now().uptimeNanoseconds
        let out = FileHandle.standardOutput
        for (n, line) in LineReader(input).enumerated() {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let turn = try RuleTurnLine(line, number: n + 1, model: m)
            let r = try session.turn(examples: turn.examples, queries: turn.queries)
            count += 1
            fitSeconds += r.fitSeconds
            if r.zSlowUpdated { confident += 1 }
            let answers = r.answers.map { String(decoding: $0, as: UTF8.self) }
            if let expected = turn.expected {
                for (a, e) in zip(answers, expected) {
                    scored += 1
                    if a == e { correct += 1 }
                }
            }
            if json {
                var object: [String: Any] = ["turn": session.turns, "answers": answers, "z_slow_updated": r.zSlowUpdated, "retrieved": r.retrieved,
                                             "sparsity_fast": Double(r.sparsityFast), "sparsity": Double(r.sparsity), "memory": r.memorySketches,
                                             "fit_seconds": r.fitSeconds]
                if let c = r.confidence { object["confidence"] = Double(c) }
                out.write(Data((try JSONOutput.line(object) + "\n").utf8))
            } else {
                out.write(Data((answers.joined(separator: "\t") + "\n").utf8))
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        var report = String(format: "%d turns in %.1f s (%.2f turns/s, fit %.1f ms per turn); %d confident (z_slow updated)", count, seconds,
                            Double(count) / max(seconds, 1e-9), 1000 * fitSeconds / Double(max(count, 1)), confident)
        if scored > 0 { report += String(format: "; exact match %.1f%% of %d answers", 100 * Double(correct) / Double(scored), scored) }
        if let store { report += "; memory \(store.sketches.count) sketches, \(store.fileBytes) bytes" }
        FileHandle.standardError.write(Data((report + "\n").utf8))
    }
}

/// One turn of a session file.
struct RuleTurnLine {
    var examples: [RulePair]
    var queries: [[UInt8]]
    var expected: [String]?

    init(_ line: String, number: Int, model m: RuleModel) throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw CLIError("turn \(number): not a JSON object")
        }
        let rawExamples = object["examples"] as? [[String]] ?? []
        if object["examples"] != nil && object["examples"] as? [[String]] == nil {
            throw CLIError("turn \(number): \"examples\" must be a list of [input, output] string pairs")
        }
        examples = try rawExamples.map { pair in
            guard pair.count == 2 else { throw CLIError("turn \(number): an example must be [input, output]") }
            return RulePair(input: try ruleBytes(pair[0], limit: m.maxInput, what: "turn \(number): the input"),
                            output: try ruleBytes(pair[1], limit: m.maxOutput, what: "turn \(number): the output"))
        }
        if object["queries"] != nil && object["queries"] as? [String] == nil {
            throw CLIError("turn \(number): \"queries\" must be a list of strings")
        }
        queries = try (object["queries"] as? [String] ?? []).map { try ruleBytes($0, limit: m.maxInput, what: "turn \(number): the query") }
        expected = object["expected"] as? [String]
        guard !examples.isEmpty || !queries.isEmpty else { throw CLIError("turn \(number): neither examples nor queries") }
    }
}

/// Lines of a file handle, read in chunks (a session may be long).
struct LineReader: Sequence, IteratorProtocol {
    let handle: FileHandle
    var buffer = Data()
    var done = false

    init(_ handle: FileHandle) { self.handle = handle }

    mutating func next() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<i]
                buffer = buffer[(i + 1)...]
                return String(decoding: line, as: UTF8.self)
            }
            if done {
                guard !buffer.isEmpty else { return nil }
                defer { buffer = Data() }
                return String(decoding: buffer, as: UTF8.self)
            }
            let chunk = handle.readData(ofLength: 1 << 16)
            if chunk.isEmpty { done = true } else { buffer += chunk }
        }
    }
}
