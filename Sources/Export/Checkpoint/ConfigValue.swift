/// A plain-data YAML value, typed the way Python's `yaml.safe_load` types it (YAML 1.1), because
/// training configs are written and read by Python: `1e-5` stays a string, `010` is octal 8,
/// `yes` is true.
public enum ConfigValue: Sendable, Equatable {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    case list([ConfigValue])
    case map([String: ConfigValue])
    case null

    public var int: Int? {
        if case let .int(value) = self { return value }
        return nil
    }

    /// Also answers for ints: a config that says `lr: 1` means the number 1.0.
    public var double: Double? {
        switch self {
        case let .double(value): return value
        case let .int(value): return Double(value)
        default: return nil
        }
    }

    public var bool: Bool? {
        if case let .bool(value) = self { return value }
        return nil
    }

    public var string: String? {
        if case let .string(value) = self { return value }
        return nil
    }

    public var list: [ConfigValue]? {
        if case let .list(value) = self { return value }
        return nil
    }

    public var map: [String: ConfigValue]? {
        if case let .map(value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }

    public subscript(key: String) -> ConfigValue? {
        map?[key]
    }
}
