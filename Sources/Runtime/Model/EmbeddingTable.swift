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
        guard GGMLBlocks.decodable(info.type), let bytes = try? info.type.rowBytes(hidden) else {
            throw ModelError.unsupportedType(file: file.path, name: name, type: info.type.name)
        }
        self.file = file
        self.info = info
        self.rows = rows
        self.hidden = hidden
        rowBytes = bytes
    }

    /// `out[i, :] = scale * table[tokens[i], :]`; ids must be below `rows` (callers check input).
    func lookup(_ tokens: ArraySlice<Int32>, scale: Float, into out: UnsafeMutablePointer<Float>) {
        let all = file.bytes(info)
        for (i, token) in tokens.enumerated() {
            let row = UnsafeRawBufferPointer(rebasing: all[(Int(token) * rowBytes)..<((Int(token) + 1) * rowBytes)])
            let values = (try? GGMLBlocks.decode(row, as: info.type)) ?? [Float](repeating: .nan, count: hidden)
            let dst = out + i * hidden
            if scale == 1 {
                dst.update(from: values, count: hidden)
            } else {
                for j in 0..<hidden { dst[j] = values[j] * scale }
            }
        }
    }
}
