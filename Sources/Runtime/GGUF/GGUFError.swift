/// Everything that can be wrong with a GGUF file or a request to write one.
///
/// Each message names the file and the byte offset (or the tensor) and says what was expected,
/// because the person reading it usually has a hex dump or `gguf-dump` open next to it.
public enum GGUFError: Error, CustomStringConvertible, Sendable {
    /// The operating system refused to open, map, write or rename a file.
    case io(path: String, reason: String)
    /// The file ends before a field that the header says is there.
    case truncated(path: String, offset: Int, what: String, needed: Int, fileSize: Int)
    case badMagic(path: String, found: UInt32)
    case unsupportedVersion(path: String, version: UInt32)
    /// A header or metadata field holds a value no valid file can hold.
    case malformed(path: String, offset: Int, message: String)
    /// A tensor's description is inconsistent (shape, alignment, range, duplicate name).
    case badTensor(path: String, tensor: String, offset: Int, message: String)
    case unknownTensorType(path: String, tensor: String, id: UInt32, offset: Int)
    /// The tensor is valid but stored in a type this operation cannot decode.
    case unsupportedType(path: String, tensor: String, type: GGMLType, operation: String)
    case missingTensor(path: String, tensor: String)
    /// A writer was asked for something a GGUF file cannot represent.
    case invalidWrite(path: String?, message: String)

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .truncated(path, offset, what, needed, fileSize):
            return "\(path): truncated at byte offset \(offset): expected \(needed) bytes of \(what), "
                + "but the file is \(fileSize) bytes long"
        case let .badMagic(path, found):
            let hex = String(found, radix: 16)
            return "\(path): not a GGUF file: expected magic \"GGUF\" (0x46554747) at byte offset 0, found 0x\(hex)"
        case let .unsupportedVersion(path, version):
            let swapped = version.byteSwapped
            let hint = swapped == 2 || swapped == 3 ? "; this looks like a big-endian file, which Recur does not read" : ""
            return "\(path): unsupported GGUF version \(version) at byte offset 4 (expected 2 or 3)\(hint)"
        case let .malformed(path, offset, message):
            return "\(path): byte offset \(offset): \(message)"
        case let .badTensor(path, tensor, offset, message):
            return "\(path): tensor '\(tensor)' (described at byte offset \(offset)): \(message)"
        case let .unknownTensorType(path, tensor, id, offset):
            return "\(path): tensor '\(tensor)': unknown ggml type id \(id) at byte offset \(offset)"
        case let .unsupportedType(path, tensor, type, operation):
            return "\(path): tensor '\(tensor)' is stored as \(type.name), which \(operation) does not support "
                + "(supported: \(GGMLBlocks.decodableTypes.map(\.name).joined(separator: ", ")))"
        case let .missingTensor(path, tensor):
            return "\(path): no tensor named '\(tensor)'"
        case let .invalidWrite(path, message):
            return "\(path ?? "GGUF writer"): \(message)"
        }
    }
}

/// Why a block encoder or decoder refused its input; callers that know the tensor name wrap it.
public enum GGMLBlockError: Error, CustomStringConvertible, Sendable {
    case unsupported(type: GGMLType, operation: String)
    case notBlockMultiple(type: GGMLType, count: Int)
    case negativeCount(type: GGMLType, count: Int)
    case tooLarge(type: GGMLType, count: Int)
    case sizeMismatch(type: GGMLType, what: String, expected: Int, actual: Int)
    case partialBlock(type: GGMLType, byteCount: Int)

    public var description: String {
        switch self {
        case let .unsupported(type, operation):
            // Recur decodes more types than it encodes; name the list that applies.
            let types = operation == "encoded" ? GGMLBlocks.supportedTypes : GGMLBlocks.decodableTypes
            return "\(type.name) cannot be \(operation) (supported: \(types.map(\.name).joined(separator: ", ")))"
        case let .notBlockMultiple(type, count):
            return "\(type.name) stores blocks of \(type.blockSize) elements, but a row has \(count) elements"
        case let .negativeCount(type, count):
            return "\(type.name): element count \(count) is negative"
        case let .tooLarge(type, count):
            return "\(type.name): \(count) elements do not fit in memory"
        case let .sizeMismatch(type, what, expected, actual):
            return "\(type.name): expected \(expected) \(what), got \(actual)"
        case let .partialBlock(type, byteCount):
            return "\(type.name) data must be whole \(type.blockBytes)-byte blocks, got \(byteCount) bytes"
        }
    }
}
