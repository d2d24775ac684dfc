import CKernels

/// Reads named tensors of a GGUF model file with the shapes the configuration implies.
struct WeightLoader {
    let file: GGUFFile

    private func info(_ name: String, shape: [Int]) throws -> GGUFTensorInfo {
        guard let info = file.tensor(name) else { throw ModelError.missingTensor(file: file.path, name: name) }
        guard info.shape == shape else {
            throw ModelError.badShape(file: file.path, name: name, expected: shape, found: info.shape)
        }
        return info
    }

    /// The tensor as F32, checked against `shape` (PyTorch order).
    func floats(_ name: String, shape: [Int]) throws -> FloatBuffer {
        let t = try info(name, shape: shape)
        guard GGMLBlocks.decodable(t.type) else {
            throw ModelError.unsupportedType(file: file.path, name: name, type: t.type.name)
        }
        return FloatBuffer(try file.floats(name))
    }

    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = false) throws -> Linear {
        try joined([name], out: out, in: inFeatures, bias: bias)
    }

    /// Linears stored apart (`ffn_gate`, `ffn_up`) joined row-wise into one, so one GEMM produces
    /// `[gate | up]` for the SwiGLU kernel.
    func stacked(_ first: String, _ second: String, out: Int, in inFeatures: Int) throws -> Linear {
        try joined([first, second], out: out, in: inFeatures, bias: false)
    }

    private func joined(_ names: [String], out: Int, in inFeatures: Int, bias: Bool) throws -> Linear {
        try joined(names.map { ($0, out) }, in: inFeatures, biases: bias ? [names[0]] : [])
    }

    /// Linears stored apart with their own row counts (`attn_q`, `attn_k`, `attn_v`) joined row-wise
    /// into one, so one GEMM produces `[q | k | v]`; `biases` names the parts that have a
    /// `.bias` (all of them, or none: a joined bias needs every part's). Parts of one quantized
    /// type are repacked together; parts of mixed types are widened to F32.
    func joined(_ parts: [(name: String, out: Int)], in inFeatures: Int, biases: [String] = []) throws -> Linear {
        let infos = try parts.map { try info("\($0.name).weight", shape: [$0.out, inFeatures]) }
        let rows = parts.reduce(0) { $0 + $1.out }
        let b = try joinedBias(parts, biases: biases)
        if let q = Self.kernelType(infos[0].type), infos.allSatisfy({ $0.type == infos[0].type }) {
            let packed = RawBuffer(byteCount: recur_q_packed_size(q, Int64(rows), Int64(inFeatures)))
            var status: Int32 = 0
            if parts.dropLast().allSatisfy({ $0.out % 16 == 0 }) {
                // Packed panels hold 16 rows each, so parts that start on a panel boundary repack
                // straight from the mapped file into their place: no copy of the file's bytes.
                var row = 0
                for (part, i) in zip(parts, infos) where status == 0 {
                    let offset = recur_q_packed_size(q, Int64(row), Int64(inFeatures))
                    status = recur_q_repack(q, file.bytes(i).baseAddress, packed.pointer + offset, Int64(part.out), Int64(inFeatures))
                    row += part.out
                }
            } else {
                // Rows in the file's standard layout concatenate byte-wise; repack them as one matrix.
                var standard = [UInt8]()
                standard.reserveCapacity(infos.reduce(0) { $0 + $1.byteCount })
                for i in infos { standard.append(contentsOf: file.bytes(i)) }
                status = standard.withUnsafeBytes { recur_q_repack(q, $0.baseAddress, packed.pointer, Int64(rows), Int64(inFeatures)) }
            }
            guard status == 0 else {
                throw ModelError.unsupportedType(file: file.path, name: "\(parts[0].name).weight", type: "\(infos[0].type.name) with \(inFeatures) columns")
            }
            // The file's copy is not read again (an embedding tied to this weight reads its rows
            // back on demand), so its pages need not stay resident next to the packed one.
            for i in infos { file.releasePages(i) }
            return Linear(weight: .quantized(q, packed: packed), bias: b, outFeatures: rows, inFeatures: inFeatures)
        }
        // Float weights: packed into the FP32 kernels' panels (from the mapped file where it holds
        // one F32 matrix, whose pages are then released like a quantized weight's).
        if infos.count == 1, infos[0].type == .f32, let base = file.bytes(infos[0]).baseAddress,
           Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
            let linear = Linear.float(base.assumingMemoryBound(to: Float.self), bias: b, outFeatures: rows, inFeatures: inFeatures)
            file.releasePages(infos[0])
            return linear
        }
        return try floatLinear(parts.map { ($0.name, $0.out) }, in: inFeatures, bias: b)
    }

    /// The `.bias` vectors of `parts` joined (zeros for a part not in `biases`); nil when `biases`
    /// is empty.
    func joinedBias(_ parts: [(name: String, out: Int)], biases: [String]) throws -> FloatBuffer? {
        guard !biases.isEmpty else { return nil }
        let joined = FloatBuffer(count: parts.reduce(0) { $0 + $1.out })
        var at = 0
        for part in parts {
            if biases.contains(part.name) {
                let one = try floats("\(part.name).bias", shape: [part.out])
                (joined.pointer + at).update(from: one.pointer, count: part.out)
            }
            at += part.out
        }
        return joined
    }

    /// Parts of any decodable type widened to F32, joined row-wise into one float layer.
    func floatLinear(_ parts: [(name: String, out: Int)], in inFeatures: Int, bias: FloatBuffer?) throws -> Linear {
        let rows = parts.reduce(0) { $0 + $1.out }
        let w = FloatBuffer(count: rows * inFeatures)
        var at = 0
        for part in parts {
            let values = try floats("\(part.name).weight", shape: [part.out, inFeatures])
            (w.pointer + at * inFeatures).update(from: values.pointer, count: values.count)
            at += part.out
        }
        return Linear.float(w.pointer, bias: bias, outFeatures: rows, inFeatures: inFeatures)
    }

    /// The kernel format for a GGUF block type, if the quantized kernels compute in it.
    static func kernelType(_ t: GGMLType) -> recur_qtype? {
        switch t {
        case .q8_0: return RECUR_Q8_0
        case .q4_0: return RECUR_Q4_0
        case .q4_1: return RECUR_Q4_1
        default: return nil
        }
    }
}
