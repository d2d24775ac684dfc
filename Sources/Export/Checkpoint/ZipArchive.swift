/// One member of a zip archive, located but not read.
struct ZipMember {
    let name: String
    let flags: UInt16
    let method: UInt16
    let crc32: UInt32
    let compressedSize: Int
    let size: Int
    let localHeaderOffset: Int
    let dataOffset: Int
}

/// The minimal zip reader torch.save archives need: end-of-central-directory (with ZIP64), central
/// directory and local headers, stored members only.
///
/// Written here rather than borrowed so that every offset read from the file is bounds-checked and a
/// damaged archive becomes a `CheckpointError` naming the offset, never a trap. Member data is not
/// copied: `bytes(of:)` returns a view into the mapped file.
struct ZipArchive {
    let file: MappedFile
    let members: [ZipMember]
    private let index: [String: Int]

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    private static let localSignature: UInt32 = 0x0403_4B50

    subscript(name: String) -> ZipMember? {
        index[name].map { members[$0] }
    }

    init(file: MappedFile) throws {
        self.file = file
        let bytes = file.bytes
        let path = file.path
        func corrupt(_ offset: Int, _ reason: String) -> CheckpointError {
            .corruptArchive(file: path, offset: offset, reason: reason)
        }

        guard bytes.count >= 22 else {
            throw corrupt(0, "the file is \(bytes.count) bytes long, shorter than a zip end-of-central-directory record (22 bytes)")
        }
        // The end record sits in the last 22 + comment bytes; requiring its comment length to reach
        // exactly the end of the file keeps a stray signature inside tensor data from matching.
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var end: Int?
        var probe = bytes.count - 22
        while probe >= lowest {
            if bytes.u32(probe) == Self.endSignature, let comment = bytes.u16(probe + 20),
               probe + 22 + Int(comment) == bytes.count {
                end = probe
                break
            }
            probe -= 1
        }
        guard let end else {
            throw corrupt(bytes.count, "no end-of-central-directory record (PK\\5\\6) in the last \(bytes.count - lowest) bytes: the file is truncated or is not a zip archive")
        }

        // Fixed-size fields of the end record; `end + 22 <= count` was checked by the search.
        let disk = bytes.u16(end + 4) ?? 0
        let directoryDisk = bytes.u16(end + 6) ?? 0
        let classicCount = bytes.u16(end + 10) ?? 0
        let classicSize = bytes.u32(end + 12) ?? 0
        let classicOffset = bytes.u32(end + 16) ?? 0
        guard disk == 0, directoryDisk == 0 else {
            throw corrupt(end + 4, "multi-disk (split) zip archives are not supported (disk \(disk), central directory on disk \(directoryDisk))")
        }

        var entryCount = Int(classicCount)
        var directorySize = Int(classicSize)
        var directoryOffset = Int(classicOffset)
        var directoryLimit = end
        let locator = end - 20
        if locator >= 0, bytes.u32(locator) == Self.zip64LocatorSignature {
            guard let raw = bytes.u64(locator + 8), let record = Int(exactly: raw),
                  bytes.contains(offset: record, length: 56), record + 56 <= locator else {
                throw corrupt(locator + 8, "the ZIP64 locator points outside the file")
            }
            guard bytes.u32(record) == Self.zip64EndSignature else {
                throw corrupt(record, "expected the ZIP64 end-of-central-directory signature (PK\\6\\6) where the ZIP64 locator points")
            }
            guard let count64 = bytes.u64(record + 32).flatMap({ Int(exactly: $0) }),
                  let size64 = bytes.u64(record + 40).flatMap({ Int(exactly: $0) }),
                  let offset64 = bytes.u64(record + 48).flatMap({ Int(exactly: $0) }) else {
                throw corrupt(record + 32, "ZIP64 central directory count, size or offset does not fit in a signed 64-bit integer")
            }
            entryCount = count64
            directorySize = size64
            directoryOffset = offset64
            directoryLimit = record
        } else if classicCount == 0xFFFF || classicSize == 0xFFFF_FFFF || classicOffset == 0xFFFF_FFFF {
            throw corrupt(end, "the end record defers to ZIP64 values but no ZIP64 locator (PK\\6\\7) precedes it")
        }

        guard directoryOffset <= directoryLimit, directorySize <= directoryLimit - directoryOffset else {
            throw corrupt(end, "central directory (offset \(directoryOffset), \(directorySize) bytes) runs past the end-of-central-directory record at \(directoryLimit)")
        }
        guard entryCount <= directorySize / 46 else {
            throw corrupt(end, "\(entryCount) entries cannot fit in a central directory of \(directorySize) bytes (46 bytes each at least)")
        }

        var members: [ZipMember] = []
        members.reserveCapacity(entryCount)
        var index: [String: Int] = [:]
        let directoryEnd = directoryOffset + directorySize
        var position = directoryOffset
        for entry in 0 ..< entryCount {
            guard position <= directoryEnd - 46, bytes.u32(position) == Self.centralSignature else {
                throw corrupt(position, "expected central directory entry \(entry) of \(entryCount) (signature PK\\1\\2)")
            }
            let flags = bytes.u16(position + 8) ?? 0
            let method = bytes.u16(position + 10) ?? 0
            let crc = bytes.u32(position + 16) ?? 0
            let rawCompressed = bytes.u32(position + 20) ?? 0
            let rawSize = bytes.u32(position + 24) ?? 0
            let nameLength = Int(bytes.u16(position + 28) ?? 0)
            let extraLength = Int(bytes.u16(position + 30) ?? 0)
            let commentLength = Int(bytes.u16(position + 32) ?? 0)
            let rawLocal = bytes.u32(position + 42) ?? 0
            let variableLength = nameLength + extraLength + commentLength
            guard variableLength <= directoryEnd - (position + 46),
                  let nameBytes = bytes.array(offset: position + 46, length: nameLength) else {
                throw corrupt(position, "central directory entry \(entry) (name, extra field and comment: \(variableLength) bytes) runs past the end of the central directory")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)

            var compressed = Int(rawCompressed)
            var size = Int(rawSize)
            var local = Int(rawLocal)
            if rawCompressed == 0xFFFF_FFFF || rawSize == 0xFFFF_FFFF || rawLocal == 0xFFFF_FFFF {
                let values = try Self.zip64Extra(bytes, at: position + 46 + nameLength, length: extraLength,
                                                 needSize: rawSize == 0xFFFF_FFFF,
                                                 needCompressed: rawCompressed == 0xFFFF_FFFF,
                                                 needOffset: rawLocal == 0xFFFF_FFFF)
                guard let values else {
                    throw corrupt(position, "central directory entry '\(name)' needs a ZIP64 extra field with its sizes or offset but has none that fits")
                }
                size = values.size ?? size
                compressed = values.compressed ?? compressed
                local = values.offset ?? local
            }

            guard bytes.contains(offset: local, length: 30), bytes.u32(local) == Self.localSignature else {
                throw corrupt(local, "expected the local header (signature PK\\3\\4) of member '\(name)', as its central directory entry at \(position) says")
            }
            let localNameLength = Int(bytes.u16(local + 26) ?? 0)
            let localExtraLength = Int(bytes.u16(local + 28) ?? 0)
            guard bytes.array(offset: local + 30, length: localNameLength) == nameBytes else {
                throw corrupt(local + 30, "the local header names a different member than its central directory entry '\(name)'")
            }
            let dataOffset = local + 30 + localNameLength + localExtraLength
            guard bytes.contains(offset: dataOffset, length: compressed) else {
                throw corrupt(dataOffset, "the data of member '\(name)' (\(compressed) bytes) runs past the end of the file (\(bytes.count) bytes)")
            }

            if index[name] == nil { index[name] = members.count }
            members.append(ZipMember(name: name, flags: flags, method: method, crc32: crc,
                                     compressedSize: compressed, size: size,
                                     localHeaderOffset: local, dataOffset: dataOffset))
            position += 46 + variableLength
        }
        self.members = members
        self.index = index
    }

    /// The bytes of a stored member, without copying.
    func bytes(of member: ZipMember) throws -> ByteView {
        if member.flags & 1 != 0 {
            throw CheckpointError.unsupportedMember(file: file.path, member: member.name, reason: "the member is encrypted")
        }
        switch member.method {
        case 0:
            break
        case 8:
            throw CheckpointError.unsupportedMember(
                file: file.path, member: member.name,
                reason: "the member is deflate-compressed (method 8), but torch.save stores members uncompressed; the archive was probably re-zipped: re-save it with torch.save or unzip and re-zip it with `zip -0`")
        default:
            throw CheckpointError.unsupportedMember(
                file: file.path, member: member.name,
                reason: "compression method \(member.method) is not supported (expected 0, stored)")
        }
        guard member.compressedSize == member.size,
              let view = file.bytes.slice(offset: member.dataOffset, length: member.size) else {
            throw CheckpointError.corruptArchive(
                file: file.path, offset: member.localHeaderOffset,
                reason: "stored member '\(member.name)' has compressed size \(member.compressedSize) but size \(member.size)")
        }
        return view
    }

    private struct Zip64Values { var size: Int?; var compressed: Int?; var offset: Int? }

    /// The ZIP64 extra field (id 1) lists, in this order, only the values whose 32-bit fields are
    /// saturated: uncompressed size, compressed size, local header offset.
    private static func zip64Extra(_ bytes: ByteView, at start: Int, length: Int, needSize: Bool,
                                   needCompressed: Bool, needOffset: Bool) throws -> Zip64Values? {
        var cursor = start
        let end = start + length
        while cursor + 4 <= end {
            guard let id = bytes.u16(cursor), let fieldLength = bytes.u16(cursor + 2) else { return nil }
            let fieldEnd = cursor + 4 + Int(fieldLength)
            guard fieldEnd <= end else { return nil }
            if id == 1 {
                var values = Zip64Values()
                var field = cursor + 4
                func next() -> Int? {
                    guard field + 8 <= fieldEnd, let raw = bytes.u64(field), let value = Int(exactly: raw) else { return nil }
                    field += 8
                    return value
                }
                if needSize { guard let v = next() else { return nil }; values.size = v }
                if needCompressed { guard let v = next() else { return nil }; values.compressed = v }
                if needOffset { guard let v = next() else { return nil }; values.offset = v }
                return values
            }
            cursor = fieldEnd
        }
        return nil
    }
}

/// CRC-32 (the zip polynomial), used to catch damage in the small members whose every byte matters
/// (`data.pkl`, `byteorder`); tensor data is not checksummed to keep loading cheap.
enum CRC32 {
    private static let table: [UInt32] = (0 ..< 256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0 ..< 8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: ByteView) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { table in
            for byte in bytes.buffer {
                crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}
