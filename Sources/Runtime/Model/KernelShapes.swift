import CKernels

/// The micro-kernel shapes of the quantized linears (recur_q_shapes): which register blocking
/// each weight type runs in a tier, and what the timing that chose it measured.
public enum KernelShapes {
    public struct Choice: Sendable {
        public let type: String
        /// Every shape of the tier ("8x1", "4x2", ...) with its measured GOP/s (0: not timed).
        public let shapes: [(name: String, gops: Double)]
        /// Threads the timing ran on.
        public let threads: Int
        public let chosen: Int
        public var chosenName: String { shapes.indices.contains(chosen) ? shapes[chosen].name : "?" }
    }

    static let types: [(String, recur_qtype)] = [("Q8_0", RECUR_Q8_0), ("Q4_0", RECUR_Q4_0), ("Q4_1", RECUR_Q4_1)]

    /// The shape each type runs in `isa` (tuned now if it was not yet); empty for a tier this CPU lacks.
    public static func choices(isa: recur_isa = recur_isa_active()) -> [Choice] {
        types.compactMap { name, type in
            var rates = [recur_q_shape_rate](repeating: recur_q_shape_rate(), count: 8)
            var chosen: Int32 = 0
            let count = Int(recur_q_shapes(isa, type, &rates, Int32(rates.count), &chosen))
            guard count > 0 else { return nil }
            let shapes = rates.prefix(min(count, rates.count)).map { rate in
                (name: withUnsafeBytes(of: rate.name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }, gops: rate.gops)
            }
            return Choice(type: name, shapes: shapes, threads: Int(rates[0].threads), chosen: Int(chosen))
        }
    }

    /// One line for a profile: "Q8_0 8x1, Q4_0 8x1, Q4_1 8x1".
    public static func summary(isa: recur_isa = recur_isa_active()) -> String {
        choices(isa: isa).map { "\($0.type) \($0.chosenName)" }.joined(separator: ", ")
    }
}
