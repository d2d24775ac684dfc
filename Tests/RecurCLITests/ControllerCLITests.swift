import Foundation
import Runtime
import TestSupport
import XCTest

/// `recur generate --controller FILE [--alpha-max A] [--show-gate]` on the tiny random llama with
/// a random controller: the gate's alpha per generated token in `--json` and on stderr, alpha 0
/// generating the plain model's tokens, and refused arguments.
final class ControllerCLITests: XCTestCase {
    private func files() throws -> (model: String, controller: String) {
        let dir = try CLI.temporaryDirectory()
        let model = dir.appendingPathComponent("tiny.gguf"), controller = dir.appendingPathComponent("ctl.gguf")
        try TinyLlama().write(to: model)
        try TinyController().write(to: controller)
        return (model.path, controller.path)
    }

    private func json(_ args: [String]) throws -> [String: Any] {
        let r = try runSucceeding(["generate"] + args + ["--json"], seconds: 60)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func testGenerateWithAController() throws {
        let (model, controller) = try files()
        let common = ["-m", model, "-p", "Hello there", "-n", "12", "--temp", "0", "--ignore-eos"]
        let plain = try json(common)
        let steered = try json(common + ["--controller", controller])
        let zero = try json(common + ["--controller", controller, "--alpha-max", "0"])
        XCTAssertEqual(zero["tokens"] as? [Int], plain["tokens"] as? [Int], "--alpha-max 0 generates the plain model's tokens")
        XCTAssertNil(plain["gate_alpha"], "no gate without a controller")
        let alphas = try XCTUnwrap(steered["gate_alpha"] as? [[Double]])
        XCTAssertEqual(alphas.count, 12, "one row per generated token")
        XCTAssertTrue(alphas.allSatisfy { $0.count == 2 && $0.allSatisfy { $0 > 0 && $0 <= 1 } }, "\(alphas)")
        XCTAssertTrue((zero["gate_alpha"] as? [[Double]])?.joined().allSatisfy { $0 == 0 } ?? false)

        let shown = try runSucceeding(["generate"] + common + ["--controller", controller, "--show-gate", "--alpha-max", "0.5"], seconds: 60)
        XCTAssertTrue(shown.stderr.contains("gate alpha per generated token (layers 0, 1; alpha_max 0.500)"), shown.stderr)
        let rows = shown.stderr.split(separator: "\n").drop { !$0.hasPrefix("gate alpha") }.dropFirst().prefix(12)
        XCTAssertEqual(rows.count, 12, shown.stderr)
    }

    func testRefusedArguments() throws {
        let (model, controller) = try files()
        for (args, says) in [
            (["--controller", controller, "--alpha-max", "1.5"], "--alpha-max must lie in [0, 1], got 1.5"),
            (["--controller", controller, "--alpha-max", "-1"], "--alpha-max must lie in [0, 1]"),
            (["--alpha-max", "0.5"], "--alpha-max and --show-gate need --controller FILE"),
            (["--show-gate"], "--alpha-max and --show-gate need --controller FILE"),
            (["--controller", model], "not an attention controller"),
            (["--controller", controller + ".missing"], "ctl.gguf.missing"),
        ] {
            let r = try CLI.run(["generate", "-m", model, "-p", "Hi", "-n", "2"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(says), "\(args): \(r.stderr)")
            XCTAssertTrue(r.stdout.isEmpty, "\(args): nothing generated: \(r.stdout)")
        }
    }
}
