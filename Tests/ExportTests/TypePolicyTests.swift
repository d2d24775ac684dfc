import Export
import Runtime
import XCTest

/// Glob matching and rule parsing of the export type policy, against the fnmatch semantics users
/// know from shells (checked here by hand-enumerated cases that can each fail independently).
final class TypePolicyTests: XCTestCase {
    func testGlobMatching() {
        let cases: [(String, String, Bool)] = [
            ("L.blk.*.ffn_down.weight", "L.blk.0.ffn_down.weight", true),
            ("L.blk.*.ffn_down.weight", "L.blk.12.ffn_down.weight", true),
            ("L.blk.*.ffn_down.weight", "L.blk.0.ffn_up.weight", false),
            ("L.blk.?.attn_*", "L.blk.1.attn_qkv.weight", true),
            ("L.blk.?.attn_*", "L.blk.10.attn_qkv.weight", false),
            ("*", "anything", true),
            ("*", "", true),
            ("", "x", false),
            ("output.weight", "output.weight", true),
            ("output.weight", "output.weights", false),
            ("*weight", "qhead.bias", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYcZ", false),
        ]
        for (pattern, name, expected) in cases {
            XCTAssertEqual(TypePolicy.Rule(pattern: pattern, type: .q8_0).matches(name), expected, "\(pattern) vs \(name)")
        }
    }

    func testRuleParsing() throws {
        let rule = try TypePolicy.Rule(parsing: "L.blk.*.ffn_down.weight=Q4_1")
        XCTAssertEqual(rule, TypePolicy.Rule(pattern: "L.blk.*.ffn_down.weight", type: .q4_1))
        XCTAssertThrowsError(try TypePolicy.Rule(parsing: "no-equals-sign"))
        XCTAssertThrowsError(try TypePolicy.Rule(parsing: "x=bf16"), "only export types are accepted")
    }

    func testDescriptionRecordsRules() throws {
        let policy = TypePolicy(weights: .q8_0, rules: [try TypePolicy.Rule(parsing: "output.weight=q8_0")])
        XCTAssertEqual(policy.description, "linear=Q8_0;output=F16;embeddings,h_init,l_init,qhead=F32;rules=output.weight=Q8_0")
    }
}
