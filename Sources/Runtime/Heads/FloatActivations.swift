import Foundation

/// Elementwise functions of the float heads, written out so each matches PyTorch's definition.
enum HeadMath {
    static func apply(_ activation: QHeadActivation, _ x: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .relu:
            for i in 0..<count where !(x[i] > 0) { x[i] = 0 }
        case .silu:
            for i in 0..<count { x[i] = x[i] / (1 + Foundation.exp(-x[i])) }
        }
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + Foundation.exp(-x)) }
}
