/// A 64-byte aligned, zero-initialised float array that kernels can write through a raw pointer.
///
/// Swift arrays may move and copy on write; the forward pass wants fixed scratch memory it allocates
/// once per batch capacity and hands to C.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// What keeps borrowed memory alive (a mapped file); nil when this buffer owns its memory.
    private let owner: AnyObject?

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        pointer.initialize(repeating: 0, count: Swift.max(count, 1))
        owner = nil
    }

    /// A read-only view of floats that `owner` keeps alive (weights in a mapped GGUF file): no
    /// copy, and the pages stay shared with the page cache. Writing through `pointer` traps.
    init(borrowing pointer: UnsafePointer<Float>, count: Int, owner: AnyObject) {
        self.count = count
        self.pointer = UnsafeMutablePointer(mutating: pointer)
        self.owner = owner
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { if owner == nil { pointer.deallocate() } }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
