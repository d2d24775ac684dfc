import ArgumentParser
import Foundation
import Runtime
import Tasks

struct Solve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Solve Sudoku puzzles with a TRM/HRM model, halting each puzzle with the Q-head.")

    enum HeadChoice: String, ExpressibleByArgument, CaseIterable { case auto, official }
    enum Format: String, ExpressibleByArgument, CaseIterable { case text, jsonl }

    @Option(name: .long, help: "GGUF model (default: models/\(DefaultModel.fileName)).")
    var model: String?

    @Option(name: .long, help: "Puzzle file, one 'PUZZLE' or 'PUZZLE SOLUTION' per line ('.' or '0' blank); '-' reads stdin.")
    var input: String?

    @Option(name: .long, help: "Puzzles computed at once (continuous batching).")
    var batch: Int = 16

    @Option(name: .long, help: "CPU threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var halting: HaltingOptions

    @Option(name: .long, help: "Q-head: auto (the model file's attached head if it has one, else the official) or official.")
    var qhead: HeadChoice = .auto

    @Option(name: .long, help: "Take the attached Q-head from another GGUF file (e.g. one written by 'recur export --from-gguf').")
    var qheadFrom: String?

    @Option(name: .long, help: "Only the first N puzzles.")
    var limit: Int?

    @Option(name: .long, help: "Output: text (grids) or jsonl (one object per puzzle, with every step's q logits).")
    var format: Format = .text

    @Flag(name: .long, help: "Score against the listed solutions: valid by the rules, exact match, token accuracy.")
    var check = false

    @Flag(name: .long, help: "With --format jsonl, add the predicted grid of every ACT step ('step_predictions').")
    var trace = false

    @Flag(name: .long, help: "Print where the ACT steps spent their time, per operation (to stderr).")
    var profile = false

    @Option(name: .long, help: "Attention dot products: f32 (the reference) or bf16 (CPUs with AVX-512 BF16; faster, moves results slightly).")
    var attention: AttentionPrecision = .f32

    @Flag(name: .customLong("check-tensors"), help: "Look through every tensor for NaN and infinity before running (as llama.cpp's --check-tensors).")
    var checkTensors = false

    func run() throws {
        if attention == .bf16 && !AttentionPrecision.bf16Available {
            throw CLIError("--attention bf16 needs a CPU with AVX-512 BF16 and the avx512 or amx tier")
        }
        guard let input else { throw CLIError("pass --input FILE (or '-' for stdin) with one puzzle per line") }
        let text: String
        if input == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let data = FileManager.default.contents(atPath: input) else { throw CLIError("\(input): cannot read the file") }
            text = String(decoding: data, as: UTF8.self)
        }
        let lines = try SudokuLine.parseFile(text, name: input == "-" ? "stdin" : input, limit: limit.map { Swift.max($0, 0) })
        guard !lines.isEmpty else { throw CLIError("\(input): no puzzles found") }
        if check, let missing = lines.firstIndex(where: { $0.solution == nil }) {
            throw CLIError("--check needs a solution on every line; puzzle \(missing + 1) has none")
        }

        let modelPath = try model ?? DefaultModel.path()
        let loadStart = Date()
        let session = try Session(path: modelPath, threads: threads, checkTensors: checkTensors)
        let net = try session.puzzleModel()
        guard net.config.seqLen == Sudoku.cellCount else {
            throw CLIError("\(modelPath): the model takes \(net.config.seqLen) tokens per input, not the 81 cells of a Sudoku")
        }
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let policy = try halting.policy()
        var selection: QHeadSelection = qhead == .official ? .official : .model
        if let qheadFrom {
            guard let head = try QHeadLoader.load(file: GGUFFile(path: qheadFrom), hidden: net.config.hiddenSize) else {
                throw CLIError("\(qheadFrom): no attached Q-head (metadata '\(QHeadLayout.kindKey)')")
            }
            selection = .custom(head)
        }
        // A batch larger than the input only costs memory: the slots past the last puzzle stay empty.
        let runner = try session.solver(batch: Swift.min(batch, lines.count), policy: policy, maxSteps: halting.maxSteps, qhead: selection)
        runner.recordEveryStep = trace
        if profile { runner.profile = OpProfile() }
        runner.attentionPrecision = attention
        let inputs = lines.map { ModelInput(tokens: $0.puzzle.tokens) }

        var score = Score()
        var pending: [Int: ModelOutput] = [:]
        var nextToPrint = 0
        let start = Date()
        try runner.run(inputs) { out in
            pending[out.index] = out
            while let ready = pending.removeValue(forKey: nextToPrint) {
                try report(ready, line: lines[ready.index], score: &score)
                nextToPrint += 1
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let summary = score.summary(seconds: seconds, loadSeconds: loadSeconds, runner: runner, check: check)
        if format == .jsonl {
            FileHandle.standardError.write(Data((summary + "\n").utf8))
        } else {
            print(summary)
        }
        if let table = runner.profile?.table(peak: MachinePeak.int8GOPS(threads: threads)) {
            FileHandle.standardError.write(Data(("time per operation over all steps:\n" + table + "\n").utf8))
        }
    }

    private func report(_ out: ModelOutput, line: SudokuLine, score: inout Score) throws {
        let solved = Sudoku(prediction: out.prediction)
        let valid = solved.solves(line.puzzle)
        let exact = line.solution.map { $0 == solved }
        let accuracy = line.solution.map { s in Double(zip(s.cells, solved.cells).filter { $0 == $1 }.count) / Double(Sudoku.cellCount) }
        score.add(steps: out.steps, valid: valid, exact: exact, tokenAccuracy: accuracy)
        switch format {
        case .jsonl:
            var object: [String: Any] = [
                "index": out.index + 1, "puzzle": line.puzzle.string, "prediction": solved.string,
                "steps": out.steps, "valid": valid, "q_halt": out.qHalt.map(Double.init), "q_continue": out.qContinue.map(Double.init),
            ]
            if trace { object["step_predictions"] = out.stepPredictions.map { Sudoku(prediction: $0).string } }
            if let exact { object["exact"] = exact }
            if let accuracy { object["token_accuracy"] = accuracy }
            do {
                print(try JSONOutput.line(object))
            } catch {
                throw CLIError("puzzle \(out.index + 1): cannot write its JSON line: \(error)")
            }
        case .text:
            var verdict = valid ? "valid solution" : "not a valid solution"
            if let exact { verdict += exact ? ", matches the listed solution" : ", differs from the listed solution" }
            print("puzzle \(out.index + 1): \(out.steps) ACT steps, \(verdict)")
            print(solved.grid)
            print("")
        }
    }
}

/// Running totals for `--check` and the closing summary.
struct Score {
    var count = 0, valid = 0, exact = 0, steps = 0
    var tokenAccuracy = 0.0

    mutating func add(steps: Int, valid: Bool, exact: Bool?, tokenAccuracy: Double?) {
        count += 1
        self.steps += steps
        if valid { self.valid += 1 }
        if exact == true { self.exact += 1 }
        self.tokenAccuracy += tokenAccuracy ?? 0
    }

    func summary(seconds: Double, loadSeconds: Double, runner: ACTRunner, check: Bool) -> String {
        func pct(_ n: Int) -> String { String(format: "%.1f%%", 100 * Double(n) / Double(Swift.max(count, 1))) }
        var s = "\(count) puzzles: valid \(valid) (\(pct(valid)))"
        if check {
            s += String(format: ", exact %d (%@), token accuracy %.2f%%", exact, pct(exact), 100 * tokenAccuracy / Double(Swift.max(count, 1)))
        }
        s += String(format: ", mean ACT steps %.2f\n", Double(steps) / Double(Swift.max(count, 1)))
        let sorted = runner.stepDurations.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        s += String(format: "time %.2f s (model load %.2f s), %.2f puzzles/s, %.1f ms per ACT step (median of %d, batch <= %d, %d threads)",
                    seconds, loadSeconds, Double(count) / Swift.max(seconds, 1e-9),
                    1000 * median, sorted.count, runner.batchSize, runner.threads)
        s += "\nQ-head: \(runner.head.summary), \(runner.head.byteSize) bytes"
        if runner.headDecisions > 0 {
            s += String(format: ", %.0f ns per decision", 1e9 * runner.headSeconds / Double(runner.headDecisions))
        }
        if let rss = ProcessMemory.residentBytes(), let peak = ProcessMemory.peakResidentBytes() {
            s += String(format: "\nmemory: %.1f MiB resident, %.1f MiB peak", Double(rss) / 1048576, Double(peak) / 1048576)
        }
        return s
    }
}

extension AttentionPrecision: ExpressibleByArgument {}
