import Export
import Foundation
import Runtime
import TestSupport
import XCTest

/// BNN and SNN forms of the GRU and attention heads (every matrix binary or rate-coded, gates and
/// softmax float), the per-tensor BNN centre, and the tracer the converters fit against.
final class RecurrentBinarySpikingTests: XCTestCase {
    let hidden = 512, steps = 8

    /// A random head of `kind` with the shapes `QHeadWeights.checkShapes` expects.
    private func randomHead(_ kind: QHeadKind, rng: inout SplitMix64) throws -> QHeadWeights {
        let w = kind == .gru ? QHeadLayout.gruWidth : 64
        func shape(_ name: String) -> [Int] {
            switch name {
            case "qhead.linear.weight": return [2, hidden]
            case "qhead.fc1.weight": return [w, hidden]
            case "qhead.fc1.bias": return [w]
            case "qhead.gru_in.weight", "qhead.attn_q.weight", "qhead.attn_k.weight", "qhead.attn_v.weight": return [w, hidden]
            case "qhead.gru_ih.weight", "qhead.gru_hh.weight": return [3 * w, w]
            case "qhead.gru_ih.bias", "qhead.gru_hh.bias": return [3 * w]
            case _ where name.hasSuffix(".weight"): return [2, w]
            default: return [2]
            }
        }
        var tensors: [String: (shape: [Int], values: [Float])] = [:]
        for t in QHeadLayout.tensors(kind) {
            let s = shape(t.name), fanIn = Float(s.last ?? 1)
            let bound = 1.7 / fanIn.squareRoot()
            tensors[t.name] = (s, (0..<s.reduce(1, *)).map { _ in Float.random(in: -bound...bound, using: &rng) })
        }
        let head = QHeadWeights(kind: kind, tensors: tensors)
        try head.checkShapes(file: "random \(kind.rawValue)")
        return head
    }

    /// One non-zero mean for every draw, like z_H[:, 0]'s.
    lazy var mean: [Float] = {
        var rng = SplitMix64(seed: 10)
        return (0..<hidden).map { _ in Float.random(in: -1...1, using: &rng) }
    }()

    /// Sequences that drift over steps around `mean`, like z_H[:, 0] over ACT steps.
    private func sequences(_ count: Int, rng: inout SplitMix64) -> [Float] {
        let mean = self.mean
        var out: [Float] = []
        for _ in 0..<count {
            var x = mean.map { $0 + Float.random(in: -0.5...0.5, using: &rng) }
            for _ in 0..<steps {
                for j in 0..<hidden { x[j] += Float.random(in: -0.3...0.3, using: &rng) }
                out += x
            }
        }
        return out
    }

    private func load(_ head: QHeadWeights, _ storage: QHeadStorage, calibration: [Float]) throws -> QHead {
        try QHeadHarness.load(head, storage, calibration: calibration, steps: steps, hidden: hidden)
    }

    private func run(_ head: QHead, _ x: [Float]) -> [Float] { QHeadHarness.run(head, x, steps: steps) }

    private func correlation(_ a: [Float], _ b: [Float]) -> Double {
        let n = Double(a.count)
        let ma = a.reduce(0) { $0 + Double($1) } / n, mb = b.reduce(0) { $0 + Double($1) } / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) { sab += (Double(x) - ma) * (Double(y) - mb); saa += (Double(x) - ma) * (Double(x) - ma); sbb += (Double(y) - mb) * (Double(y) - mb) }
        return sab / max((saa * sbb).squareRoot(), 1e-30)
    }

    /// The tracer runs the head itself: its last matrix's outputs are the head's Q logits.
    func testTracerRecordsWhatTheHeadComputes() throws {
        var rng = SplitMix64(seed: 11)
        for kind in [QHeadKind.gru, .attention, .mlp] {
            let weights = try randomHead(kind, rng: &rng)
            let x = sequences(3, rng: &rng)
            let head = try load(weights, .float(.f32), calibration: [])
            let traces = try QHeadTracer.trace(head, states: x, steps: steps)
            XCTAssertEqual(traces.count, QHeadLayout.matrices(kind).count)
            XCTAssertTrue(traces.allSatisfy { $0.rows == 3 * steps }, "\(kind): \(traces.map(\.rows))")
            // Step-major in the trace, sequence-major from run().
            let q = run(head, x), last = traces.last!.outputs
            for t in 0..<steps {
                for s in 0..<3 {
                    XCTAssertEqual(last[(t * 3 + s) * 2], q[(s * steps + t) * 2], accuracy: 1e-5, "\(kind) step \(t) sequence \(s)")
                }
            }
        }
        XCTAssertThrowsError(try QHeadTracer.trace(try load(try randomHead(.gru, rng: &rng), .float(.f32), calibration: []),
                                                   states: [Float](repeating: 0, count: hidden * 3), steps: 2))
    }

    /// Every kind: the BNN form is at least 16x smaller than F32, refitting on calibration beats
    /// the plain mean-|W| conversion, and the logits follow the float head's on held-out sequences.
    func testBinaryFormOfEveryKind() throws {
        var rng = SplitMix64(seed: 12)
        for kind in QHeadKind.allCases {
            let weights = try randomHead(kind, rng: &rng)
            let calibration = sequences(48, rng: &rng), heldOut = sequences(12, rng: &rng)
            let floatHead = try load(weights, .float(.f32), calibration: [])
            let fitted = try load(weights, .bnn, calibration: calibration)
            let plain = try load(weights, .bnn, calibration: [])
            XCTAssertEqual(fitted.format, .bnn)
            XCTAssertEqual(fitted.kind, kind)
            XCTAssertGreaterThanOrEqual(floatHead.byteSize, 16 * fitted.byteSize, "\(kind): BNN \(fitted.byteSize) bytes vs F32 \(floatHead.byteSize)")
            let reference = run(floatHead, heldOut)
            let ours = run(fitted, heldOut), unfitted = run(plain, heldOut)
            func mse(_ a: [Float]) -> Double { zip(a, reference).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +) / Double(a.count) }
            let halt = stride(from: 0, to: reference.count, by: 2)
            let r = correlation(halt.map { ours[$0] }, halt.map { reference[$0] })
            let mean = reference.reduce(0) { $0 + Double($1) } / Double(reference.count)
            let variance = reference.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(reference.count)
            print("\(kind) BNN: \(fitted.byteSize) bytes (F32 \(floatHead.byteSize)), held-out q_halt correlation \(r), mse \(mse(ours)) vs unfitted \(mse(unfitted)), variance of the float logits \(variance)")
            XCTAssertLessThan(mse(ours), mse(unfitted), "\(kind): the calibration fit should beat mean |W|")
            // Random heads on random states: binarizing loses much (the trained heads' agreement is
            // measured in the README), but the binary head must explain part of the float logits.
            XCTAssertLessThan(mse(ours), variance, "\(kind): no better than a constant")
        }
    }

    /// GRU and attention SNN: every matrix rate-coded; more ticks approximate the float head better.
    func testSpikingRecurrentHeadsApproachFloat() throws {
        var rng = SplitMix64(seed: 13)
        for kind in [QHeadKind.gru, .attention] {
            let weights = try randomHead(kind, rng: &rng)
            try QHeadHarness.checkSpikingApproachesFloat(weights, calibration: sequences(24, rng: &rng), sequences(4, rng: &rng),
                                                         steps: steps, hidden: hidden)
        }
    }

    /// A centre of one value is written with the input width and read back; a centre of the wrong
    /// length is refused with the file and tensor named.
    func testPerTensorCentreRoundTripsAndBadCentreIsRefused() throws {
        let k = 70, n = 2, words = 2
        var rng = SplitMix64(seed: 14)
        let bits = (0..<n * words).map { i in i % words == words - 1 ? UInt64.random(in: 0...UInt64.max, using: &rng) & ((1 << 6) - 1) : UInt64.random(in: 0...UInt64.max, using: &rng) }
        let weights = QHeadWeights(kind: .linear, tensors: ["qhead.linear.weight": ([n, k], [Float](repeating: 0.1, count: n * k)), "qhead.linear.bias": ([n], [0, 0])])
        func file(center: [Float]) throws -> String {
            var writer = GGUFWriter()
            let layer = BinaryConverter.Layer(inFeatures: k, outFeatures: n, bits: bits, scale: [0.5, -0.25], bias: [0.1, 0.2], center: center)
            try BinaryConverter.write([layer], head: weights, into: &writer)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bnn-\(UUID().uuidString).gguf").path
            try writer.write(to: path)
            return path
        }
        let one = try file(center: [0.25])
        defer { try? FileManager.default.removeItem(atPath: one) }
        let perTensor = try XCTUnwrap(try QHeadLoader.load(file: GGUFFile(path: one)))
        let expanded = try file(center: [Float](repeating: 0.25, count: k))
        defer { try? FileManager.default.removeItem(atPath: expanded) }
        let perFeature = try XCTUnwrap(try QHeadLoader.load(file: GGUFFile(path: expanded)))
        XCTAssertEqual(perTensor.inputSize, k)
        XCTAssertEqual(perFeature.byteSize - perTensor.byteSize, 2 * (k - 1), "F16 centres stored")
        let x = (0..<5 * k).map { _ in Float.random(in: -1...1, using: &rng) }
        XCTAssertEqual(QHeadSession(head: perTensor, capacity: 5).evaluate(x, batch: 5), QHeadSession(head: perFeature, capacity: 5).evaluate(x, batch: 5))

        let bad = try file(center: [Float](repeating: 0, count: 3))
        defer { try? FileManager.default.removeItem(atPath: bad) }
        XCTAssertThrowsError(try QHeadLoader.load(file: GGUFFile(path: bad))) { error in
            XCTAssertTrue("\(error)".contains(bad) && "\(error)".contains("qhead.bnn.0"), "\(error)")
        }
    }
}
