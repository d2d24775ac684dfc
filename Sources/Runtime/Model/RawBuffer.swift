/// 64-byte aligned bytes owned by Swift and filled by C: packed quantized weights, activation scratch.
public final class RawBuffer: @unchecked Sendable {
    public let byteCount: Int
    public let pointer: UnsafeMutableRawPointer

    public init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(byteCount, 1))
    }

    deinit { pointer.deallocate() }
}
