import ArgumentParser
import Bench
import Dispatch
import Foundation
import Runtime
import Tasks

/// What the bench commands share: locating shipped files, Ctrl-C, progress, model variants.
enum BenchSupport {
    static func puzzles(_ input: String?, limit: Int?) throws -> (path: String, lines: [SudokuLine]) {
        guard let path = input ?? ShippedFile.locate("models/sudoku-samples.txt") else {
            throw CLIError("no puzzles given and models/sudoku-samples.txt was not found; pass --input FILE")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot read the file") }
        let lines = try SudokuLine.parseFile(String(decoding: data, as: UTF8.self), name: path, limit: limit.map { max($0, 0) })
        guard !lines.isEmpty else { throw CLIError("\(path): no puzzles found") }
        return (path, lines)
    }

    /// Ctrl-C sets the flag (the run stops at the next puzzle and keeps what finished);
    /// a second Ctrl-C exits at once.
    static func installInterruptHandler() -> StopFlag {
        let flag = StopFlag()
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler {
            if flag.isSet { exit(130) }
            flag.set()
            FileHandle.standardError.write(Data("\ninterrupted: finishing the current puzzle, keeping what was measured (Ctrl-C again to quit now)\n".utf8))
        }
        source.resume()
        interruptSource = source
        return flag
    }

    nonisolated(unsafe) private static var interruptSource: DispatchSourceSignal?

    static let stderrIsTerminal = isatty(STDERR_FILENO) != 0

    /// One overwritten status line on a terminal; nothing when stderr is a file or pipe.
    static func progress(_ text: String) {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
    }

    static func endProgress() {
        guard stderrIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(width - s.count, 0))
        return right ? fill + s : s + fill
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    static func parseTypes(_ list: [String]) throws -> [GGMLType] {
        try list.flatMap { $0.split(separator: ",") }.map { name in
            guard let t = GGMLType(name: String(name).uppercased()) ?? GGMLType(name: String(name)), Requantizer.supportedTypes.contains(t) else {
                throw CLIError("--types: unknown type '\(name)'; use \(Requantizer.supportedTypes.map { $0.name.lowercased() }.joined(separator: ","))")
            }
            return t
        }
    }

    static func parseInts(_ list: [String], option: String) throws -> [Int] {
        try list.flatMap { $0.split(separator: ",") }.map {
            guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v >= 1 else { throw CLIError("\(option): '\($0)' is not a positive integer") }
            return v
        }
    }

    struct Variant {
        var path: String
        var type: GGMLType
        var sha256: String
        var derived: Bool
    }

    /// The files to measure: the given models, plus for each requested type none of them has, a
    /// re-encoding of the first F32/F16 model written into `temp`.
    static func variants(models: [String], types: [GGMLType], temp: URL) throws -> [Variant] {
        var given: [(String, GGMLType)] = []
        for path in models {
            given.append((path, Requantizer.weightType(of: try GGUFFile(path: path))))
        }
        var out: [Variant] = []
        func add(_ path: String, _ type: GGMLType, derived: Bool) throws {
            out.append(Variant(path: path, type: type, sha256: try SHA256.hex(file: path), derived: derived))
        }
        if types.isEmpty {
            for (p, t) in given { try add(p, t, derived: false) }
            return out
        }
        for type in types {
            if let (p, t) = given.first(where: { $0.1 == type }) {
                try add(p, t, derived: false)
                continue
            }
            guard let (source, _) = given.first(where: { [.f32, .f16, .bf16].contains($0.1) }) else {
                throw CLIError("--types \(type.name): none of the models is \(type.name), and none is F32/F16 to quantize from; pass its file with another --model")
            }
            try FileManager.default.createDirectory(at: temp, withIntermediateDirectories: true)
            let out = temp.appendingPathComponent("\(URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent)-\(type.name.lowercased()).gguf").path
            note("quantizing \(source) to \(type.name) (temporary file)")
            try Requantizer.requantize(source, to: type, output: out)
            try add(out, type, derived: true)
        }
        return out
    }

    static func store(_ run: BenchRun, history: String?) {
        let path = history ?? HistoryStore.defaultPath
        do {
            let id = try HistoryStore(path: path).insert(run)
            note("stored as run \(id) in \(path)\(run.interrupted ? " (marked interrupted)" : "")")
        } catch {
            note("error: could not store the run: \(error)")
        }
    }

    static func writeJSON(_ run: BenchRun, to path: String) throws {
        let encoder = JSONOutput.encoder(pretty: true)
        do { try encoder.encode(run).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CLIError("\(path): cannot write the JSON figures: \(error.localizedDescription)")
        }
    }
}

/// Where a bench run's figures go besides the terminal: `--json FILE` and the history database.
struct BenchRecording: ParsableArguments {
    @Option(name: .long, help: "Also write the figures as JSON to this file.")
    var json: String?
    @Option(name: .long, help: "History database (default: $RECUR_BENCH_DB or ~/.local/share/recur/bench.sqlite).")
    var history: String?

    func record(_ run: BenchRun) throws {
        if let json { try BenchSupport.writeJSON(run, to: json) }
        BenchSupport.store(run, history: history)
    }
}
