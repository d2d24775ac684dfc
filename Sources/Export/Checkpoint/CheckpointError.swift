/// Why a checkpoint or training config could not be read.
///
/// Every case carries the file and the most precise location known (archive member, tensor name,
/// byte offset) so that a user holding a broken or hostile file can see where it went wrong without
/// a debugger; loading never traps on bad input.
public enum CheckpointError: Error, CustomStringConvertible, Sendable {
    /// The file could not be opened or mapped.
    case unreadable(file: String, reason: String)
    /// The file is neither a PyTorch zip checkpoint nor a safetensors file.
    case unrecognizedFormat(file: String, reason: String)
    /// The zip container is damaged at `offset` (bytes from the start of the file).
    case corruptArchive(file: String, offset: Int, reason: String)
    /// A member the checkpoint refers to is absent from the archive.
    case missingMember(file: String, member: String, reason: String)
    /// A member exists but is stored in a way this reader does not handle (compression, encryption).
    case unsupportedMember(file: String, member: String, reason: String)
    /// `data.pkl` is malformed at `offset` (bytes from the start of the member).
    case malformedPickle(file: String, member: String, offset: Int, reason: String)
    /// `data.pkl` names a global that a state_dict never needs; refusing it is what keeps loading
    /// free of code execution.
    case forbiddenGlobal(file: String, member: String, offset: Int, global: String)
    /// The pickle is well formed but does not describe a state_dict.
    case notAStateDict(file: String, reason: String)
    /// A tensor's description is inconsistent with its storage or uses an unsupported dtype.
    case invalidTensor(file: String, tensor: String, reason: String)
    /// The checkpoint was written on a big-endian machine (or says so); only little-endian is read.
    case unsupportedByteOrder(file: String, member: String, found: String)
    /// A safetensors header or data region is malformed at `offset` (bytes from the start of the file).
    case malformedSafetensors(file: String, offset: Int, reason: String)
    /// A training config (YAML) could not be parsed or holds something that is not plain data.
    case invalidConfig(file: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file: \(reason)"
        case let .unrecognizedFormat(file, reason):
            return "\(file): not a checkpoint Recur can read (expected a PyTorch zip checkpoint written by torch.save, or a safetensors file): \(reason)"
        case let .corruptArchive(file, offset, reason):
            return "\(file): corrupt zip archive at byte offset \(offset): \(reason)"
        case let .missingMember(file, member, reason):
            return "\(file): archive member '\(member)' is missing: \(reason)"
        case let .unsupportedMember(file, member, reason):
            return "\(file): archive member '\(member)': \(reason)"
        case let .malformedPickle(file, member, offset, reason):
            return "\(file): \(member) at byte offset \(offset): \(reason)"
        case let .forbiddenGlobal(file, member, offset, global):
            return "\(file): \(member) at byte offset \(offset): refusing to load global \(global): loading a model must never run code (a state_dict only needs torch tensor/storage rebuild functions and collections.OrderedDict)"
        case let .notAStateDict(file, reason):
            return "\(file): not a state_dict: \(reason)"
        case let .invalidTensor(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        case let .unsupportedByteOrder(file, member, found):
            return "\(file): \(member) says the tensors are stored '\(found)'; only 'little' (little-endian) checkpoints are supported"
        case let .malformedSafetensors(file, offset, reason):
            return "\(file): malformed safetensors file at byte offset \(offset): \(reason)"
        case let .invalidConfig(file, reason):
            return "\(file): invalid training config: \(reason)"
        }
    }
}
