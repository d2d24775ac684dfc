/// Parses and validates the header, metadata and tensor directory of a GGUF file.
///
/// Layout (all little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
/// the metadata pairs, the tensor infos, padding to the alignment, then the data section.
struct GGUFParser {
    struct Header {
        var version: UInt32
        var alignment: Int
        var metadata: [(key: String, value: GGUFValue)]
        var keyIndex: [String: Int]
        var tensors: [GGUFTensorInfo]
        var tensorIndex: [String: Int]
        var dataOffset: Int
    }

    /// Smallest possible encodings, used to refuse counts the file cannot hold.
    static let minimumPairSize = 8 + 4 + 1  // key length, value type, one-byte value
    static let minimumTensorInfoSize = 8 + 4 + 4 + 8  // name length, n_dims, type, offset

    private var cursor: GGUFCursor
    private let path: String

    init(bytes: UnsafeRawBufferPointer, path: String) {
        cursor = GGUFCursor(bytes: bytes, path: path)
        self.path = path
    }

    mutating func parse() throws -> Header {
        let magic = try cursor.u32("the GGUF magic")
        guard magic == GGUFFile.magic else { throw GGUFError.badMagic(path: path, found: magic) }
        let version = try cursor.u32("the GGUF version")
        // v1 used 32-bit counts and is long obsolete; v2 and v3 share this layout.
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
        let tensorCount = try cursor.count("tensor count", minimumSize: Self.minimumTensorInfoSize)
        let pairCount = try cursor.count("metadata pair count", minimumSize: Self.minimumPairSize)

        var metadata: [(key: String, value: GGUFValue)] = []
        var keyIndex: [String: Int] = [:]
        var keyOffsets: [Int] = []
        for _ in 0..<pairCount {
            let at = cursor.offset
            let key = try cursor.string("a metadata key")
            guard keyIndex[key] == nil else {
                throw GGUFError.malformed(path: path, offset: at, message: "duplicate metadata key '\(key)'")
            }
            let typeAt = cursor.offset
            let type = try valueType(what: "metadata '\(key)'")
            let value = try readValue(type, what: "metadata '\(key)'", depth: 0, typeOffset: typeAt)
            keyIndex[key] = metadata.count
            metadata.append((key, value))
            keyOffsets.append(at)
        }

        var alignment = GGUFFile.defaultAlignment
        if let i = keyIndex["general.alignment"] {
            let value = metadata[i].value
            guard case .uint32(let raw) = value, raw > 0, raw & (raw - 1) == 0 else {
                throw GGUFError.malformed(
                    path: path, offset: keyOffsets[i],
                    message: "general.alignment must be a UINT32 power of two, found \(value.valueType.name) \(value)")
            }
            alignment = Int(raw)
        }

        var pending: [(info: GGUFTensorInfo, at: Int)] = []
        var tensorIndex: [String: Int] = [:]
        for _ in 0..<tensorCount {
            let (info, at) = try readTensorInfo()
            guard tensorIndex[info.name] == nil else {
                throw GGUFError.badTensor(path: path, tensor: info.name, offset: at, message: "duplicate tensor name")
            }
            tensorIndex[info.name] = pending.count
            pending.append((info, at))
        }

        let headerEnd = cursor.offset
        let (padded, overflow) = headerEnd.addingReportingOverflow(alignment - 1)
        guard !overflow else {
            throw GGUFError.malformed(path: path, offset: headerEnd, message: "data section start overflows")
        }
        let dataOffset = padded - padded % alignment
        let fileSize = cursor.bytes.count
        if !pending.isEmpty && dataOffset > fileSize {
            throw GGUFError.truncated(
                path: path, offset: headerEnd, what: "padding before the data section",
                needed: dataOffset - headerEnd, fileSize: fileSize)
        }
        for (info, at) in pending {
            guard info.offset % alignment == 0 else {
                throw GGUFError.badTensor(
                    path: path, tensor: info.name, offset: at,
                    message: "data offset \(info.offset) is not a multiple of the alignment \(alignment)")
            }
            let available = fileSize - min(dataOffset, fileSize)
            guard info.offset <= available, info.byteCount <= available - info.offset else {
                throw GGUFError.badTensor(
                    path: path, tensor: info.name, offset: at,
                    message: "data at relative offset \(info.offset) (absolute \(dataOffset) + \(info.offset)) needs "
                        + "\(info.byteCount) bytes of \(info.type.name), but the data section holds \(available) bytes")
            }
        }
        // Two tensors may not share bytes: a type id or shape changed in the header (a Q4_1 tensor
        // marked Q8_0, say) would otherwise read into its neighbour's data and run on garbage.
        let ordered = pending.filter { $0.info.byteCount > 0 }.sorted { $0.info.offset < $1.info.offset }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where previous.info.offset + previous.info.byteCount > next.info.offset {
            throw GGUFError.badTensor(
                path: path, tensor: previous.info.name, offset: previous.at,
                message: "its \(previous.info.byteCount) bytes of \(previous.info.type.name) at relative offset \(previous.info.offset) "
                    + "overlap tensor '\(next.info.name)' at \(next.info.offset)")
        }
        return Header(
            version: version, alignment: alignment, metadata: metadata, keyIndex: keyIndex,
            tensors: pending.map(\.info), tensorIndex: tensorIndex, dataOffset: dataOffset)
    }

    private mutating func valueType(what: String) throws -> GGUFValueType {
        let at = cursor.offset
        let raw = try cursor.u32("the value type of \(what)")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw GGUFError.malformed(path: path, offset: at, message: "unknown value type id \(raw) for \(what) (expected 0...12)")
        }
        return type
    }

    private mutating func readValue(_ type: GGUFValueType, what: String, depth: Int, typeOffset: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try cursor.u8(what))
        case .int8: return .int8(Int8(bitPattern: try cursor.u8(what)))
        case .uint16: return .uint16(try cursor.load(UInt16.self, what))
        case .int16: return .int16(try cursor.load(Int16.self, what))
        case .uint32: return .uint32(try cursor.u32(what))
        case .int32: return .int32(try cursor.load(Int32.self, what))
        case .float32: return .float32(Float(bitPattern: try cursor.u32(what)))
        case .uint64: return .uint64(try cursor.u64(what))
        case .int64: return .int64(try cursor.load(Int64.self, what))
        case .float64: return .float64(Double(bitPattern: try cursor.u64(what)))
        case .bool:
            let at = cursor.offset
            let raw = try cursor.u8(what)
            guard raw <= 1 else {
                throw GGUFError.malformed(path: path, offset: at, message: "\(what) is a BOOL with byte \(raw) (expected 0 or 1)")
            }
            return .bool(raw == 1)
        case .string:
            return .string(try cursor.string(what))
        case .array:
            guard depth < GGUFFile.maximumArrayDepth else {
                throw GGUFError.malformed(
                    path: path, offset: typeOffset,
                    message: "\(what) nests arrays more than \(GGUFFile.maximumArrayDepth) deep")
            }
            let elementTypeAt = cursor.offset
            let elementType = try valueType(what: "the elements of \(what)")
            let count = try cursor.count("element count of \(what)", minimumSize: elementType.minimumEncodedSize)
            var items: [GGUFValue] = []
            items.reserveCapacity(count)
            for index in 0..<count {
                items.append(try readValue(elementType, what: "\(what)[\(index)]", depth: depth + 1, typeOffset: elementTypeAt))
            }
            return .array(items)
        }
    }

    private mutating func readTensorInfo() throws -> (GGUFTensorInfo, Int) {
        let at = cursor.offset
        let name = try cursor.string("a tensor name")
        let dimsAt = cursor.offset
        let dimCount = try cursor.u32("the dimension count of tensor '\(name)'")
        guard dimCount <= 4 else {
            throw GGUFError.badTensor(
                path: path, tensor: name, offset: at,
                message: "dimension count \(dimCount) at byte offset \(dimsAt) exceeds ggml's maximum of 4")
        }
        var ne: [Int] = []
        for axis in 0..<Int(dimCount) {
            let dimAt = cursor.offset
            let raw = try cursor.u64("dimension \(axis) of tensor '\(name)'")
            guard raw <= UInt64(Int.max) else {
                throw GGUFError.badTensor(
                    path: path, tensor: name, offset: at, message: "dimension \(axis) at byte offset \(dimAt) is \(raw), too large")
            }
            ne.append(Int(raw))
        }
        let typeAt = cursor.offset
        let rawType = try cursor.u32("the type of tensor '\(name)'")
        let offsetAt = cursor.offset
        let rawOffset = try cursor.u64("the data offset of tensor '\(name)'")
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError.unknownTensorType(path: path, tensor: name, id: rawType, offset: typeAt)
        }
        guard rawOffset <= UInt64(Int.max) else {
            throw GGUFError.badTensor(
                path: path, tensor: name, offset: at, message: "data offset \(rawOffset) at byte offset \(offsetAt) is too large")
        }
        let shape = Array(ne.reversed())
        switch GGUFTensorInfo.sizes(shape: shape, type: type) {
        case .failure(let problem):
            throw GGUFError.badTensor(path: path, tensor: name, offset: at, message: problem.message)
        case .success(let sizes):
            return (GGUFTensorInfo(name: name, shape: shape, type: type, offset: Int(rawOffset), byteCount: sizes.bytes), at)
        }
    }
}
