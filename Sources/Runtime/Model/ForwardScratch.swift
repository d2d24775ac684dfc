import CKernels

/// What every forward pass's scratch holds for its linears (the 8-bit activation blocks, the
/// gate/up output and, for float down projections, the SwiGLU buffer) and how it times them: the
/// ACT runner's `Workspace` and the decoder's `DecoderWorkspace` share these steps.
protocol ForwardScratch: AnyObject {
    var profile: OpProfile? { get }
    var quantScratch: RawBuffer { get }
    var gateUp: FloatBuffer { get }
    var activation: FloatBuffer { get }
}

extension ForwardScratch {
    /// Runs `body`, timed under `op` when profiling.
    @inline(__always)
    func time(_ op: OpProfile.Op, multiplyAdds: Double = 0, _ body: () -> Void) {
        if let profile { profile.measure(op, multiplyAdds: multiplyAdds, body) } else { body() }
    }

    /// Runs the linear `rows x in -> rows x out`, timed under `op` with its multiply-adds.
    @inline(__always)
    func linear(_ op: OpProfile.Op, _ layer: Linear, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int) {
        time(op, multiplyAdds: layer.multiplyAdds(rows: rows)) {
            layer(x, y, rows: rows, scratch: quantScratch)
        }
    }

    /// `y = down(swiglu(gateUp))` for `rows` rows of `gateUp`. Quantized weights take the SwiGLU
    /// into their input quantization (timed as one operation, `fused`); float weights run SwiGLU
    /// into `activation`, then the linear (timed under `.swiglu` and `op`).
    @inline(__always)
    func swigluLinear(_ op: OpProfile.Op, fused: OpProfile.Op, _ down: Linear, rows: Int, _ y: UnsafeMutablePointer<Float>) {
        guard down.isQuantized else {
            time(.swiglu) { recur_f32_swiglu(gateUp.pointer, activation.pointer, Int64(rows), Int64(down.inFeatures)) }
            linear(op, down, activation.pointer, y, rows: rows)
            return
        }
        time(fused, multiplyAdds: down.multiplyAdds(rows: rows)) {
            down(swiglu: gateUp.pointer, y, rows: rows, scratch: quantScratch)
        }
    }
}
