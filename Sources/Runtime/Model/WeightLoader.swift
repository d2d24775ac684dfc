/// Reads named tensors of a GGUF model file with the shapes the configuration implies.
struct WeightLoader {
    let file: GGUFFile

    func has(_ name: String) -> Bool { file.tensor(name) != nil }

    /// The tensor as F32, checked against `shape` (PyTorch order).
    func floats(_ name: String, shape: [Int]) throws -> FloatBuffer {
        guard let info = file.tensor(name) else { throw ModelError.missingTensor(file: file.path, name: name) }
        guard info.shape == shape else {
            throw ModelError.badShape(file: file.path, name: name, expected: shape, found: info.shape)
        }
        switch info.type {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1:
            return FloatBuffer(try file.floats(name))
        default:
            throw ModelError.unsupportedType(file: file.path, name: name, type: info.type.name)
        }
    }

    func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = false) throws -> Linear {
        let w = try floats("\(name).weight", shape: [out, inFeatures])
        let b = bias ? try floats("\(name).bias", shape: [out]) : nil
        return Linear(weight: w, bias: b, outFeatures: out, inFeatures: inFeatures)
    }

    /// Two linears stored apart (`ffn_gate`, `ffn_up`) joined row-wise into one, so one GEMM
    /// produces `[gate | up]` for the SwiGLU kernel.
    func stacked(_ first: String, _ second: String, out: Int, in inFeatures: Int) throws -> Linear {
        let a = try floats("\(first).weight", shape: [out, inFeatures])
        let b = try floats("\(second).weight", shape: [out, inFeatures])
        let joined = FloatBuffer(count: 2 * out * inFeatures)
        joined.pointer.update(from: a.pointer, count: a.count)
        (joined.pointer + a.count).update(from: b.pointer, count: b.count)
        return Linear(weight: joined, bias: nil, outFeatures: 2 * out, inFeatures: inFeatures)
    }
}
