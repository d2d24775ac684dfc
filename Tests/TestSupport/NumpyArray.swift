import Foundation

/// A float32 array in NumPy's `.npy` format (version 1 or 2, little-endian `<f4`, C order), as
/// the reference scripts write logits with `np.save`.
public struct NumpyArray {
    public let shape: [Int]
    public let values: [Float]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw ReferenceFailure(description: "\(path): cannot read") }
        let bytes = [UInt8](data)
        guard bytes.count >= 12, bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else {
            throw ReferenceFailure(description: "\(path): not a .npy file")
        }
        let major = bytes[6]
        let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        let start = major == 1 ? 10 : 12
        guard start + headerLength <= bytes.count else { throw ReferenceFailure(description: "\(path): truncated header") }
        let header = String(decoding: bytes[start..<start + headerLength], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw ReferenceFailure(description: "\(path): expected a C-order little-endian float32 array, header \(header)")
        }
        shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *), body = start + headerLength
        guard bytes.count - body == count * 4 else { throw ReferenceFailure(description: "\(path): \(bytes.count - body) bytes of data for shape \(shape)") }
        values = data.subdata(in: body..<data.count).withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
