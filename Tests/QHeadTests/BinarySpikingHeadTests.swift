import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// BNN and SNN conversion of float heads: the runtime head computes what the conversion defines,
/// the binary head is at least 16x smaller, and the spiking head approaches the float head as the
/// number of ticks grows.
final class BinarySpikingHeadTests: XCTestCase {
    let hidden = 512, width = 64
    lazy var mean: [Float] = (0..<hidden).map { _ in Float.random(in: -1...1) }

    private func randomMLP(activation: QHeadActivation = .relu) -> QHeadWeights {
        func r(_ n: Int, _ s: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -s...s) } }
        return QHeadWeights(kind: .mlp, activation: activation, tensors: [
            "qhead.fc1.weight": ([width, hidden], r(width * hidden, 0.08)), "qhead.fc1.bias": ([width], r(width, 0.1)),
            "qhead.fc2.weight": ([2, width], r(2 * width, 0.3)), "qhead.fc2.bias": ([2], r(2, 0.1)),
        ])
    }

    private func randomLinear() -> QHeadWeights {
        QHeadWeights(kind: .linear, tensors: [
            "qhead.linear.weight": ([2, hidden], (0..<2 * hidden).map { _ in Float.random(in: -0.08...0.08) }),
            "qhead.linear.bias": ([2], [0.1, -0.2]),
        ])
    }

    /// States around one non-zero mean, like z_H[:, 0].
    private func states(_ rows: Int) -> [Float] {
        let mean = self.mean
        return (0..<rows).flatMap { _ in (0..<hidden).map { mean[$0] + Float.random(in: -1...1) } }
    }

    private func load(_ head: QHeadWeights, _ storage: QHeadStorage, calibration: [Float]) throws -> QHead {
        try QHeadHarness.load(head, storage, calibration: calibration, hidden: hidden)
    }

    private func run(_ head: QHead, _ x: [Float]) -> [Float] { QHeadHarness.run(head, x) }

    func testBinaryHeadComputesItsDefinitionAndIsSmall() throws {
        let weights = randomMLP()
        let calibration = states(256)
        let layers = try BinaryConverter.convert(weights, calibration: calibration)
        let head = try load(weights, .bnn, calibration: calibration)
        let floatHead = try load(weights, .float(.f32), calibration: [])
        XCTAssertEqual(head.format, .bnn)
        XCTAssertGreaterThanOrEqual(floatHead.byteSize, 16 * head.byteSize, "BNN \(head.byteSize) bytes vs F32 \(floatHead.byteSize)")

        // The definition, written out: centred signs, +-1 dot, scale and bias, ReLU between.
        let x = states(20)
        let ours = run(head, x)
        for r in 0..<20 {
            var input = Array(x[r * hidden..<(r + 1) * hidden])
            for (l, layer) in layers.enumerated() {
                var y = [Float](repeating: 0, count: layer.outFeatures)
                for o in 0..<layer.outFeatures {
                    var dot = 0
                    for j in 0..<layer.inFeatures {
                        let xs = input[j] - layer.center(j) >= 0
                        let ws = (layer.bits[o * ((layer.inFeatures + 63) / 64) + j / 64] >> UInt64(j % 64)) & 1 == 1
                        dot += xs == ws ? 1 : -1
                    }
                    y[o] = layer.scale[o] * Float(dot) + layer.bias[o]
                }
                input = l == layers.count - 1 ? y : y.map { max($0, 0) }
            }
            XCTAssertEqual(ours[2 * r], input[0], accuracy: 1e-4 * max(1, abs(input[0])), "row \(r) q_halt")
            XCTAssertEqual(ours[2 * r + 1], input[1], accuracy: 1e-4 * max(1, abs(input[1])), "row \(r) q_continue")
        }
    }

    /// Least squares against the float outputs must beat the plain mean-|W| scale on the states it
    /// was fitted to.
    func testLeastSquaresRefinementReducesError() throws {
        let weights = randomLinear()
        let calibration = states(300)
        let fitted = run(try load(weights, .bnn, calibration: calibration), calibration)
        let plain = run(try load(weights, .bnn, calibration: []), calibration)
        let reference = run(try load(weights, .float(.f32), calibration: []), calibration)
        func mse(_ a: [Float]) -> Double { zip(a, reference).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(a.count) }
        XCTAssertLessThan(mse(fitted), mse(plain), "fitted \(mse(fitted)) vs mean|W| \(mse(plain))")
    }

    func testSpikingHeadApproachesFloatHead() throws {
        for weights in [randomLinear(), randomMLP()] {
            try QHeadHarness.checkSpikingApproachesFloat(weights, calibration: states(200), states(10), hidden: hidden)
        }
        XCTAssertThrowsError(try load(randomMLP(activation: .silu), .snn(timesteps: 8, leak: 1), calibration: states(10)))
        XCTAssertThrowsError(try load(randomLinear(), .snn(timesteps: 8, leak: 1), calibration: []))
    }
}
