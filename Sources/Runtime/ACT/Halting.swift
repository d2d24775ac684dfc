/// When a sample stops thinking.
public enum HaltingPolicy: Sendable, Equatable {
    /// The model's own Q-head rule (TRM: q_halt > 0; HRM: q_halt > q_continue), capped at max steps.
    case qHead
    /// Always run the maximum number of steps (the official evaluation).
    case maxSteps

    func halts(rule: ModelConfig.HaltRule, qHalt: Float, qContinue: Float) -> Bool {
        switch self {
        case .maxSteps: return false
        case .qHead:
            switch rule {
            case .qHaltPositive: return qHalt > 0
            case .qHaltAboveContinue: return qHalt > qContinue
            }
        }
    }
}
