import CKernels
import Foundation

/// Wall time per kind of operation over a run, for `recur solve --profile` and `recur generate
/// --profile`: where an ACT step or a token goes.
///
/// Each operation is timed around its kernel call (the kernels thread internally, so this is the
/// time the whole pool spent on it). Linear layers also record their multiply-adds, so the table
/// can give the rate each one reaches. Off by default: the runner then passes no profile and the
/// forward pass takes no timestamps.
public final class OpProfile: @unchecked Sendable {
    public enum Op: Int, CaseIterable, Sendable {
        case inject, qkv, rope, attention, attentionOutput, tokenMixGateUp, tokenMixDown, tokenMixSwigluDown, transpose
        case ffnGateUp, swiglu, ffnDown, ffnSwigluDown, addNorm, heads
        // Causal decoders.
        case embedding, norm, kvStore, residual, outputNorm, outputHead
        // Recursive causal LMs.
        case memoryProjection, memoryRead, haltingHead
        case controller, gate

        public var name: String {
            switch self {
            case .inject: return "input injection (adds)"
            case .qkv: return "attn_qkv linear"
            case .rope: return "rope"
            case .attention: return "attention (scores, softmax, values)"
            case .attentionOutput: return "attn_output linear"
            case .tokenMixGateUp: return "tmix gate/up linear"
            case .tokenMixDown: return "tmix_down linear"
            case .tokenMixSwigluDown: return "swiglu + tmix_down linear"
            case .transpose: return "transposes"
            case .ffnGateUp: return "ffn gate/up linear"
            case .swiglu: return "swiglu"
            case .ffnDown: return "ffn_down linear"
            case .ffnSwigluDown: return "swiglu + ffn_down linear"
            case .addNorm: return "residual add + rms norm"
            case .heads: return "lm head + q-head"
            case .embedding: return "token embedding"
            case .norm: return "rms norm (weighted)"
            case .kvStore: return "kv cache store"
            case .residual: return "residual add"
            case .outputNorm: return "output norm"
            case .outputHead: return "output (lm head) linear"
            case .memoryProjection: return "memory q/output linear"
            case .memoryRead: return "memory bank read (attention over slots)"
            case .haltingHead: return "q-head (per token)"
            case .controller: return "attention controller"
            case .gate: return "controller gate"
            }
        }
    }

    private var nanos = [UInt64](repeating: 0, count: Op.allCases.count)
    private var calls = [Int](repeating: 0, count: Op.allCases.count)
    private var multiplyAdds = [Double](repeating: 0, count: Op.allCases.count)

    public init() {}

    /// Runs `body`, adding its wall time (and `multiplyAdds`, for linears) to `op`.
    @inline(__always)
    func measure(_ op: Op, multiplyAdds work: Double = 0, _ body: () -> Void) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        nanos[op.rawValue] &+= DispatchTime.now().uptimeNanoseconds &- t0
        calls[op.rawValue] += 1
        multiplyAdds[op.rawValue] += work
    }

    /// One line per operation that ran, largest share first: calls, total ms, share, and GOP/s
    /// (2 x multiply-adds per second) for linears, with that rate as a share of `peak` (the
    /// machine's INT8 peak at the thread count used, `MachinePeak.int8GOPS`) when given.
    public func table(peak: Double? = nil) -> String {
        let widths = [8, 11, 8, 9] + (peak != nil ? [8] : [])
        func row(_ name: String, _ cols: [String]) -> String {
            name.padding(toLength: 38, withPad: " ", startingAt: 0)
                + zip(cols, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined()
        }
        let total = Double(nanos.reduce(0, &+))
        var lines = [row("operation", ["calls", "ms", "share", "GOP/s"] + (peak != nil ? ["peak"] : []))]
        for op in Op.allCases.sorted(by: { nanos[$0.rawValue] > nanos[$1.rawValue] }) where calls[op.rawValue] > 0 {
            let ns = Double(nanos[op.rawValue])
            let gops = multiplyAdds[op.rawValue] > 0 && ns > 0 ? 2 * multiplyAdds[op.rawValue] / ns : nil
            var cols = ["\(calls[op.rawValue])", String(format: "%.1f", ns / 1e6),
                        String(format: "%.1f%%", total > 0 ? 100 * ns / total : 0), gops.map { String(format: "%.1f", $0) } ?? ""]
            if let peak { cols.append(gops.map { String(format: "%.0f%%", 100 * $0 / peak) } ?? "") }
            lines.append(row(op.name, cols))
        }
        lines.append(row("total", ["", String(format: "%.1f", total / 1e6), "", ""]))
        if let peak {
            lines.append(String(format: "peak: %.1f GOP/s, ", peak)
                + "this CPU's INT8 multiply-add rate in the \(String(cString: recur_isa_name(recur_isa_active()))) tier at these threads (measured)")
            lines.append("micro-kernel shapes (rows x 16-column panels, timed at first use; recur inspect --kernels): " + KernelShapes.summary())
        }
        return lines.joined(separator: "\n")
    }
}
