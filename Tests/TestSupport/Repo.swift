import Foundation

/// Where tests find the checkout, the shared data beside it, and scratch folders.
public enum Repo {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// `../shared`: the trained checkpoint and evaluation data (CI puts it beside the clone).
    public static let shared = root.deletingLastPathComponent().appendingPathComponent("shared")

    /// A fresh empty folder under the system's temporary directory.
    public static func temporaryDirectory(_ prefix: String = "recur-test") throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The `recur` executable the tests drive: beside the test bundle (.build/<config>/recur), else
    /// a build in the checkout.
    public static var recurExecutable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("recur")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        for config in ["debug", "release"] {
            let candidate = root.appendingPathComponent(".build/\(config)/recur")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return root.appendingPathComponent(".build/debug/recur")
    }

    /// Set in CI: a missing reference (PyTorch, gguf, ../shared) fails instead of skipping.
    public static var referenceRequired: Bool { ProcessInfo.processInfo.environment["RECUR_REQUIRE_REFERENCE"] == "1" }
}
