#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A GGUF v3 (or v2) file, memory-mapped read-only, with its metadata and tensor directory parsed
/// and validated up front.
///
/// Validation happens once in `init` so that everything after it (the runtime's weight views,
/// `bytes(_:)`) can trust offsets and sizes without re-checking: every tensor's bytes are known
/// to lie inside the mapping.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// `general.alignment`, or 32 when the file does not say.
    public let alignment: Int
    /// In file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// In file order.
    public let tensors: [GGUFTensorInfo]
    /// Absolute byte offset of the data section (tensor offsets are relative to it).
    public let dataOffset: Int
    /// Size of the file in bytes.
    public let fileSize: Int

    private let mapping: UnsafeMutableRawPointer?
    private let keyIndex: [String: Int]
    private let tensorIndex: [String: Int]

    public static let defaultAlignment = 32
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32
    /// Nested arrays deeper than this are refused rather than recursed into: no real file
    /// needs them and a crafted file could otherwise exhaust the stack.
    static let maximumArrayDepth = 8

    public init(path: String) throws {
        self.path = path
        // Non-blocking so that a FIFO given by mistake is refused below instead of hanging open().
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw GGUFError.io(path: path, reason: "cannot open for reading: \(Self.errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GGUFError.io(path: path, reason: "cannot stat: \(Self.errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.io(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        fileSize = size
        if size > 0 {
            let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let mapped, mapped != MAP_FAILED else {
                throw GGUFError.io(path: path, reason: "cannot map \(size) bytes: \(Self.errnoText())")
            }
            mapping = mapped
        } else {
            mapping = nil
        }
        do {
            let bytes = UnsafeRawBufferPointer(start: mapping, count: mapping == nil ? 0 : size)
            var parser = GGUFParser(bytes: bytes, path: path)
            let header = try parser.parse()
            version = header.version
            alignment = header.alignment
            metadata = header.metadata
            tensors = header.tensors
            dataOffset = header.dataOffset
            keyIndex = header.keyIndex
            tensorIndex = header.tensorIndex
        } catch {
            if let mapping { munmap(mapping, size) }
            throw error
        }
    }

    deinit {
        if let mapping { munmap(mapping, fileSize) }
    }

    public func value(_ key: String) -> GGUFValue? {
        keyIndex[key].map { metadata[$0].value }
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's stored bytes, a view into the mapping that is valid while this object lives.
    /// An info that does not describe a range of this file (one taken from another file) gives an
    /// empty buffer rather than memory outside the mapping.
    public func bytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard let mapping, info.offset >= 0, info.byteCount >= 0,
              info.offset <= fileSize - dataOffset,
              info.byteCount <= fileSize - dataOffset - info.offset
        else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: mapping + dataOffset + info.offset, count: info.byteCount)
    }

    /// Tells the kernel the tensor's pages are not needed now (after they were repacked into the
    /// runtime's own layout): they leave resident memory and are read from the file again if
    /// touched. Only whole pages inside the tensor are released.
    public func releasePages(_ info: GGUFTensorInfo) {
        let range = bytes(info)
        guard let base = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: base) + page - 1) / page * page
        let end = (Int(bitPattern: base) + range.count) / page * page
        if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED)) }
    }

    /// A dequantized copy of the tensor's values, in storage order (row-major over `shape`).
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensor(name) else { throw GGUFError.missingTensor(path: path, tensor: name) }
        guard GGMLBlocks.decodable(info.type) else {
            throw GGUFError.unsupportedType(path: path, tensor: name, type: info.type, operation: "floats()")
        }
        do {
            return try GGMLBlocks.decode(bytes(info), as: info.type)
        } catch let error as GGMLBlockError {
            throw GGUFError.badTensor(path: path, tensor: name, offset: dataOffset + info.offset, message: error.description)
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
