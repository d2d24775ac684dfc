/// Problems with a halting head file, its calibration data or the model it is attached to.
public enum QHeadExportError: Error, CustomStringConvertible, Equatable {
    case badHead(file: String, detail: String)
    case badCalibration(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .badHead(file, detail): return "\(file): \(detail)"
        case let .badCalibration(detail): return "calibration: \(detail)"
        case let .unsupported(detail): return detail
        }
    }
}
