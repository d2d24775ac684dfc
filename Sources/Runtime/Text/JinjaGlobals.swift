import Foundation

/// The functions a template can call without being given them: jinja2's own globals and the
/// two transformers adds (`raise_exception`, `strftime_now`).
enum JinjaGlobals {
    /// jinja2's sandbox refuses ranges longer than this.
    static let maximumRange = 100_000

    static func functions() -> [String: JinjaValue] {
        var globals: [String: JinjaValue] = [:]
        func define(_ name: String, _ body: @escaping (JinjaArguments) throws -> JinjaValue) {
            globals[name] = .function(JinjaFunction(name: name, call: body))
        }
        define("raise_exception") { args in
            let message = try args.bind("raise_exception", ["message"], required: 1)[0]!
            throw JinjaFailure(kind: .raised, message: try message.str())
        }
        define("namespace") { args in
            var attributes = JinjaDict()
            guard args.positional.count <= 1 else { throw JinjaFailure.runtime("namespace() takes at most one positional argument") }
            if let initial = args.positional.first {
                guard case .dict(let d) = initial else { throw JinjaFailure.unsupported("namespace() from a \(initial.typeName)") }
                attributes = d
            }
            for keyword in args.keywords { attributes[.string(keyword.name)] = keyword.value }
            return .namespace(JinjaNamespace(attributes))
        }
        define("dict") { args in
            guard args.positional.isEmpty else { throw JinjaFailure.unsupported("dict() with positional arguments") }
            return .dict(JinjaDict(args.keywords.map { JinjaDictItem(key: .string($0.name), value: $0.value) }))
        }
        define("range") { args in
            guard args.keywords.isEmpty, (1 ... 3).contains(args.positional.count) else {
                throw JinjaFailure.runtime("range expects 1 to 3 integer arguments")
            }
            let numbers = try args.positional.map { try $0.requireInt("a range bound") }
            let start = numbers.count == 1 ? 0 : numbers[0]
            let stop = numbers.count == 1 ? numbers[0] : numbers[1]
            let step = numbers.count == 3 ? numbers[2] : 1
            guard step != 0 else { throw JinjaFailure.runtime("range() arg 3 must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= maximumRange else {
                throw JinjaFailure.runtime("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(maximumRange)).")
            }
            return .list((0 ..< count).map { .int(start + $0 * step) })
        }
        define("strftime_now") { args in
            let format = try args.bind("strftime_now", ["format"], required: 1)[0]!.requireString("the strftime format")
            return .string(try strftimeNow(format))
        }
        for name in ["lipsum", "cycler", "joiner"] {
            define(name) { _ in throw JinjaFailure.unsupported("the global function '\(name)'") }
        }
        return globals
    }

    /// The local time formatted by the C library's strftime, as Python's datetime does.
    static func strftimeNow(_ format: String) throws -> String {
        var now = time(nil)
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { throw JinjaFailure.runtime("strftime_now: no local time") }
        var buffer = [CChar](repeating: 0, count: 512)
        let written = strftime(&buffer, buffer.count, format, &parts)
        guard written > 0 || format.isEmpty else { throw JinjaFailure.unsupported("strftime_now format '\(format)'") }
        return String(decoding: buffer[..<written].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
