/// Errors of `recur export`: what in the checkpoint or configuration does not fit an official TRM/HRM.
public enum ExportError: Error, CustomStringConvertible, Equatable {
    case missingConfig(String)
    case badConfig(file: String, detail: String)
    case missingTensor(file: String, name: String)
    case unexpectedTensors(file: String, names: [String])
    case badShape(file: String, name: String, expected: [Int], found: [Int])
    case needsOverride(String)
    case unsupportedType(String)
    case nonFinite(file: String, name: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .missingConfig(detail):
            return detail
        case let .badConfig(file, detail):
            return "\(file): \(detail)"
        case let .missingTensor(file, name):
            return "\(file): tensor '\(name)' is missing"
        case let .unexpectedTensors(file, names):
            let shown = names.prefix(5).joined(separator: ", ")
            return "\(file): \(names.count) tensor(s) that no layer of the configured model uses: \(shown)\(names.count > 5 ? ", ..." : "")"
        case let .badShape(file, name, expected, found):
            return "\(file): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .needsOverride(detail):
            return detail
        case let .unsupportedType(detail):
            return detail
        case let .nonFinite(file, name, index, value):
            return "\(file): tensor '\(name)' holds \(value) at index \(index) (a model with NaN or infinity cannot run; --allow-non-finite exports it anyway)"
        }
    }
}
