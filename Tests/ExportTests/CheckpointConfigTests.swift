import Export
import Foundation
import XCTest

/// YAML typing must follow Python's yaml.safe_load (YAML 1.1), which wrote and reads these configs.
final class CheckpointConfigTests: XCTestCase {
    /// Scalars whose type differs between YAML 1.1 and 1.2 or between plain and quoted styles.
    private static let tricky = """
    arch:
      hidden_size: 512
      quoted_int: '512'
      octal: 010
      not_octal: 09
      hex: 0x1F
      binary: 0b101
      underscored: 1_000
      sexagesimal: 1:30
      sexagesimal_float: 1:30.5
      negative: -7
      plus: +3
      eps_no_dot: 1e-5
      eps_dot: 1.0e-5
      lr: 0.0003
      trailing_dot: 2.
      leading_dot: .5
      inf: .inf
      minus_inf: -.Inf
      yes_word: yes
      off_word: Off
      true_word: True
      null_tilde: ~
      null_word: null
      empty:
      tagged_str: !!str 42
      tagged_float: !!float 3
      name: recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1
      list: [1, 2.5, "three", no]
    defaults: &defaults
      a: 1
      b: two
    derived:
      <<: *defaults
      b: three
    nested:
      - {x: 1}
      - [a, b]
    """

    func testTrickyScalarsMatchSafeLoad() throws {
        let folder = try CheckpointFixtures.temporaryFolder("yaml")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("config.yaml")
        try Self.tricky.write(to: url, atomically: true, encoding: .utf8)
        let reference = try CheckpointFixtures.runPython("dump_yaml.py", [url.path])
        let config = try TrainingConfig.load(url.path)
        XCTAssertEqual(canonicalYAML(.map(config.root)), reference.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(config.arch["eps_no_dot"]?.string, "1e-5", "YAML 1.1 has no float without a dot")
    }

    func testMissingArchIsEmpty() throws {
        let config = try TrainingConfig.parse("lr: 1\n")
        XCTAssertTrue(config.arch.isEmpty)
        XCTAssertEqual(config.root["lr"]?.double, 1.0)
    }

    func testInvalidConfigsAreErrors() {
        assertCheckpointError(["config.yaml", "not a mapping"]) { try TrainingConfig.parse("- 1\n- 2\n", path: "config.yaml") }
        assertCheckpointError(["config.yaml", "YAML syntax"]) { try TrainingConfig.parse("a: [1, 2\n", path: "config.yaml") }
        assertCheckpointError(["config.yaml", "python/object:os.system", "not plain data"]) {
            try TrainingConfig.parse("a: !!python/object:os.system x\n", path: "config.yaml")
        }
        assertCheckpointError(["missing.yaml", "cannot read"]) { try TrainingConfig.load("missing.yaml") }
    }
}
