/// The text of a quoted string literal in a template, escapes decoded.
enum JinjaStringLiteral {
    /// Backslash escapes as jinja2 decodes string literals (Python's "unicode-escape" after
    /// "backslashreplace"): the Python escapes, unknown ones kept as written.
    static func decode(_ body: [Unicode.Scalar]) throws -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        func hex(_ count: Int) throws -> Unicode.Scalar {
            guard i + 1 + count <= body.count,
                  body[(i + 1) ... (i + count)].allSatisfy({ $0.properties.isASCIIHexDigit }),
                  let value = UInt32(PyString.string(body[(i + 1) ... (i + count)]), radix: 16) else {
                throw JinjaFailure(kind: .syntax, message: "truncated \\\(PyString.string([body[i]])) escape in a string literal")
            }
            guard let scalar = Unicode.Scalar(value) else {
                throw JinjaFailure.unsupported("string escape for U+\(String(value, radix: 16, uppercase: true)) (a surrogate or beyond Unicode)")
            }
            i += count
            return scalar
        }
        while i < body.count {
            let c = body[i]
            guard c == "\\", i + 1 < body.count else {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            let e = body[i]
            switch e {
            case "\n": break
            case "\\", "'", "\"": out.append(e)
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "0" ... "7":
                var value = e.value - 48
                var digits = 1
                while digits < 3, i + 1 < body.count, ("0" ... "7").contains(body[i + 1]) {
                    i += 1
                    value = value * 8 + body[i].value - 48
                    digits += 1
                }
                out.append(Unicode.Scalar(value)!)
            case "x": out.append(try hex(2))
            case "u": out.append(try hex(4))
            case "U": out.append(try hex(8))
            case "N":
                throw JinjaFailure.unsupported("\\N{...} escapes in string literals")
            default:
                // jinja2 first writes non-ASCII as \x/\u escapes, so a backslash before one
                // keeps the backslash and then that escape's text.
                out.append("\\")
                if e.value > 0x7F { out.append(contentsOf: PyString.hexEscape(e).unicodeScalars.dropFirst()) } else { out.append(e) }
            }
            i += 1
        }
        return String(out)
    }
}
