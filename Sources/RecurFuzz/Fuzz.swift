// Coverage-guided fuzz targets (libFuzzer) for every input format Recur reads. Built only by
// scripts/fuzz.sh, with `-sanitize=fuzzer` and AddressSanitizer; its entry point hands over to
// libFuzzer's driver. An ordinary build gets an entry point that says so.
//
// One binary holds every target; RECUR_FUZZ_TARGET picks it:
//   gguf         GGUF files: the parser, then what loading reads from them (family description,
//                tokenizer metadata, chat template)
//   checkpoint   PyTorch zip checkpoints (zip reader, unpickler) and safetensors files
//   yaml         all_config.yaml typing
//   puzzles      puzzle-line files
//   template     chat templates (parse and render)
//   http         request bodies of the server's endpoints
import Foundation
@testable import Export
@testable import Runtime
@testable import Serve
import Tasks

#if FUZZING

/// The target this process fuzzes, and a scratch file for the readers that take a path.
private enum Fuzz {
    nonisolated(unsafe) static var target = ""
    static let scratch: String = {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return "\(dir)/recur-fuzz-\(getpid())"
    }()

    static let targets = ["gguf", "checkpoint", "yaml", "puzzles", "template", "http"]

    static func withFile(_ data: Data, _ body: (String) throws -> Void) {
        guard FileManager.default.createFile(atPath: scratch, contents: data) else { return }
        defer { unlink(scratch) }
        try? body(scratch)
    }

    static func run(_ data: Data) {
        switch target {
        case "gguf":
            withFile(data) { path in
                let file = try GGUFFile(path: path)
                _ = TensorCheck.run(file)
                if let description = try? ModelFamilies.describe(file) { _ = description.schedule.passes }
                if let tokenizer = try? Tokenizer(file: file) {
                    let ids = tokenizer.encode("Hello, world! 123 <|im_start|>", addSpecial: true, parseSpecial: true)
                    _ = tokenizer.decode(ids)
                }
                if let source = file.value("tokenizer.chat_template")?.string, let template = try? ChatTemplate(source: source) {
                    _ = try? template.render(messages: [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true)
                }
            }
        case "checkpoint":
            withFile(data) { path in
                let state = try StateDict.load(path)
                for tensor in state.tensors.prefix(16) where tensor.shape.reduce(1, *) <= 1 << 16 { _ = try? tensor.floats() }
            }
        case "yaml":
            _ = try? TrainingConfig.parse(String(decoding: data, as: UTF8.self))
        case "puzzles":
            if let lines = try? SudokuLine.parseFile(String(decoding: data, as: UTF8.self), name: "fuzz") {
                for line in lines { _ = try? line.puzzle.checkGivens() }
            }
        case "template":
            let text = String(decoding: data, as: UTF8.self)
            if let template = try? ChatTemplate(source: text) {
                let messages = [ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "u"), ChatMessage(role: "assistant", content: "a")]
                _ = try? template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
            }
        case "http":
            let decoder = JSONDecoder()
            if let chat = try? decoder.decode(ChatCompletionRequest.self, from: data) {
                _ = try? chat.fields.options(promptTokens: chat.messages.count, contextSize: 64)
            }
            if let completion = try? decoder.decode(CompletionRequest.self, from: data) {
                _ = try? completion.fields.options(promptTokens: 3, contextSize: 64)
            }
            if let solve = try? decoder.decode(SolveRequest.self, from: data) {
                for text in solve.puzzles.prefix(8) { _ = try? Sudoku(parsing: text[...]).checkGivens() }
            }
        default:
            break
        }
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let target = ProcessInfo.processInfo.environment["RECUR_FUZZ_TARGET"] ?? ""
    guard Fuzz.targets.contains(target) else {
        FileHandle.standardError.write(Data("set RECUR_FUZZ_TARGET to one of \(Fuzz.targets.joined(separator: ", "))\n".utf8))
        exit(2)
    }
    Fuzz.target = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    Fuzz.run(bytes.map { Data(bytes: $0, count: size) } ?? Data())
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The executable's entry point (SwiftPM links `main` to `<module>_main`): libFuzzer's driver.
@_cdecl("RecurFuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return runDriver(&argc, &argv) { fuzzOne($0, $1) }
}

#else

@main
enum RecurFuzzMain {
    static func main() {
        FileHandle.standardError.write(Data("recur-fuzz: this is the fuzz harness; build and run it with scripts/fuzz.sh\n".utf8))
        exit(2)
    }
}

#endif
