import CKernels

/// A token embedding read in place from the mapped file: each lookup decodes only the rows it
/// needs, so a 49,152 x 576 Q8_0 table stays 30 MB of file pages instead of 113 MB of floats.
struct EmbeddingTable {
    let file: GGUFFile
    let info: GGUFTensorInfo
    let rows: Int
    let hidden: Int
    let rowBytes: Int

    init(file: GGUFFile, name: String, rows: Int, hidden: Int) throws {
        guard let info = file.tensor(name) else { throw ModelError.missingTensor(file: file.path, name: name) }
        guard info.shape == [rows, hidden] else {
            throw ModelError.badShape(file: file.path, name: name, expected: [rows, hidden], found: info.shape)
        }
        // The row decoders: F32/F16/BF16 conversions and the C block dequantizers.
        let rowDecodable = [.f32, .f16, .bf16].contains(info.type) || recur_kq_block_bytes(Int32(info.type.rawValue)) > 0
        guard rowDecodable, let bytes = try? info.type.rowBytes(hidden) else {
            throw ModelError.unsupportedType(file: file.path, name: name, type: info.type.name)
        }
        self.file = file
        self.info = info
        self.rows = rows
        self.hidden = hidden
        rowBytes = bytes
    }

    /// `out[i, :] = scale * table[tokens[i], :]`; ids must be below `rows` (callers check input).
    /// Each row is decoded in place into `out` by the C row decoders (no per-token allocation).
    func lookup(_ tokens: ArraySlice<Int32>, scale: Float, into out: UnsafeMutablePointer<Float>) {
        guard let base = file.bytes(info).baseAddress else { return }
        for (i, token) in tokens.enumerated() {
            let row = base + Int(token) * rowBytes
            let dst = out + i * hidden
            switch info.type {
            case .f32: dst.update(from: row.assumingMemoryBound(to: Float.self), count: hidden)
            case .f16: recur_f16_to_f32(row.assumingMemoryBound(to: UInt16.self), dst, Int64(hidden))
            case .bf16: recur_bf16_to_f32(row.assumingMemoryBound(to: UInt16.self), dst, Int64(hidden))
            default: _ = recur_kq_dequantize_row(Int32(info.type.rawValue), row, dst, Int64(hidden))
            }
            if scale != 1 { recur_f32_scale(dst, scale, Int64(hidden)) }
        }
    }
}
