import Foundation

/// Files shipped in the checkout (`models/...`), looked up from the working folder and then from
/// the executable's folders upwards (a build inside a checkout).
enum ShippedFile {
    static func locate(_ relative: String) -> String? {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.map { $0.appendingPathComponent(relative).path }.first { fm.fileExists(atPath: $0) }
    }
}

/// The models `recur` uses when none is named: the Sudoku TRM for `solve`, the recursive
/// language model for `generate` and `chat`, the rule-latent model for `rules`.
enum DefaultModel {
    static let fileName = "trm-sudoku-att-q8_0.gguf"
    static let languageFileName = "rlm-kjv-q8_0.gguf"
    static let rulesFileName = "uzr-rules-f32.gguf"

    static func path(_ name: String = fileName) throws -> String {
        guard let file = ShippedFile.locate("models/\(name)") else {
            throw CLIError("no model given and models/\(name) was not found from the current folder or the recur binary; pass --model FILE.gguf")
        }
        return file
    }
}

/// A message for the user; the CLI prints it and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
