import Foundation

/// The named tensors of a checkpoint, in file order.
public struct StateDict: Sendable {
    public let path: String
    public let tensors: [CheckpointTensor]
    /// Safetensors `__metadata__`; empty for torch.save archives.
    public let metadata: [String: String]
    private let index: [String: Int]

    public init(path: String, tensors: [CheckpointTensor], metadata: [String: String] = [:]) {
        self.path = path
        self.tensors = tensors
        self.metadata = metadata
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() where index[tensor.name] == nil { index[tensor.name] = i }
        self.index = index
    }

    public subscript(name: String) -> CheckpointTensor? {
        index[name].map { tensors[$0] }
    }

    public var names: [String] { tensors.map(\.name) }

    /// Loads a PyTorch zip checkpoint (torch.save, zip format) or a safetensors file, chosen by the
    /// file's leading bytes rather than its extension (official TRM checkpoints have none).
    public static func load(_ path: String) throws -> StateDict {
        let file = try MappedFile(path: path)
        let bytes = file.bytes
        return try withExtendedLifetime(file) {
            if bytes.count == 0 {
                throw CheckpointError.unrecognizedFormat(file: path, reason: "the file is empty")
            }
            if bytes.startsWith([0x50, 0x4B, 0x03, 0x04]) || bytes.startsWith([0x50, 0x4B, 0x05, 0x06]) {
                return try TorchZipReader.load(file)
            }
            if SafetensorsReader.sniff(bytes) {
                return try SafetensorsReader.load(file)
            }
            if bytes.startsWith([0x80]), let protocolVersion = bytes.u8(1), protocolVersion <= 5 {
                throw CheckpointError.unrecognizedFormat(file: path, reason: "a bare pickle: the legacy (before PyTorch 1.6) torch.save format or pickle.dump output; re-save it with torch.save(state_dict, path) from PyTorch 1.6 or later")
            }
            if bytes.startsWith(Array("GGUF".utf8)) {
                throw CheckpointError.unrecognizedFormat(file: path, reason: "this is a GGUF file (an exported model), not a training checkpoint")
            }
            let lead = (0 ..< min(8, bytes.count)).map { String(format: "%02x", bytes.u8($0) ?? 0) }.joined(separator: " ")
            throw CheckpointError.unrecognizedFormat(file: path, reason: "leading bytes \(lead) match neither a zip archive (50 4b 03 04) nor a safetensors header")
        }
    }
}
