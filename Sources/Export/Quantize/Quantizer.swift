import Runtime

/// The standard ggml encodings Recur exports to: F32, F16, BF16, Q8_0, Q4_0, Q4_1.
///
/// A thin facade over `Runtime.GGMLBlocks`, which holds the codecs because the GGUF writer and
/// reader in Runtime need them too. Output bytes are identical to `gguf.quants.quantize` from
/// the `gguf` Python package on the same float32 input, so files Recur writes are the files
/// llama.cpp's own tools would have written.
public enum Quantizer {
    public static var supportedTypes: [GGMLType] { GGMLBlocks.supportedTypes }

    /// Encodes row-major values; `values.count` must be a multiple of the type's block size
    /// (each row already is when the row length is).
    public static func quantize(_ values: [Float], as type: GGMLType) throws -> [UInt8] {
        try GGMLBlocks.encode(values, as: type)
    }

    /// Allocation-free form for large tensors: `output` must be exactly
    /// `byteCount(elements: values.count, as: type)` bytes.
    public static func quantize(
        _ values: UnsafeBufferPointer<Float>, as type: GGMLType, into output: UnsafeMutableRawBufferPointer
    ) throws {
        try GGMLBlocks.encode(values, as: type, into: output)
    }

    /// Values as `gguf.quants.dequantize` would reconstruct them.
    public static func dequantize(_ bytes: [UInt8], from type: GGMLType) throws -> [Float] {
        try GGMLBlocks.decode(bytes, as: type)
    }

    public static func dequantize(
        _ bytes: UnsafeRawBufferPointer, from type: GGMLType, into output: UnsafeMutableBufferPointer<Float>
    ) throws {
        try GGMLBlocks.decode(bytes, as: type, into: output)
    }

    public static func byteCount(elements: Int, as type: GGMLType) throws -> Int {
        try GGMLBlocks.encodedByteCount(elements, as: type)
    }
}
