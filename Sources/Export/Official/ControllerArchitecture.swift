import Foundation
import Runtime

/// Reads an attention-controller training run (docs/attention-controller.md: a checkpoint whose
/// state_dict keys are `N.controller.fc1.weight`, `N.gate.fc2.bias`, ..., beside an
/// `all_config.yaml` with `arch.name: attn_controller`) into the companion GGUF's metadata and
/// tensor plan (`ctl.N.*`, `gate.N.*`), checking every shape.
public struct ControllerArchitecture {
    public static let architecture = AttentionController.architecture
    public let hiddenSize: Int
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [OfficialArchitecture.TensorPlan]

    public static func matches(_ yaml: TrainingConfig) -> Bool {
        (yaml.arch["name"]?.string ?? "").lowercased() == architecture
    }

    public init(shapes: [String: [Int]], config yaml: TrainingConfig, checkpointPath file: String) throws {
        let arch = yaml.arch
        func fail(_ detail: String) -> ExportError { .badConfig(file: yaml.path, detail: detail) }
        func int(_ key: String) throws -> Int {
            guard let v = arch[key]?.int, v > 0 else { throw fail("arch.\(key) is missing or not a positive integer") }
            return v
        }
        func number(_ key: String) throws -> Double {
            // YAML 1.1 reads `1e-05` as a string, as Python's yaml.safe_load does.
            if let d = arch[key]?.double ?? arch[key]?.string.flatMap(Double.init) { return d }
            throw fail("arch.\(key) is missing or not a number")
        }
        func ints(_ key: String) throws -> [Int] {
            guard let list = arch[key]?.list, !list.isEmpty, list.allSatisfy({ $0.int != nil }) else {
                throw fail("arch.\(key) must be a non-empty list of integers")
            }
            return list.compactMap(\.int)
        }
        let d = try int("d"), window = try int("window"), c = try int("C"), g = try int("G")
        let layers = try ints("layers"), heads = try ints("heads")
        let alphaMax = try number("alpha_max"), eps = try number("eps")
        guard (0...1).contains(alphaMax) else { throw fail("arch.alpha_max \(alphaMax) is outside [0, 1]") }
        let slots = heads.count * (window + 1)

        var b = OfficialArchitecture.PlanBuilder()
        for l in layers {
            func add(_ part: String, _ name: String, _ shape: [Int], dst: String, linear: Bool = false) {
                b.add("\(dst).\(l).\(name)", shape, "\(l).\(part).\(name)", linear: linear)
            }
            add("controller", "fc1.weight", [c, d], dst: "ctl", linear: true)
            add("controller", "fc1.bias", [c], dst: "ctl")
            add("controller", "norm.weight", [c], dst: "ctl")
            add("controller", "norm.bias", [c], dst: "ctl")
            add("controller", "fc2.weight", [slots, c], dst: "ctl", linear: true)
            add("controller", "fc2.bias", [slots], dst: "ctl")
            add("gate", "fc1.weight", [g, d + 2 * heads.count], dst: "gate", linear: true)
            add("gate", "fc1.bias", [g], dst: "gate")
            add("gate", "fc2.weight", [1, g], dst: "gate")
            add("gate", "fc2.bias", [1], dst: "gate")
        }
        try b.check(against: shapes, checkpoint: file, config: yaml.path, what: "a controller of layers \(layers)")
        let a = Self.architecture
        metadata = [
            ("general.architecture", .string(a)),
            ("\(a).target.architecture", .string(arch["target_architecture"]?.string ?? "llama")),
            ("\(a).target.embedding_length", .uint32(UInt32(d))),
            ("\(a).target.head_count", .uint32(UInt32(try int("n_head")))),
            ("\(a).target.block_count", .uint32(UInt32(try int("n_layer")))),
            ("\(a).layers", .array(layers.map { .uint32(UInt32($0)) })),
            ("\(a).heads", .array(heads.map { .uint32(UInt32($0)) })),
            ("\(a).window", .uint32(UInt32(window))),
            ("\(a).alpha_max", .float32(Float(alphaMax))),
            ("\(a).layer_norm_epsilon", .float32(Float(eps))),
        ]
        hiddenSize = d
        tensors = b.plan
    }
}
