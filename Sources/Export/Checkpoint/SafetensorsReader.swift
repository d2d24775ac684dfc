import Foundation

/// Reads a safetensors file: an 8-byte little-endian header length, a JSON header mapping each
/// tensor name to `dtype`, `shape` and `data_offsets` (relative to the end of the header), and the
/// data. Every offset is checked against the data region before a tensor is made.
///
/// Tensors are listed in the order of their data in the file (JSON object order is not kept by
/// the parser, and the data order is what the writer chose).
enum SafetensorsReader {
    /// The header limit of the reference implementation; a larger length is a corrupt or foreign file.
    static let maxHeaderBytes = 100_000_000

    /// True when the file looks like safetensors (used by `StateDict.load` to pick a reader).
    static func sniff(_ bytes: ByteView) -> Bool {
        guard let length = bytes.u64(0), length >= 2, length <= UInt64(bytes.count - 8) else { return false }
        return bytes.u8(8) == UInt8(ascii: "{")
    }

    static func load(_ file: MappedFile) throws -> StateDict {
        let path = file.path
        let bytes = file.bytes
        func bad(_ offset: Int, _ reason: String) -> CheckpointError {
            .malformedSafetensors(file: path, offset: offset, reason: reason)
        }
        guard let rawLength = bytes.u64(0) else {
            throw bad(0, "the file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        guard rawLength <= UInt64(maxHeaderBytes), Int(rawLength) <= bytes.count - 8 else {
            throw bad(0, "header length \(rawLength) exceeds the file (\(bytes.count) bytes) or the \(maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(rawLength)
        let dataStart = 8 + headerLength
        let dataLength = bytes.count - dataStart
        let headerData = withExtendedLifetime(file) { Data(bytes.buffer[8 ..< dataStart]) }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: headerData, options: [])
        } catch {
            throw bad(8, "the header is not valid JSON (\(error.localizedDescription))")
        }
        guard let header = parsed as? [String: Any] else {
            throw bad(8, "the header is not a JSON object")
        }

        var metadata: [String: String] = [:]
        if let rawMetadata = header["__metadata__"] {
            guard let map = rawMetadata as? [String: Any] else { throw bad(8, "__metadata__ is not an object") }
            for (key, value) in map {
                guard let text = value as? String else { throw bad(8, "__metadata__['\(key)'] is not a string") }
                metadata[key] = text
            }
        }

        var located: [(begin: Int, tensor: CheckpointTensor)] = []
        for (name, entry) in header where name != "__metadata__" {
            guard let fields = entry as? [String: Any] else { throw bad(8, "tensor '\(name)': entry is not an object") }
            guard let code = fields["dtype"] as? String else { throw bad(8, "tensor '\(name)': missing string 'dtype'") }
            guard let dtype = TensorDType(safetensorsCode: code) else {
                throw bad(8, "tensor '\(name)': dtype '\(code)' is not supported (expected one of \(TensorDType.allCases.map(\.safetensorsCode).joined(separator: ", ")))")
            }
            guard let shape = integers(fields["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw bad(8, "tensor '\(name)': 'shape' must be a list of non-negative integers")
            }
            guard let offsets = integers(fields["data_offsets"]), offsets.count == 2 else {
                throw bad(8, "tensor '\(name)': 'data_offsets' must be [begin, end]")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw bad(dataStart, "tensor '\(name)': data_offsets [\(begin), \(end)] do not lie within the data region (\(dataLength) bytes starting at byte \(dataStart))")
            }
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow else { throw bad(8, "tensor '\(name)': shape \(shape) is too large") }
                count = product
            }
            let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, end - begin == expected else {
                throw bad(dataStart + begin, "tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes, but shape \(shape) of \(code) needs \(count) x \(dtype.byteSize) bytes")
            }
            let tensor = CheckpointTensor(unchecked: name, dtype: dtype, shape: shape,
                                          strides: CheckpointTensor.rowMajorStrides(shape), storageOffset: 0,
                                          storageElementCount: count, file: path,
                                          storage: .mapped(file, byteOffset: dataStart + begin, byteCount: end - begin))
            located.append((begin, tensor))
        }
        located.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.tensor.name < $1.tensor.name }
        return StateDict(path: path, tensors: located.map(\.tensor), metadata: metadata)
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result: [Int] = []
        for item in list {
            // Non-integral and out-of-range numbers do not convert.
            guard let int = item as? Int else { return nil }
            result.append(int)
        }
        return result
    }
}
