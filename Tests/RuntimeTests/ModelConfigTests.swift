import Foundation
import Runtime
import XCTest

/// Metadata a forward pass cannot run, or could only run for hours, fails at load with the file
/// and the value named.
final class ModelConfigTests: XCTestCase {
    private let sudoku = ModelConfig(
        architecture: .trm, hiddenSize: 512, headCount: 8, kvHeadCount: 8, feedForwardLength: 1536, tokenMixFeedForwardLength: 0,
        vocabSize: 11, seqLen: 81, puzzleEmbLen: 16, puzzleEmbDim: 512, puzzleCount: 1, hCycles: 3, lCycles: 6, lLayers: 2, hLayers: 0,
        haltMaxSteps: 16, haltRule: .qHaltPositive, positionEncoding: .rope, tokenMixer: .attention, ropeTheta: 10000, normEpsilon: 1e-5)

    func testImplausibleCountsAreRefused() throws {
        XCTAssertNoThrow(try sudoku.validate(file: "m.gguf"))
        let edits: [(String, (inout ModelConfig) -> Void)] = [
            ("h_cycles 2147483647", { $0.hCycles = Int(Int32.max) }),
            ("l_cycles 1025", { $0.lCycles = 1025 }),
            ("halt_max_steps 65537", { $0.haltMaxSteps = 65537 }),
            ("implausibly large", { $0.seqLen = 1 << 20 }),
            ("must be positive", { $0.haltMaxSteps = 0 }),
        ]
        for (mention, edit) in edits {
            var c = sudoku
            edit(&c)
            XCTAssertThrowsError(try c.validate(file: "m.gguf")) {
                XCTAssertTrue("\($0)".contains("m.gguf") && "\($0)".contains(mention), "\($0)")
            }
        }
    }
}
