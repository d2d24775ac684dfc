import Foundation
import Runtime
import TestSupport
import XCTest

/// The NSSR family and model (docs/nssr.md) on a tiny random file: the description the family
/// reads, the features, determinism, the carry between supervision steps, quantized files, and
/// refused metadata and inputs.
final class NSSRModelTests: XCTestCase {
    private func write(_ model: TinyNSSRModel, type: GGMLType = .f32) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nssr-\(UUID().uuidString).gguf")
        try model.write(to: url, type: type)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    private let rows: [[Double]] = [[3, -2, 1], [4, 0.5, 2.5], [-7, 9, 2], [12, 1, 13]]

    func testDescriptionIsTheRecursiveScheduleWithFiveHeads() throws {
        let d = try ModelFamilies.describe(GGUFFile(path: write(TinyNSSRModel())))
        XCTAssertEqual(d.architecture, "nssr")
        XCTAssertEqual(d.input, .features(width: TinyNSSRModel.inputWidth))
        XCTAssertEqual(d.learnedInitialStates, ["y", "z"])
        XCTAssertEqual(d.heads.map(\.tensor), ["head_primary", "head_secondary", "head_tertiary", "head_composition", "head_halt"])
        XCTAssertEqual(d.heads.map(\.width), [22, 22, 22, 4, 1])
        XCTAssertTrue(d.heads.allSatisfy { $0.positions == .mean && $0.state == "y" })
        let passes = d.schedule.passes
        XCTAssertEqual(passes.count, TinyNSSRModel.t * (TinyNSSRModel.n + 1))
        XCTAssertEqual(passes[0], Schedule.Pass(stack: "blocks", state: "z", inject: ["x", "y"], norm: "recursion_norm"))
        XCTAssertEqual(passes[TinyNSSRModel.n], Schedule.Pass(stack: "blocks", state: "y", inject: ["z"], norm: "recursion_norm"))
        XCTAssertFalse(d.isCausal)
        guard case let .attention(a) = try XCTUnwrap(d.stacks.first).block.mixer else { return XCTFail("attention mixer") }
        XCTAssertTrue(a.biases && a.outputBias && !a.causal)
        XCTAssertEqual(d.halting?.maxSteps, TinyNSSRModel.steps)
    }

    func testFeatures() {
        XCTAssertEqual(NSSRModel.features(of: 250), [2.5, 1, Float(log1p(250.0)), 0])
        XCTAssertEqual(NSSRModel.features(of: -1.25), [-0.0125, -1, Float(log1p(1.25)), -0.25])
        XCTAssertEqual(NSSRModel.features(of: 0), [0, 0, 0, 0])
    }

    func testFeatureRowsPutTheOutputLastAndReadAtMostSeqLenRows() throws {
        let model = try NSSRModel(path: write(TinyNSSRModel()))
        XCTAssertEqual(model.valuesPerRow, 3)
        // Three inputs: only the first two fit beside the output.
        let f = try model.features(rows: [[1, 2, 3, 4]] + Array(repeating: [5, 6, 7, 8], count: 9))
        XCTAssertEqual(f.count, TinyNSSRModel.seqLen * TinyNSSRModel.inputWidth)
        XCTAssertEqual(Array(f[0..<12]), NSSRModel.features(of: 1) + NSSRModel.features(of: 2) + NSSRModel.features(of: 4))
        // One input: the middle slot stays zero.
        let g = try model.features(rows: [[9, 10]])
        XCTAssertEqual(g, NSSRModel.features(of: 9) + [0, 0, 0, 0] + NSSRModel.features(of: 10))
    }

    func testStepsAreDeterministicAndCarryTheStates() throws {
        let model = try NSSRModel(path: write(TinyNSSRModel()))
        let a = try model.start(rows: rows), b = try model.start(rows: rows)
        let first = a.step(), again = b.step()
        XCTAssertEqual(first, again, "the same rows give the same bits")
        XCTAssertEqual(first.primary.count, 22)
        XCTAssertEqual(first.composition.count, 4)
        XCTAssertTrue((first.primary + first.secondary + first.tertiary + first.composition + [first.halt]).allSatisfy(\.isFinite))
        let second = a.step()
        XCTAssertNotEqual(first.primary, second.primary, "the second step starts from the first one's carry")
        XCTAssertEqual(a.steps, 2)
        let other = try model.start(rows: rows.reversed()).step()
        XCTAssertNotEqual(other.primary, first.primary, "positions make the row order matter")
    }

    func testQuantizedFilesStayCloseToF32() throws {
        let f32 = try NSSRModel(path: write(TinyNSSRModel())).start(rows: rows).step()
        for type in [GGMLType.f16, .q8_0] {
            let q = try NSSRModel(path: write(TinyNSSRModel(), type: type)).start(rows: rows).step()
            let scale = f32.primary.map(abs).max()!
            let err = zip(q.primary, f32.primary).map { abs($0 - $1) }.max()! / scale
            XCTAssertLessThan(err, type == .f16 ? 0.01 : 0.05, "\(type.name)")
            XCTAssertGreaterThan(err, 0, "\(type.name) really is quantized")
        }
    }

    func testRefusedMetadataAndInputs() throws {
        var model = TinyNSSRModel()
        model.set("nssr.functions", .array([.string("OR")]))
        XCTAssertThrowsError(try NSSRModel(path: write(model))) { XCTAssertTrue("\($0)".contains("nssr.functions"), "\($0)") }
        model = TinyNSSRModel()
        model.set("nssr.input_length", .uint32(10))
        XCTAssertThrowsError(try NSSRModel(path: write(model))) { XCTAssertTrue("\($0)".contains("nssr.input_length"), "\($0)") }
        model = TinyNSSRModel()
        model.set("nssr.recursion.n", nil)
        XCTAssertThrowsError(try NSSRModel(path: write(model))) { XCTAssertTrue("\($0)".contains("nssr.recursion.n"), "\($0)") }
        model = TinyNSSRModel()
        model.tensors.removeAll { $0.name == "head_halt.bias" }
        XCTAssertThrowsError(try NSSRModel(path: write(model))) { XCTAssertTrue("\($0)".contains("head_halt.bias"), "\($0)") }

        let ok = try NSSRModel(path: write(TinyNSSRModel()))
        XCTAssertThrowsError(try ok.start(rows: [])) { XCTAssertTrue("\($0)".contains("at least one row"), "\($0)") }
        XCTAssertThrowsError(try ok.start(rows: [[1]])) { XCTAssertTrue("\($0)".contains("inputs, then the output"), "\($0)") }
        XCTAssertThrowsError(try ok.start(rows: [[1, .nan]])) { XCTAssertTrue("\($0)".contains("not finite"), "\($0)") }
    }
}
