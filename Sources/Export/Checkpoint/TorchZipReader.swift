import Foundation

/// Reads the state_dict of a torch.save zip archive (`<prefix>/data.pkl`, `<prefix>/data/<key>`,
/// `<prefix>/byteorder`, `<prefix>/version`).
///
/// Which dict is the state_dict: the top-level object must be a dict. Its string-keyed tensor
/// values are the state_dict. When it holds no tensor at all (a training checkpoint such as
/// `{"model": ..., "optimizer": ..., "step": ...}`), the first of `nestedKeys` that names a dict
/// holding tensors is used instead. Entries whose value is not a tensor (counters, extra state)
/// are skipped.
enum TorchZipReader {
    static let nestedKeys = ["state_dict", "model_state_dict", "model", "module", "ema", "net"]

    static func load(_ file: MappedFile) throws -> StateDict {
        let path = file.path
        let archive = try ZipArchive(file: file)

        guard let pickle = archive.members.first(where: { isPickleName($0.name) }) else {
            let names = archive.members.prefix(8).map(\.name).joined(separator: ", ")
            throw CheckpointError.unrecognizedFormat(file: path, reason: "zip archive without a '<prefix>/data.pkl' member (members: \(names)\(archive.members.count > 8 ? ", ..." : ""))")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if archive.members.contains(where: { $0.name.hasPrefix(prefix + "code/") }) {
            throw CheckpointError.unrecognizedFormat(file: path, reason: "this is a TorchScript archive (torch.jit.save), not a state_dict saved with torch.save")
        }

        try checkByteOrder(archive, prefix: prefix)

        let pickleBytes = try archive.bytes(of: pickle)
        try verifyChecksum(pickle, pickleBytes, path: path)
        var machine = PickleMachine(data: pickleBytes, file: path, member: pickle.name)
        let top = try withExtendedLifetime(file) { try machine.run() }
        let entries = try stateDictEntries(top, machine: machine, path: path)

        var tensors: [CheckpointTensor] = []
        tensors.reserveCapacity(entries.count)
        for (name, described) in entries {
            tensors.append(try makeTensor(name, described, archive: archive, prefix: prefix))
        }
        return StateDict(path: path, tensors: tensors)
    }

    private static func isPickleName(_ name: String) -> Bool {
        guard name.hasSuffix("data.pkl") else { return false }
        let prefix = name.dropLast("data.pkl".count)
        if prefix.isEmpty { return true }
        return prefix.hasSuffix("/") && !prefix.dropLast().contains("/")
    }

    /// torch.save records the writer's byte order; archives from before that record existed are
    /// read as little-endian, as torch.load does on little-endian hosts.
    private static func checkByteOrder(_ archive: ZipArchive, prefix: String) throws {
        guard let member = archive[prefix + "byteorder"] else { return }
        let bytes = try archive.bytes(of: member)
        try verifyChecksum(member, bytes, path: archive.file.path)
        let text = withExtendedLifetime(archive.file) {
            String(decoding: bytes.buffer.prefix(64), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard text == "little" else {
            throw CheckpointError.unsupportedByteOrder(file: archive.file.path, member: member.name, found: text)
        }
    }

    /// torch.save may skip CRCs (`compute_crc32 = False` writes 0); a non-zero one is checked.
    private static func verifyChecksum(_ member: ZipMember, _ bytes: ByteView, path: String) throws {
        guard member.crc32 != 0 else { return }
        let actual = CRC32.checksum(bytes)
        guard actual == member.crc32 else {
            throw CheckpointError.corruptArchive(file: path, offset: member.dataOffset, reason: "member '\(member.name)' fails its CRC-32 check (stored \(hex(member.crc32)), computed \(hex(actual))): the data is damaged")
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    private static func tensorEntries(of dict: PickleNode, machine: PickleMachine) -> [(String, PickleTensor)] {
        var found: [(String, PickleTensor)] = []
        for (key, value) in zip(dict.keys, dict.values) {
            guard case let .string(name) = key, case let .node(id) = value,
                  case let .tensor(tensor) = machine.nodes[id].kind else { continue }
            found.append((name, tensor))
        }
        return found
    }

    private static func stateDictEntries(_ top: PickleValue, machine: PickleMachine, path: String) throws -> [(String, PickleTensor)] {
        guard case let .node(id) = top, case .dict = machine.nodes[id].kind else {
            throw CheckpointError.notAStateDict(file: path, reason: "the pickled object is a \(machine.describe(top)), expected a dict of tensors")
        }
        let dict = machine.nodes[id]
        let direct = tensorEntries(of: dict, machine: machine)
        if !direct.isEmpty { return direct }
        for key in nestedKeys {
            guard let index = dict.keyIndex[.string(key)], case let .node(nested) = dict.values[index],
                  case .dict = machine.nodes[nested].kind else { continue }
            let entries = tensorEntries(of: machine.nodes[nested], machine: machine)
            if !entries.isEmpty { return entries }
        }
        let keys = dict.keys.prefix(10).map { key -> String in
            if case let .string(s) = key { return "'\(s)'" }
            return machine.describe(key)
        }
        throw CheckpointError.notAStateDict(file: path, reason: "the top-level dict holds no tensors and none of \(nestedKeys.map { "'\($0)'" }.joined(separator: ", ")) names a dict of tensors (keys: \(keys.joined(separator: ", "))\(dict.keys.count > 10 ? ", ..." : ""))")
    }

    private static func makeTensor(_ name: String, _ described: PickleTensor, archive: ZipArchive, prefix: String) throws -> CheckpointTensor {
        let path = archive.file.path
        let storage = described.storage
        guard let dtype = described.dtype else {
            throw CheckpointError.invalidTensor(file: path, tensor: name, reason: "dtype \(described.dtypeName) is not supported (Recur reads \(TensorDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let memberName = prefix + "data/" + storage.key
        guard let member = archive[memberName] else {
            throw CheckpointError.missingMember(file: path, member: memberName, reason: "it holds the storage of tensor '\(name)'")
        }
        let bytes = try archive.bytes(of: member)
        let storageElementSize = storage.isUntyped ? 1 : dtype.byteSize
        let (declaredBytes, overflow) = storage.elementCount.multipliedReportingOverflow(by: storageElementSize)
        guard !overflow, declaredBytes <= bytes.count else {
            throw CheckpointError.invalidTensor(file: path, tensor: name, reason: "its storage '\(memberName)' holds \(bytes.count) bytes, but data.pkl declares \(storage.elementCount) elements of \(storage.className) (\(storageElementSize) bytes each)")
        }
        let elements = declaredBytes / dtype.byteSize
        try CheckpointTensor.validate(file: path, name: name, dtype: dtype, shape: described.shape,
                                      strides: described.strides, storageOffset: described.storageOffset,
                                      storageElementCount: elements)
        return CheckpointTensor(unchecked: name, dtype: dtype, shape: described.shape, strides: described.strides,
                                storageOffset: described.storageOffset, storageElementCount: elements, file: path,
                                storage: .mapped(archive.file, byteOffset: member.dataOffset, byteCount: elements * dtype.byteSize))
    }
}
