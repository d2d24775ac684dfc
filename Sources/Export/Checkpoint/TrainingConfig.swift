import Foundation
import Yams

/// The `all_config.yaml` that official TRM/HRM training writes beside each checkpoint.
public struct TrainingConfig: Sendable {
    public let path: String
    public let root: [String: ConfigValue]

    public init(path: String, root: [String: ConfigValue]) {
        self.path = path
        self.root = root
    }

    /// The model hyper-parameters (`hidden_size`, `H_cycles`, ...); empty when the file has none.
    public var arch: [String: ConfigValue] {
        root["arch"]?.map ?? [:]
    }

    public static func load(_ path: String) throws -> TrainingConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError.unreadable(file: path, reason: error.localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CheckpointError.invalidConfig(file: path, reason: "the file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses YAML text; `path` only labels errors.
    public static func parse(_ text: String, path: String = "<string>") throws -> TrainingConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw CheckpointError.invalidConfig(file: path, reason: "YAML syntax: \(error)")
        }
        guard let node else { return TrainingConfig(path: path, root: [:]) }
        let value = try YAMLValueBuilder(path: path).value(node, depth: 0)
        guard case let .map(root) = value else {
            throw CheckpointError.invalidConfig(file: path, reason: "the top level is not a mapping")
        }
        return TrainingConfig(path: path, root: root)
    }
}
