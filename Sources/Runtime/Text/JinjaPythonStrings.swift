/// Python's `str` semantics, which chat templates rely on, over Unicode scalars.
///
/// Python strings are sequences of code points: `len`, indexing, slicing, `==` and `in` work on
/// code points, with no canonical equivalence. Swift's `String` compares and counts grapheme
/// clusters, so "e\u{301}" == "\u{e9}" and "\r\n".count == 1 there; everything here works on
/// `unicodeScalars` instead.
enum PyString {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    static func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func count(_ s: String) -> Int { s.unicodeScalars.count }

    static func equal(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

    /// Code point order, as Python compares strings.
    static func less(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// `str.isspace()` for one code point: what `strip()` and `split()` remove, and what
    /// Jinja's `-` whitespace control and `\s` match.
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    // MARK: Searching

    static func find(_ haystack: Scalars, _ needle: Scalars, from start: Int = 0) -> Int? {
        if needle.isEmpty { return start <= haystack.count ? start : nil }
        guard haystack.count >= needle.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && haystack[i ..< i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ haystack: Scalars, _ needle: Scalars) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.count - needle.count
        while i >= 0 {
            if haystack[i ..< i + needle.count].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }

    static func contains(_ haystack: String, _ needle: String) -> Bool {
        find(scalars(haystack), scalars(needle)) != nil
    }

    static func hasPrefix(_ s: String, _ prefix: String) -> Bool {
        let a = scalars(s), p = scalars(prefix)
        return a.count >= p.count && a[0 ..< p.count].elementsEqual(p)
    }

    static func hasSuffix(_ s: String, _ suffix: String) -> Bool {
        let a = scalars(s), p = scalars(suffix)
        return a.count >= p.count && a[(a.count - p.count)...].elementsEqual(p)
    }

    static func count(of needle: String, in haystack: String) -> Int {
        let h = scalars(haystack), n = scalars(needle)
        if n.isEmpty { return h.count + 1 }
        var total = 0, i = 0
        while let at = find(h, n, from: i) {
            total += 1
            i = at + n.count
        }
        return total
    }

    // MARK: Transforming

    /// `str.strip(chars)`, `lstrip`, `rstrip`; `chars == nil` strips whitespace.
    static func strip(_ s: String, chars: String? = nil, leading: Bool = true, trailing: Bool = true) -> String {
        let a = scalars(s)
        let set = chars.map { Set(scalars($0)) }
        let remove: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? isSpace(c) }
        var lo = 0, hi = a.count
        if leading { while lo < hi && remove(a[lo]) { lo += 1 } }
        if trailing { while hi > lo && remove(a[hi - 1]) { hi -= 1 } }
        return string(a[lo ..< hi])
    }

    /// `str.split(sep, maxsplit)`: with no separator, runs of whitespace split and ends are
    /// dropped; with one, every occurrence splits.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        let a = scalars(s)
        var parts: [String] = []
        var splits = 0
        guard let separator else {
            var i = 0
            while i < a.count {
                while i < a.count && isSpace(a[i]) { i += 1 }
                if i == a.count { break }
                if maxSplit >= 0 && splits == maxSplit {
                    // Python keeps the remainder as it is, trailing whitespace included.
                    parts.append(string(a[i...]))
                    return parts
                }
                let start = i
                while i < a.count && !isSpace(a[i]) { i += 1 }
                parts.append(string(a[start ..< i]))
                splits += 1
            }
            return parts
        }
        let sep = scalars(separator)
        var start = 0
        while maxSplit < 0 || splits < maxSplit, let at = find(a, sep, from: start) {
            parts.append(string(a[start ..< at]))
            start = at + sep.count
            splits += 1
        }
        parts.append(string(a[start...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        if maxSplit < 0 { return split(s, separator: separator) }
        // Splitting the reversed string from the left is splitting from the right.
        let reversedSeparator = separator.map { string(scalars($0).reversed()) }
        let parts = split(string(scalars(s).reversed()), separator: reversedSeparator, maxSplit: maxSplit)
        return parts.reversed().map { string(scalars($0).reversed()) }
    }

    /// `str.splitlines(keepends)`.
    static func splitLines(_ s: String, keepEnds: Bool) -> [String] {
        let a = scalars(s)
        var lines: [String] = []
        var start = 0, i = 0
        while i < a.count {
            let c = a[i].value
            let isBreak = (0x0A...0x0D).contains(c) || (0x1C...0x1E).contains(c) || c == 0x85 || c == 0x2028 || c == 0x2029
            if isBreak {
                var end = i + 1
                if c == 0x0D && end < a.count && a[end] == "\n" { end += 1 }
                lines.append(string(a[start ..< (keepEnds ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < a.count { lines.append(string(a[start...])) }
        return lines
    }

    /// `str.replace(old, new, count)`.
    static func replace(_ s: String, _ old: String, _ new: String, count limit: Int = -1) -> String {
        let a = scalars(s), o = scalars(old), n = scalars(new)
        var out: Scalars = []
        var done = 0
        if o.isEmpty {
            // Python inserts `new` before every code point and at the end.
            for c in a {
                if limit < 0 || done < limit { out += n; done += 1 }
                out.append(c)
            }
            if limit < 0 || done < limit { out += n }
            return string(out)
        }
        var i = 0
        while i < a.count {
            if (limit < 0 || done < limit), let at = find(a, o, from: i) {
                out += a[i ..< at]
                out += n
                i = at + o.count
                done += 1
            } else {
                out += a[i...]
                break
            }
        }
        return string(out)
    }

    static func upper(_ s: String) -> String { s.uppercased() }
    static func lower(_ s: String) -> String { s.lowercased() }

    private static func titlecase(_ c: Unicode.Scalar) -> String { c.properties.titlecaseMapping }

    /// `str.title()`: a cased character after a cased one is lowered, any other is title-cased.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : titlecase(c)
            previousCased = c.properties.isCased
        }
        return out
    }

    /// `str.capitalize()`: the first character title-cased, the rest lowered.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (i, c) in s.unicodeScalars.enumerated() {
            out += i == 0 ? titlecase(c) : c.properties.lowercaseMapping
        }
        return out
    }

    // MARK: repr

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote.
    static func repr(_ s: String) -> String {
        let hasSingle = s.unicodeScalars.contains("'"), hasDouble = s.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String(quote)
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\": out += "\\" + String(c)
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7F || (c.value > 0x7F && !isPrintable(c)) {
                    out += hexEscape(c)
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    /// `\xNN`, `\uNNNN` or `\UNNNNNNNN`, as Python's repr and backslashreplace write a code point.
    static func hexEscape(_ c: Unicode.Scalar) -> String {
        let hex = String(c.value, radix: 16)
        if c.value <= 0xFF { return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
        if c.value <= 0xFFFF { return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
        return "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// `str.isprintable()` for one code point: not in the Other or Separator categories,
    /// except the ASCII space.
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
             .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    // MARK: Numbers

    /// `repr(float)`: the shortest digits that read back to the same double, in fixed notation
    /// for decimal exponents -4 through 15 and scientific notation outside.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        // Swift's description also gives the shortest round-trip digits; only the layout differs.
        var text = d.magnitude.description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let integer = String(parts[0]), fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(integer + fraction)
        var point = integer.count + exponent  // value = 0.digits * 10^point
        while let first = digits.first, first == "0" { digits.removeFirst(); point -= 1 }
        while let last = digits.last, last == "0" { digits.removeLast() }
        let sign = d.sign == .minus ? "-" : ""
        if digits.isEmpty { return sign + "0.0" }
        let body: String
        if point <= -4 || point > 16 {
            let e = point - 1
            let mantissa = digits.count > 1 ? String(digits[0]) + "." + String(digits[1...]) : String(digits[0])
            let magnitude = String(abs(e))
            body = mantissa + "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
        } else if point <= 0 {
            body = "0." + String(repeating: "0", count: -point) + String(digits)
        } else if point >= digits.count {
            body = String(digits) + String(repeating: "0", count: point - digits.count) + ".0"
        } else {
            body = String(digits[..<point]) + "." + String(digits[point...])
        }
        return sign + body
    }

    // MARK: Slicing

    /// The indices `sequence[start:stop:step]` selects, by Python's rules for negative and
    /// out-of-range bounds.
    static func sliceIndices(count: Int, start: Int?, stop: Int?, step: Int?) throws -> [Int] {
        let step = step ?? 1
        if step == 0 { throw JinjaFailure.runtime("slice step cannot be zero") }
        func adjust(_ value: Int?, _ defaultValue: Int) -> Int {
            guard var v = value else { return defaultValue }
            if v < 0 {
                v += count
                if v < 0 { v = step < 0 ? -1 : 0 }
            } else if v >= count {
                v = step < 0 ? count - 1 : count
            }
            return v
        }
        let lo = adjust(start, step < 0 ? count - 1 : 0)
        let hi = adjust(stop, step < 0 ? -1 : count)
        var indices: [Int] = []
        var i = lo
        while step > 0 ? i < hi : i > hi {
            indices.append(i)
            i += step
        }
        return indices
    }
}
