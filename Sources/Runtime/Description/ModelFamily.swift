/// A model family: the small piece of code that reads one kind of GGUF file (its metadata keys and
/// tensor names) into a `ModelDescription`, as llama.cpp's per-architecture model files do.
public protocol ModelFamily {
    /// The `general.architecture` values this family reads.
    static var architectures: [String] { get }
    static func describe(_ file: GGUFFile) throws -> ModelDescription
}

/// The families Recur knows, keyed by `general.architecture`.
public enum ModelFamilies {
    public static let all: [ModelFamily.Type] = [RecursiveFamily.self, RecursiveLMFamily.self, LlamaFamily.self, RuleLatentFamily.self, NSSRFamily.self]

    public static func family(for architecture: String) -> ModelFamily.Type? {
        all.first { $0.architectures.contains(architecture) }
    }

    /// Every architecture Recur runs, for error messages.
    public static var architectures: [String] { all.flatMap { $0.architectures } }

    /// The description of `file`, or a clear error naming its architecture when no family reads it.
    public static func describe(_ file: GGUFFile) throws -> ModelDescription {
        guard let arch = file.value("general.architecture")?.string else {
            throw ModelError.badMetadata(file: file.path, detail: "general.architecture is missing")
        }
        guard let family = family(for: arch) else {
            throw ModelError.badMetadata(
                file: file.path,
                detail: "general.architecture is '\(arch)'; Recur runs \(architectures.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return try family.describe(file)
    }
}
