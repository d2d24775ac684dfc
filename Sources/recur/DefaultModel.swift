import Foundation

/// Finds the model `recur` uses when none is named: the shipped file in `models/`, looked up from
/// the working directory and then from the executable's folders upwards (a build inside a checkout).
enum DefaultModel {
    static let fileName = "trm-sudoku-att-f16.gguf"

    static func path() throws -> String {
        let fm = FileManager.default
        var candidates = [URL(fileURLWithPath: fm.currentDirectoryPath)]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir)
            dir = dir.deletingLastPathComponent()
        }
        for base in candidates {
            let file = base.appendingPathComponent("models").appendingPathComponent(fileName).path
            if fm.fileExists(atPath: file) { return file }
        }
        throw CLIError("no model given and models/\(fileName) was not found from the current folder or the recur binary; pass --model FILE.gguf")
    }
}

/// A message for the user; the CLI prints it and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
