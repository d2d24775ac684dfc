import ArgumentParser
import Runtime

/// How a recursive model halts: `solve` per puzzle, `generate` and `chat` per token.
struct HaltingOptions: ParsableArguments {
    enum Halt: String, ExpressibleByArgument, CaseIterable { case qhead, compare, max, hazard }

    @Option(name: .long, help: "Halting: qhead (the model's rule: TRM q_halt > 0), compare (q_halt > q_continue), max (always run --max-steps), hazard (1 - exp(-softplus(k (q_halt - c))) >= threshold).")
    var halt: Halt = .qhead

    @Option(name: .long, help: "Hazard gate sharpness k.")
    var hazardK: Double = 1

    @Option(name: .long, help: "Hazard gate centre c (in q_halt units).")
    var hazardC: Double = 0

    @Option(name: .long, help: "Hazard gate threshold in (0, 1); 0.5 with k 1, c 0 is q_halt >= 0.")
    var hazardThreshold: Double = 0.5

    @Option(name: .long, help: "ACT step cap (default: the model's halt_max_steps).")
    var maxSteps: Int?

    func policy() throws -> HaltingPolicy {
        switch halt {
        case .qhead: return .qHead
        case .compare: return .compare
        case .max: return .maxSteps
        case .hazard: return .hazard(try HazardGate(k: hazardK, c: hazardC, threshold: hazardThreshold))
        }
    }
}
