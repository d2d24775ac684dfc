import ArgumentParser
import Foundation
import Runtime

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a GGUF model's architecture, hyper-parameters and tensors.")

    @Argument(help: "The GGUF file.")
    var model: String

    func run() throws {
        let file = try GGUFFile(path: model)
        print("file: \(model)")
        print("gguf version \(file.version), alignment \(file.alignment), \(file.metadata.count) metadata keys, \(file.tensors.count) tensors")
        if let config = try? ModelConfig(gguf: file) {
            print("architecture: \(config.architecture.rawValue) (\(config.tokenMixer.rawValue), positions \(config.positionEncoding.rawValue), halting \(config.haltRule.rawValue))")
        }
        print("\nmetadata:")
        for (key, value) in file.metadata { print("  \(key) = \(render(value))") }
        print("\ntensors:")
        let width = file.tensors.map(\.name.count).max() ?? 0
        var total = 0
        for t in file.tensors {
            total += t.byteCount
            let name = t.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  \(name)  \(t.type.name.padding(toLength: 5, withPad: " ", startingAt: 0))  \(shape.padding(toLength: 14, withPad: " ", startingAt: 0))  \(formatBytes(t.byteCount))")
        }
        print("  total tensor data: \(formatBytes(total))")
    }

    private func render(_ v: GGUFValue) -> String {
        switch v {
        case let .string(s): return "\"\(s)\""
        case let .array(a): return "[" + a.prefix(8).map(render).joined(separator: ", ") + (a.count > 8 ? ", ... (\(a.count) items)" : "") + "]"
        case let .bool(b): return String(b)
        default:
            if let i = v.int { return String(i) }
            if let d = v.double { return String(d) }
            return "?"
        }
    }
}
