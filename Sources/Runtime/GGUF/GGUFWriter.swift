#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects metadata and tensors, then writes a GGUF v3 file in one step.
///
/// Writing goes to a temporary file beside the target, is flushed to disk, then renamed over the
/// target, so a reader never sees a half-written model and a failed export leaves nothing behind.
public struct GGUFWriter: Sendable {
    public let alignment: Int
    private var pairs: [(key: String, value: GGUFValue)] = []
    private var entries: [(name: String, shape: [Int], type: GGMLType, data: [UInt8])] = []
    private var tensorNames: Set<String> = []

    /// ggml keeps tensor names in a 64-byte buffer including the terminator.
    public static let maximumTensorNameBytes = 63

    public init(alignment: Int = GGUFFile.defaultAlignment) {
        self.alignment = alignment
    }

    /// Metadata pairs are written in insertion order; a repeated key is reported by `write`.
    public mutating func add(_ key: String, _ value: GGUFValue) {
        pairs.append((key, value))
    }

    /// Adds a tensor whose bytes are already encoded as `type`; `shape` is in PyTorch order.
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, data: [UInt8]) throws {
        try checkName(name)
        let sizes = try checkedSizes(name: name, shape: shape, type: type)
        guard data.count == sizes.bytes else {
            throw GGUFError.invalidWrite(
                path: nil,
                message: "tensor '\(name)': shape \(shape) as \(type.name) needs \(sizes.bytes) bytes, got \(data.count)")
        }
        tensorNames.insert(name)
        entries.append((name, shape, type, data))
    }

    /// Adds a tensor from float32 values in row-major order, encoding or quantizing them as `type`
    /// exactly as `gguf.quants.quantize` would.
    public mutating func addTensor(name: String, shape: [Int], floats: [Float], type: GGMLType) throws {
        try checkName(name)
        guard GGMLBlocks.supports(type) else {
            throw GGUFError.invalidWrite(
                path: nil, message: "tensor '\(name)': cannot encode floats as \(type.name) (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)")
        }
        let sizes = try checkedSizes(name: name, shape: shape, type: type)
        guard floats.count == sizes.elements else {
            throw GGUFError.invalidWrite(
                path: nil, message: "tensor '\(name)': shape \(shape) has \(sizes.elements) elements, got \(floats.count) values")
        }
        let data: [UInt8]
        do {
            data = try GGMLBlocks.encode(floats, as: type)
        } catch {
            throw GGUFError.invalidWrite(path: nil, message: "tensor '\(name)': \(error)")
        }
        tensorNames.insert(name)
        entries.append((name, shape, type, data))
    }

    private func checkName(_ name: String) throws {
        guard !name.isEmpty else { throw GGUFError.invalidWrite(path: nil, message: "a tensor name is empty") }
        guard name.utf8.count <= Self.maximumTensorNameBytes else {
            throw GGUFError.invalidWrite(
                path: nil,
                message: "tensor name '\(name)' is \(name.utf8.count) bytes; ggml allows at most \(Self.maximumTensorNameBytes)")
        }
        guard !tensorNames.contains(name) else {
            throw GGUFError.invalidWrite(path: nil, message: "duplicate tensor name '\(name)'")
        }
    }

    private func checkedSizes(name: String, shape: [Int], type: GGMLType) throws -> (elements: Int, bytes: Int) {
        switch GGUFTensorInfo.sizes(shape: shape, type: type) {
        case .success(let sizes): return sizes
        case .failure(let problem):
            throw GGUFError.invalidWrite(path: nil, message: "tensor '\(name)' as \(type.name): \(problem.message)")
        }
    }

    // MARK: - Writing

    public func write(to path: String) throws {
        let header = try encodeHeader(path: path)
        let temporary = Self.temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GGUFError.io(path: path, reason: "cannot create temporary file \(temporary): \(GGUFFile.errnoText())")
        }
        var isOpen = true
        do {
            try header.withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary) }
            let zeros = [UInt8](repeating: 0, count: alignment)
            for entry in entries {
                try entry.data.withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary) }
                try zeros[0..<padding(entry.data.count)].withUnsafeBytes { try Self.writeAll(fd, $0, path: temporary) }
            }
            guard fsync(fd) == 0 else {
                throw GGUFError.io(path: temporary, reason: "cannot flush to disk: \(GGUFFile.errnoText())")
            }
            isOpen = false
            guard close(fd) == 0 else {
                throw GGUFError.io(path: temporary, reason: "cannot close: \(GGUFFile.errnoText())")
            }
            guard rename(temporary, path) == 0 else {
                throw GGUFError.io(path: path, reason: "cannot rename \(temporary) into place: \(GGUFFile.errnoText())")
            }
        } catch {
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        Self.syncDirectory(of: path)
    }

    private func padding(_ count: Int) -> Int {
        (alignment - count % alignment) % alignment
    }

    /// Header, metadata, tensor directory and the padding up to the data section.
    private func encodeHeader(path: String) throws -> [UInt8] {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw GGUFError.invalidWrite(path: path, message: "alignment \(alignment) is not a positive power of two")
        }
        var allPairs = pairs
        if let given = pairs.first(where: { $0.key == "general.alignment" }) {
            guard given.value == .uint32(UInt32(truncatingIfNeeded: alignment)) else {
                throw GGUFError.invalidWrite(
                    path: path,
                    message: "general.alignment is \(given.value.valueType.name) \(given.value), but the writer aligns to UINT32 \(alignment)")
            }
        } else if alignment != GGUFFile.defaultAlignment {
            allPairs.append(("general.alignment", .uint32(UInt32(alignment))))
        }
        var seen: Set<String> = []
        for (key, value) in allPairs {
            guard !key.isEmpty else { throw GGUFError.invalidWrite(path: path, message: "a metadata key is empty") }
            guard seen.insert(key).inserted else {
                throw GGUFError.invalidWrite(path: path, message: "duplicate metadata key '\(key)'")
            }
            try checkValue(value, key: key, path: path, depth: 0)
        }

        var out = ByteSink()
        out.u32(GGUFFile.magic)
        out.u32(3)
        out.u64(UInt64(entries.count))
        out.u64(UInt64(allPairs.count))
        for (key, value) in allPairs {
            out.string(key)
            out.u32(value.valueType.rawValue)
            out.value(value)
        }
        var offset = 0
        for entry in entries {
            out.string(entry.name)
            out.u32(UInt32(entry.shape.count))
            for dim in entry.shape.reversed() { out.u64(UInt64(dim)) }
            out.u32(entry.type.rawValue)
            out.u64(UInt64(offset))
            offset += entry.data.count + padding(entry.data.count)
        }
        out.bytes.append(contentsOf: [UInt8](repeating: 0, count: padding(out.bytes.count)))
        return out.bytes
    }

    private func checkValue(_ value: GGUFValue, key: String, path: String, depth: Int) throws {
        guard case .array(let items) = value else { return }
        guard depth < GGUFFile.maximumArrayDepth else {
            throw GGUFError.invalidWrite(path: path, message: "metadata '\(key)' nests arrays more than \(GGUFFile.maximumArrayDepth) deep")
        }
        if let first = items.first {
            guard items.allSatisfy({ $0.valueType == first.valueType }) else {
                throw GGUFError.invalidWrite(
                    path: path, message: "metadata '\(key)' mixes element types in one array (GGUF arrays are homogeneous)")
            }
        }
        for item in items { try checkValue(item, key: key, path: path, depth: depth + 1) }
    }

    private static func writeAll(_ fd: Int32, _ data: UnsafeRawBufferPointer, path: String) throws {
        guard let base = data.baseAddress else { return }
        var done = 0
        while done < data.count {
            let n = posixWrite(fd, base + done, data.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw GGUFError.io(path: path, reason: "write failed: \(GGUFFile.errnoText())")
            }
            done += n
        }
    }

    private static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(directory).\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Makes the rename itself durable; failure here cannot corrupt anything, so it is ignored.
    private static func syncDirectory(of path: String) {
        let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }
}

/// POSIX write(2); the struct's own `write(to:)` hides the global name.
private func posixWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, pointer, count)
    #else
    return Darwin.write(fd, pointer, count)
    #endif
}

/// Growing little-endian byte buffer for the header.
private struct ByteSink {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func int<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func value(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): u8(v)
        case .int8(let v): int(v)
        case .uint16(let v): int(v)
        case .int16(let v): int(v)
        case .uint32(let v): int(v)
        case .int32(let v): int(v)
        case .float32(let v): int(v.bitPattern)
        case .bool(let v): u8(v ? 1 : 0)
        case .string(let v): string(v)
        case .uint64(let v): int(v)
        case .int64(let v): int(v)
        case .float64(let v): int(v.bitPattern)
        case .array(let items):
            // An empty array has no element to take a type from; UINT8 is as good as any.
            u32((items.first?.valueType ?? .uint8).rawValue)
            u64(UInt64(items.count))
            for item in items { self.value(item) }
        }
    }
}
