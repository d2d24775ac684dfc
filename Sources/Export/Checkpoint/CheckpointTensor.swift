import Foundation

/// One named tensor of a checkpoint, described but not yet read.
///
/// Shape, strides and offset are kept exactly as PyTorch stored them (a transposed weight stays
/// transposed, a slice keeps its offset into a shared storage) so the exporter sees what torch.load
/// would; `floats()` is where the strided view becomes a contiguous row-major array.
public struct CheckpointTensor: Sendable {
    public let name: String
    public let dtype: TensorDType
    /// PyTorch order (outermost first); empty for a 0-d (scalar) tensor.
    public let shape: [Int]
    /// In elements, one per dimension.
    public let strides: [Int]
    /// In elements, from the start of the storage.
    public let storageOffset: Int
    /// Elements of `dtype` the backing storage holds; every element the view reaches lies below it.
    public let storageElementCount: Int
    /// The file the tensor came from, for error messages.
    public let file: String
    let storage: TensorStorage

    /// An in-memory tensor (tests, synthetic checkpoints). `strides` default to row-major.
    public init(name: String, dtype: TensorDType, shape: [Int], strides: [Int]? = nil,
                storageOffset: Int = 0, storage: Data, file: String = "<memory>") throws {
        let strides = strides ?? Self.rowMajorStrides(shape)
        let elements = storage.count / dtype.byteSize
        try Self.validate(file: file, name: name, dtype: dtype, shape: shape, strides: strides,
                          storageOffset: storageOffset, storageElementCount: elements)
        self.init(unchecked: name, dtype: dtype, shape: shape, strides: strides, storageOffset: storageOffset,
                  storageElementCount: elements, file: file, storage: .memory(storage))
    }

    init(unchecked name: String, dtype: TensorDType, shape: [Int], strides: [Int], storageOffset: Int,
         storageElementCount: Int, file: String, storage: TensorStorage) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.storageOffset = storageOffset
        self.storageElementCount = storageElementCount
        self.file = file
        self.storage = storage
    }

    /// Product of `shape` (1 for a scalar). `validate` guarantees it does not overflow.
    public var elementCount: Int { shape.reduce(1, *) }

    /// True when the view is row-major without gaps, so its elements are one run of the storage.
    public var isContiguous: Bool {
        var expected = 1
        for (size, stride) in zip(shape, strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }

    public static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for i in shape.indices.reversed() {
            strides[i] = running
            running = running.multipliedReportingOverflow(by: max(shape[i], 1)).partialValue
        }
        return strides
    }

    /// Checks that the view stays inside its storage; readers call it before a tensor exists, so a
    /// checkpoint whose strides or offset run past the data fails at load, not at first use.
    static func validate(file: String, name: String, dtype: TensorDType, shape: [Int], strides: [Int],
                         storageOffset: Int, storageElementCount: Int) throws {
        func bad(_ reason: String) -> CheckpointError { .invalidTensor(file: file, tensor: name, reason: reason) }
        guard shape.count == strides.count else {
            throw bad("shape \(shape) has \(shape.count) dimensions but strides \(strides) has \(strides.count)")
        }
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), storageOffset >= 0 else {
            throw bad("negative size, stride or offset (shape \(shape), strides \(strides), offset \(storageOffset))")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw bad("shape \(shape) has more elements than fit in memory") }
            count = product
        }
        if count == 0 {
            guard storageOffset <= storageElementCount else {
                throw bad("storage offset \(storageOffset) lies past the end of its storage (\(storageElementCount) elements)")
            }
            return
        }
        var last = storageOffset
        for (size, stride) in zip(shape, strides) {
            let (step, overflow1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflow2) = last.addingReportingOverflow(step)
            guard !overflow1, !overflow2 else { throw bad("shape \(shape) with strides \(strides) overflows the index range") }
            last = sum
        }
        guard last < storageElementCount else {
            throw bad("shape \(shape) with strides \(strides) at storage offset \(storageOffset) reaches element \(last), but its storage holds only \(storageElementCount) elements of \(dtype.rawValue)")
        }
    }

    /// A contiguous row-major float32 copy. Half, bfloat16 and float64 round to float32 the way
    /// `tensor.float()` does; integers and bools convert to their float values.
    public func floats() throws -> [Float] {
        try Self.validate(file: file, name: name, dtype: dtype, shape: shape, strides: strides,
                          storageOffset: storageOffset, storageElementCount: storageElementCount)
        let count = elementCount
        var out = [Float](repeating: 0, count: count)
        guard count > 0 else { return out }
        try storage.withBytes { raw in
            try checkStorageSize(raw.count)
            out.withUnsafeMutableBufferPointer { destination in
                guard let base = destination.baseAddress else { return }
                forEachRun { start, stride, length, outputIndex in
                    ElementConversion.toFloat(dtype, raw, start: start, stride: stride, count: length,
                                              into: base + outputIndex)
                }
            }
        }
        return out
    }

    /// A contiguous row-major copy of the elements in their stored dtype (little-endian), for
    /// writers that keep the checkpoint's precision (F16/BF16 pass-through).
    public func contiguousBytes() throws -> Data {
        try Self.validate(file: file, name: name, dtype: dtype, shape: shape, strides: strides,
                          storageOffset: storageOffset, storageElementCount: storageElementCount)
        let size = dtype.byteSize
        var out = Data(count: elementCount * size)
        guard elementCount > 0 else { return out }
        try storage.withBytes { raw in
            try checkStorageSize(raw.count)
            out.withUnsafeMutableBytes { destination in
                guard let base = destination.baseAddress else { return }
                forEachRun { start, stride, length, outputIndex in
                    if stride == 1 {
                        memcpy(base + outputIndex * size, raw.baseAddress! + start * size, length * size)
                    } else {
                        for i in 0 ..< length {
                            memcpy(base + (outputIndex + i) * size, raw.baseAddress! + (start + i * stride) * size, size)
                        }
                    }
                }
            }
        }
        return out
    }

    private func checkStorageSize(_ bytes: Int) throws {
        guard storageElementCount <= bytes / dtype.byteSize else {
            throw CheckpointError.invalidTensor(file: file, tensor: name, reason: "storage holds \(bytes) bytes, fewer than its \(storageElementCount) elements of \(dtype.rawValue)")
        }
    }

    /// Calls `body(storageStart, stride, length, outputIndex)` for each innermost row of the view,
    /// in row-major order; a contiguous view is a single run.
    private func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
        let count = elementCount
        if isContiguous {
            body(storageOffset, 1, count, 0)
            return
        }
        let rank = shape.count
        let rowLength = shape[rank - 1]
        let rowStride = strides[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var start = storageOffset
        var output = 0
        while output < count {
            body(start, rowStride, rowLength, output)
            output += rowLength
            // Advance the outer multi-index like an odometer.
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                start += strides[d]
                if index[d] < shape[d] { break }
                start -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
    }
}

/// Where a tensor's storage bytes live.
enum TensorStorage: Sendable {
    /// A member of a mapped checkpoint file: no copy until values are asked for.
    case mapped(MappedFile, byteOffset: Int, byteCount: Int)
    case memory(Data)

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch self {
        case let .mapped(file, offset, count):
            return try withExtendedLifetime(file) {
                let bytes = file.bytes
                guard let view = bytes.slice(offset: offset, length: count) else {
                    return try body(UnsafeRawBufferPointer(start: nil, count: 0))
                }
                return try body(view.buffer)
            }
        case let .memory(data):
            return try data.withUnsafeBytes(body)
        }
    }
}
