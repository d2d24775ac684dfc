import Export
import Foundation
import Runtime
import XCTest

/// Writing a head in a storage format and running it as the runtime does, shared by the Q-head tests.
enum QHeadHarness {
    /// `head` stored as `storage` (calibrated on `calibration`, `steps` states per sequence),
    /// written to a GGUF file and loaded back by `QHeadLoader`.
    static func load(_ head: QHeadWeights, _ storage: QHeadStorage, calibration: [Float], steps: Int = 1, hidden: Int) throws -> QHead {
        var writer = GGUFWriter()
        try QHeadAttacher.add(head, storage: storage, calibration: calibration, steps: steps, to: &writer)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-qhead-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)
        guard let loaded = try QHeadLoader.load(file: GGUFFile(path: path), hidden: hidden) else { throw XCTSkip("no head written") }
        return loaded
    }

    /// q of every step of every sequence (`x`: sequences x `steps` rows, sequence-major), each
    /// sequence in its own slot, in the same order.
    static func run(_ head: QHead, _ x: [Float], steps: Int = 1) -> [Float] {
        do { return try QHeadTracer.evaluate(head, states: x, steps: steps) } catch {
            XCTFail("\(error)")
            return []
        }
    }

    /// Mean |q - float q| / max |float q| of the SNN form at 8, 64 and 512 ticks, which must fall
    /// as ticks grow and end under 5%; asserted here, returned for printing.
    @discardableResult
    static func checkSpikingApproachesFloat(_ weights: QHeadWeights, calibration: [Float], _ x: [Float], steps: Int = 1, hidden: Int,
                                            file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        let reference = run(try load(weights, .float(.f32), calibration: [], hidden: hidden), x, steps: steps)
        let scale = max(reference.map(abs).max() ?? 1, 1e-3)
        var errors: [Float] = []
        for t in [8, 64, 512] {
            let head = try load(weights, .snn(timesteps: t, leak: 1), calibration: calibration, steps: steps, hidden: hidden)
            XCTAssertEqual(head.format, .snn, file: file, line: line)
            XCTAssertTrue(head.summary.contains("SNN"), head.summary, file: file, line: line)
            let q = run(head, x, steps: steps)
            errors.append(zip(q, reference).map { abs($0 - $1) }.reduce(0, +) / Float(q.count) / scale)
        }
        let kind = weights.kind.rawValue
        print("\(kind) SNN mean relative error at T 8, 64, 512: \(errors)")
        XCTAssertLessThan(errors[2], errors[0], "\(kind): more ticks should approximate better", file: file, line: line)
        XCTAssertLessThan(errors[2], 0.05, "\(kind): SNN at 512 ticks", file: file, line: line)
        return errors
    }
}
