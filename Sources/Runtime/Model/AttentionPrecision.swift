import CKernels

/// The precision of the TRM/HRM attention's dot products. `.f32` is the reference. `.bf16` rounds
/// Q, K, V and the softmax numerators to bfloat16 and keeps every sum and the softmax in float32
/// (recur_attention_bf16: vdpbf16ps, about twice the FP32 kernel's multiply-add rate) on CPUs
/// with AVX-512 BF16; it moves results slightly, so it is a choice, measured in docs/speed-history.md.
public enum AttentionPrecision: String, CaseIterable, Sendable {
    case f32, bf16

    /// Whether `.bf16` runs here (AVX-512 BF16 and the avx512 or amx tier in use).
    public static var bf16Available: Bool { recur_attention_bf16_supported() != 0 }
}
