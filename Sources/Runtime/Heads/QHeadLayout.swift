/// What a halting head computes from the Q-head input `z_H[:, 0]` of each ACT step.
public enum QHeadKind: String, Sendable, CaseIterable {
    /// hidden -> 2 (the official head's shape).
    case linear
    /// hidden -> h -> 2 with ReLU or SiLU between.
    case mlp
    /// hidden -> 128 (no bias) -> one GRU cell carried across the sample's steps -> 2.
    case gru
    /// Multi-head attention of the current state over a ring of the sample's last states -> 2.
    case attention
}

/// How the head's weights are stored and computed.
public enum QHeadFormat: String, Sendable, CaseIterable {
    /// Standard ggml tensors (F32, F16, BF16, Q8_0, Q4_0, Q4_1), computed as the linear layers are.
    case float
    /// Sign weights with per-output scale and bias, inputs centred and binarized: XNOR-popcount.
    case bnn
    /// Rate-coded integrate-and-fire network, event driven.
    case snn
}

/// Hidden activation of an MLP head.
public enum QHeadActivation: String, Sendable, CaseIterable {
    case relu, silu
}

/// GGUF names of an attached head. The official head stays `qhead.weight` / `qhead.bias`; an
/// attached one is described by `qhead.*` metadata and `qhead.<part>.*` tensors, so one file can
/// carry both and a run can pick either.
public enum QHeadLayout {
    public static let kindKey = "qhead.kind"
    public static let formatKey = "qhead.format"
    public static let activationKey = "qhead.activation"
    public static let attentionHeadsKey = "qhead.attention.head_count"
    public static let memoryKey = "qhead.attention.memory"
    public static let snnTimestepsKey = "qhead.snn.timesteps"
    public static let snnLeakKey = "qhead.snn.leak"
    public static let snnInputThresholdKey = "qhead.snn.input_threshold"
    /// Input width of binary layer `l`, written when its centre is one value (`.center` shape [1]).
    public static func bnnInFeaturesKey(_ l: Int) -> String { "qhead.bnn.\(l).in_features" }

    /// Float-format tensors per kind: GGUF name, the PyTorch state_dict key it comes from, and
    /// whether it is a matrix (quantizable) or a vector.
    public struct Tensor: Sendable {
        public var name: String
        public var torchKey: String
        public var isMatrix: Bool
    }

    public static func tensors(_ kind: QHeadKind) -> [Tensor] {
        func t(_ name: String, _ key: String, _ matrix: Bool) -> Tensor { Tensor(name: name, torchKey: key, isMatrix: matrix) }
        switch kind {
        case .linear:
            return [t("qhead.linear.weight", "proj.weight", true), t("qhead.linear.bias", "proj.bias", false)]
        case .mlp:
            return [t("qhead.fc1.weight", "fc1.weight", true), t("qhead.fc1.bias", "fc1.bias", false),
                    t("qhead.fc2.weight", "fc2.weight", true), t("qhead.fc2.bias", "fc2.bias", false)]
        case .gru:
            return [t("qhead.gru_in.weight", "inp.weight", true),
                    t("qhead.gru_ih.weight", "gru.weight_ih_l0", true), t("qhead.gru_ih.bias", "gru.bias_ih_l0", false),
                    t("qhead.gru_hh.weight", "gru.weight_hh_l0", true), t("qhead.gru_hh.bias", "gru.bias_hh_l0", false),
                    t("qhead.gru_out.weight", "out.weight", true), t("qhead.gru_out.bias", "out.bias", false)]
        case .attention:
            return [t("qhead.attn_q.weight", "q.weight", true), t("qhead.attn_k.weight", "k.weight", true),
                    t("qhead.attn_v.weight", "v.weight", true),
                    t("qhead.attn_out.weight", "out.weight", true), t("qhead.attn_out.bias", "out.bias", false)]
        }
    }

    /// The kind's matrices in order; BNN and SNN files number their layers `qhead.bnn.<l>` and
    /// `qhead.snn.<l>` by this order.
    public static func matrices(_ kind: QHeadKind) -> [Tensor] { tensors(kind).filter(\.isMatrix) }

    /// GRU width and attention defaults the issue fixes.
    public static let gruWidth = 128
    public static let attentionHeads = 4
    public static let attentionMemory = 8
}
