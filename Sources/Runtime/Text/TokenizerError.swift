/// Why a GGUF file's tokenizer cannot be used. The message names the file and the metadata key,
/// since that is what someone with `gguf-dump` open needs to look at.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// The metadata key at fault.
    public let key: String
    public let message: String

    public var description: String { "\(path): \(key): \(message)" }

    static func missing(_ path: String, _ key: String, _ what: String) -> TokenizerError {
        TokenizerError(path: path, key: key, message: "missing; \(what)")
    }

    static func wrongType(_ path: String, _ key: String, found: GGUFValue, expected: String) -> TokenizerError {
        TokenizerError(path: path, key: key, message: "is \(Self.typeName(found)), expected \(expected)")
    }

    static func typeName(_ value: GGUFValue) -> String {
        if case .array(let items) = value {
            return "an array of \(items.first.map { $0.valueType.name } ?? "nothing")"
        }
        return "a \(value.valueType.name)"
    }
}
