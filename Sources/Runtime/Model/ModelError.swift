/// Errors found while loading or running a model file.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case badMetadata(file: String, detail: String)
    case missingTensor(file: String, name: String)
    case badShape(file: String, name: String, expected: [Int], found: [Int])
    case unsupportedType(file: String, name: String, type: String)
    case badInput(String)
    /// A model produced NaN or infinity: `detail` names the input and the step (or token).
    case nonFinite(String)
    /// A tensor holds NaN or infinity.
    case nonFiniteTensor(file: String, name: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .badMetadata(file, detail):
            return "\(file): bad model metadata: \(detail)"
        case let .missingTensor(file, name):
            return "\(file): tensor '\(name)' is missing"
        case let .badShape(file, name, expected, found):
            return "\(file): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .unsupportedType(file, name, type):
            return "\(file): tensor '\(name)' has type \(type), which this runtime cannot compute with"
        case let .badInput(detail):
            return detail
        case let .nonFinite(detail):
            return "the model produced a non-finite number: \(detail)"
        case let .nonFiniteTensor(file, name, index, value):
            return "\(file): tensor '\(name)' holds \(value) at index \(index)"
        }
    }
}
