import Foundation
import Runtime

/// The NSSR model (Runtime's `NSSRModel`) as the search's guide: each call of a task's closure
/// runs one more supervision step on the task's carry.
public struct ModelGuide: SearchGuide {
    public let model: NSSRModel

    public init(model: NSSRModel) { self.model = model }

    public var functionNames: [String] { model.functionNames }
    public var supervisionSteps: Int { model.supervisionSteps }

    public func start(rows: [[Double]]) throws -> () -> GuideHeads {
        let run = try model.start(rows: rows)
        return { run.step() }
    }
}

/// Loads the NSSR model at `path` as the search's guide; a file of another architecture, or a
/// damaged one, is refused with the loader's message.
public func loadSearchGuide(path: String) throws -> SearchGuide {
    guard FileManager.default.fileExists(atPath: path) else {
        throw NSSRError("\(path): no such model file; pass --model FILE.gguf")
    }
    return ModelGuide(model: try NSSRModel(path: path))
}
