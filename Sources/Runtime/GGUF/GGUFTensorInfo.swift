/// Where one tensor lives in a GGUF file and how it is encoded.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// PyTorch order, outermost first: a Linear weight is `[out, in]`.
    public let shape: [Int]
    public let type: GGMLType
    /// Relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int

    public init(name: String, shape: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.shape = shape
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }

    /// ggml order (innermost first), as the file stores the dimensions.
    public var ne: [Int] { shape.reversed() }

    public var elementCount: Int { shape.reduce(1, *) }

    /// Elements in one row (the innermost dimension), which blocks never straddle.
    public var rowLength: Int { shape.last ?? 1 }
}

extension GGUFTensorInfo {
    /// Element and byte counts for a shape, refusing negative dimensions, arithmetic overflow and
    /// rows that are not whole blocks. Returns the reason as text so both the reader (which
    /// names a file offset) and the writer (which names a call) can phrase the error.
    static func sizes(shape: [Int], type: GGMLType) -> Result<(elements: Int, bytes: Int), SizeProblem> {
        guard shape.count <= 4 else { return .failure(.init("has \(shape.count) dimensions; ggml allows at most 4")) }
        var elements = 1
        for dim in shape {
            guard dim >= 0 else { return .failure(.init("dimension \(dim) is negative")) }
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            guard !overflow else { return .failure(.init("shape \(shape) has more elements than fit in an Int")) }
            elements = product
        }
        let row = shape.last ?? 1
        guard row % type.blockSize == 0 else {
            return .failure(.init("row length \(row) is not a multiple of the \(type.name) block size \(type.blockSize)"))
        }
        let (bytes, overflow) = (elements / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
        guard !overflow else { return .failure(.init("shape \(shape) needs more bytes than fit in an Int")) }
        return .success((elements, bytes))
    }

    struct SizeProblem: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}
