import Foundation
import Yams

/// Turns a composed YAML node tree into `ConfigValue`s with PyYAML's safe_load rules (YAML 1.1
/// implicit types, `<<` merge keys), so Swift sees the same types as the Python that wrote and
/// reads these configs. Yams' own resolver follows YAML 1.2, which types `1e-5` and `010`
/// differently.
struct YAMLValueBuilder {
    let path: String
    /// Configs are shallow; the bound keeps a hostile file from exhausting the stack.
    static let maxDepth = 200

    private func bad(_ reason: String, _ mark: Mark?) -> CheckpointError {
        let location = mark.map { " (line \($0.line), column \($0.column))" } ?? ""
        return .invalidConfig(file: path, reason: reason + location)
    }

    func value(_ node: Node, depth: Int) throws -> ConfigValue {
        guard depth <= Self.maxDepth else { throw bad("nesting deeper than \(Self.maxDepth) levels", node.mark) }
        switch node {
        case let .scalar(scalar):
            return try Self.scalarValue(scalar, path: path)
        case let .sequence(sequence):
            try requireDefaultTag(sequence.tag.description, "tag:yaml.org,2002:seq", sequence.mark)
            return .list(try sequence.map { try value($0, depth: depth + 1) })
        case let .mapping(mapping):
            try requireDefaultTag(mapping.tag.description, "tag:yaml.org,2002:map", mapping.mark)
            return .map(try map(mapping, depth: depth))
        case let .alias(alias):
            throw bad("unresolved alias *\(alias.anchor)", alias.mark)
        }
    }

    private func requireDefaultTag(_ tag: String, _ expected: String, _ mark: Mark?) throws {
        guard tag.isEmpty || tag == "!" || tag == expected else {
            throw bad("tag \(tag) is not plain data (safe_load would refuse it too)", mark)
        }
    }

    /// Later keys override earlier ones and explicit keys override merged (`<<`) ones, as in PyYAML.
    private func map(_ mapping: Node.Mapping, depth: Int) throws -> [String: ConfigValue] {
        var merged: [String: ConfigValue] = [:]
        var own: [String: ConfigValue] = [:]
        for (keyNode, valueNode) in mapping {
            guard case let .scalar(keyScalar) = keyNode else {
                throw bad("mapping keys must be scalars", keyNode.mark)
            }
            if keyScalar.string == "<<", keyScalar.style == .plain || keyScalar.style == .any {
                let sources: [Node]
                switch valueNode {
                case .mapping: sources = [valueNode]
                case let .sequence(list): sources = Array(list)
                default: throw bad("a merge key (<<) needs a mapping or a list of mappings", valueNode.mark)
                }
                // Earlier sources win over later ones in a merge list.
                for source in sources.reversed() {
                    guard case let .map(entries) = try value(source, depth: depth + 1) else {
                        throw bad("a merge key (<<) needs a mapping or a list of mappings", source.mark)
                    }
                    merged.merge(entries) { _, new in new }
                }
                continue
            }
            // Keys are text here: PyYAML would type `1:` as int 1; configs use names.
            own[keyScalar.string] = try value(valueNode, depth: depth + 1)
        }
        return merged.merging(own) { _, explicit in explicit }
    }

    static func scalarValue(_ scalar: Node.Scalar, path: String) throws -> ConfigValue {
        let text = scalar.string
        let tag = scalar.tag.description
        func bad(_ reason: String) -> CheckpointError {
            let location = scalar.mark.map { " (line \($0.line), column \($0.column))" } ?? ""
            return .invalidConfig(file: path, reason: reason + location)
        }
        switch tag {
        case "":
            guard scalar.style == .plain || scalar.style == .any else { return .string(text) }
            return try implicitValue(text) ?? .string(text)
        case "!", "tag:yaml.org,2002:str":
            return .string(text)
        case "tag:yaml.org,2002:int":
            guard let value = parseInt(text) else { throw bad("'\(text)' is not an int") }
            return .int(value)
        case "tag:yaml.org,2002:float":
            guard let value = parseFloat(text) else { throw bad("'\(text)' is not a float") }
            return .double(value)
        case "tag:yaml.org,2002:bool":
            guard let value = parseBool(text) else { throw bad("'\(text)' is not a bool") }
            return .bool(value)
        case "tag:yaml.org,2002:null":
            return .null
        default:
            throw bad("tag \(tag) is not plain data (safe_load would refuse it too)")
        }
    }

    // MARK: - YAML 1.1 implicit resolution (PyYAML's resolver.py)

    private static func regex(_ pattern: String) -> NSRegularExpression {
        // The patterns are constants of this file; a failure is a programming error caught by tests.
        // swiftlint:disable:next force_try
        try! NSRegularExpression(pattern: "^(?:" + pattern + ")$", options: [])
    }

    private static let boolPattern = regex("yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF")
    private static let floatPattern = regex(
        #"[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"#)
    private static let intPattern = regex(
        #"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"#)
    private static let nullPattern = regex("~|null|Null|NULL|")
    private static func matches(_ pattern: NSRegularExpression, _ text: String) -> Bool {
        pattern.firstMatch(in: text, options: [], range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// PyYAML tries resolvers by first character in registration order: bool, float, int, null,
    /// timestamp. A timestamp stays a string here (ConfigValue has no date).
    private static func implicitValue(_ text: String) throws -> ConfigValue? {
        if matches(boolPattern, text) { return parseBool(text).map(ConfigValue.bool) }
        if matches(floatPattern, text) { return parseFloat(text).map(ConfigValue.double) }
        if matches(intPattern, text) {
            guard let value = parseInt(text) else { return .string(text) }
            return .int(value)
        }
        if matches(nullPattern, text) { return .null }
        return nil
    }

    static func parseBool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "true", "on": return true
        case "no", "false", "off": return false
        default: return nil
        }
    }

    /// PyYAML's construct_yaml_int: underscores dropped, 0b / 0x / leading-0 octal / base-60.
    /// Returns nil when the value does not fit in Int.
    static func parseInt(_ text: String) -> Int? {
        var value = text.replacingOccurrences(of: "_", with: "")
        var negative = false
        if value.hasPrefix("-") { negative = true }
        if value.hasPrefix("-") || value.hasPrefix("+") { value.removeFirst() }
        guard !value.isEmpty else { return nil }
        let magnitude: Int?
        if value == "0" {
            magnitude = 0
        } else if value.hasPrefix("0b") {
            magnitude = Int(value.dropFirst(2), radix: 2)
        } else if value.hasPrefix("0x") {
            magnitude = Int(value.dropFirst(2), radix: 16)
        } else if value.hasPrefix("0") {
            magnitude = Int(value, radix: 8)
        } else if value.contains(":") {
            var total = 0
            for part in value.split(separator: ":", omittingEmptySubsequences: false) {
                guard let digit = Int(part) else { return nil }
                let (scaled, o1) = total.multipliedReportingOverflow(by: 60)
                let (sum, o2) = scaled.addingReportingOverflow(digit)
                guard !o1, !o2 else { return nil }
                total = sum
            }
            magnitude = total
        } else {
            magnitude = Int(value)
        }
        guard let magnitude else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// PyYAML's construct_yaml_float.
    static func parseFloat(_ text: String) -> Double? {
        var value = text.replacingOccurrences(of: "_", with: "").lowercased()
        var sign = 1.0
        if value.hasPrefix("-") { sign = -1 }
        if value.hasPrefix("-") || value.hasPrefix("+") { value.removeFirst() }
        if value == ".inf" { return sign * .infinity }
        if value == ".nan" { return .nan }
        if value.contains(":") {
            var total = 0.0
            for part in value.split(separator: ":", omittingEmptySubsequences: false) {
                guard let digit = Double(part) else { return nil }
                total = total * 60 + digit
            }
            return sign * total
        }
        guard let parsed = Double(value) else { return nil }
        return sign * parsed
    }
}
