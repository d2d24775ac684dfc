/// The recursion schedule: which stack runs on which state, with which injection, how many times.
///
/// TRM, HRM and a flat decoder are three values of this type:
///
///     TRM:  repeat(H) { repeat(L) { z_L = L(z_L + (z_H + x)) };  z_H = L(z_H + z_L) }
///     HRM:  repeat(H) { repeat(L) { z_L = L(z_L + (z_H + x)) };  z_H = H(z_H + z_L) }
///     RLM:  TRM or HRM over causal blocks, z_H += memory_read(z_H) after each H-update
///     flat: h = main(h)
///     NSSR: repeat(T) { repeat(n) { z = blocks(ln(z + (x + y))) };  y = blocks(ln(y + z)) }
///
/// An injection adds its states, summed left to right, to the updated state before the stack runs
/// (`state + (a + b)`, the official TRM order). Each pass of a stack is one *virtual layer*: a
/// causal model keeps one KV-cache entry per virtual layer and block.
public struct Schedule: Sendable, Equatable {
    public indirect enum Step: Sendable, Equatable {
        case pass(Pass)
        case repeated(Int, [Step])
    }

    public struct Pass: Sendable, Equatable {
        public var stack: String
        public var state: String
        public var inject: [String]
        /// After the stack, the state reads the memory bank and adds what it read
        /// (`state = state + memory_read(state)`).
        public var readsMemory: Bool
        /// A LayerNorm (weight and bias tensors `<norm>.weight`, `<norm>.bias`) applied to the
        /// injected sum before the stack runs (NSSR's `recursion_norm`); nil: none.
        public var norm: String?

        public init(stack: String, state: String, inject: [String] = [], readsMemory: Bool = false, norm: String? = nil) {
            self.stack = stack
            self.state = state
            self.inject = inject
            self.readsMemory = readsMemory
            self.norm = norm
        }
    }

    public var steps: [Step]

    public init(_ steps: [Step]) { self.steps = steps }

    /// Every pass in execution order, repeats unrolled.
    public var passes: [Pass] {
        func unroll(_ steps: [Step]) -> [Pass] {
            steps.flatMap { step -> [Pass] in
                switch step {
                case let .pass(p): return [p]
                case let .repeated(n, body): return Array(repeating: unroll(body), count: max(n, 0)).flatMap { $0 }
                }
            }
        }
        return unroll(steps)
    }

    /// Every state the schedule updates or reads, in first-use order.
    public var states: [String] {
        var seen: [String] = []
        for p in passes {
            for s in [p.state] + p.inject where !seen.contains(s) { seen.append(s) }
        }
        return seen
    }

    /// The TRM/HRM schedule of one ACT step; `hStack` is the L stack's name again for TRM.
    /// `memory`: z_H reads the memory bank after every H-update (the recursive LM's bank).
    /// `low`, `high`: the states' names (NSSR calls them z and y); `norm`: a LayerNorm over each
    /// injected sum (NSSR's recursion norm, which injects the input before the high state).
    public static func recursive(hCycles: Int, lCycles: Int, lStack: String, hStack: String, input: String = "x", memory: Bool = false,
                                 low: String = "z_L", high: String = "z_H", inputFirst: Bool = false, norm: String? = nil) -> Schedule {
        Schedule([
            .repeated(hCycles, [
                .repeated(lCycles, [.pass(Pass(stack: lStack, state: low, inject: inputFirst ? [input, high] : [high, input], norm: norm))]),
                .pass(Pass(stack: hStack, state: high, inject: [low], readsMemory: memory, norm: norm)),
            ]),
        ])
    }

    /// Each layer of one stack once, on one state: a plain transformer.
    public static func flat(stack: String, state: String = "h") -> Schedule {
        Schedule([.pass(Pass(stack: stack, state: state))])
    }
}
