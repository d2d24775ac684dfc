#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a checkpoint file.
///
/// Mapping instead of reading keeps `StateDict.load` cheap for large checkpoints: tensor bytes stay
/// in the page cache until `floats()` asks for them, and every tensor of a file shares one mapping.
/// The mapping lives as long as any tensor refers to it.
final class MappedFile: @unchecked Sendable {
    let path: String
    let count: Int
    private let base: UnsafeRawPointer?

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw CheckpointError.unreadable(file: path, reason: MappedFile.systemError())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CheckpointError.unreadable(file: path, reason: MappedFile.systemError())
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw CheckpointError.unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        count = size
        if size == 0 {
            base = nil
            return
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw CheckpointError.unreadable(file: path, reason: "mmap failed: \(MappedFile.systemError())")
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// Valid while `self` is alive; callers keep the file referenced (or use `withExtendedLifetime`).
    var bytes: ByteView { ByteView(UnsafeRawBufferPointer(start: base, count: count)) }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}

/// Bounds-checked little-endian reads over a byte buffer. Every accessor returns nil instead of
/// trapping so parsers can turn a short read into an error that names the offset.
struct ByteView {
    let buffer: UnsafeRawBufferPointer
    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var count: Int { buffer.count }

    /// True when `[offset, offset + length)` lies inside the buffer; safe against overflow.
    func contains(offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }

    func u8(_ offset: Int) -> UInt8? {
        contains(offset: offset, length: 1) ? buffer[offset] : nil
    }

    func u16(_ offset: Int) -> UInt16? {
        guard contains(offset: offset, length: 2) else { return nil }
        return UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    func u32(_ offset: Int) -> UInt32? {
        guard contains(offset: offset, length: 4) else { return nil }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func u64(_ offset: Int) -> UInt64? {
        guard contains(offset: offset, length: 8) else { return nil }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    func slice(offset: Int, length: Int) -> ByteView? {
        guard contains(offset: offset, length: length) else { return nil }
        return ByteView(UnsafeRawBufferPointer(rebasing: buffer[offset ..< offset + length]))
    }

    func array(offset: Int, length: Int) -> [UInt8]? {
        guard contains(offset: offset, length: length) else { return nil }
        return Array(buffer[offset ..< offset + length])
    }

    func startsWith(_ prefix: [UInt8]) -> Bool {
        guard count >= prefix.count else { return false }
        for (i, byte) in prefix.enumerated() where buffer[i] != byte { return false }
        return true
    }
}
