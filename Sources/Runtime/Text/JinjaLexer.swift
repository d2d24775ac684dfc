/// A token of a template: text between tags, tag delimiters, and the tokens inside tags.
struct JinjaToken: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }

    let kind: Kind
    let location: JinjaLocation

    var describe: String {
        switch kind {
        case .text: return "template text"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "a string"
        case .integer(let i): return "'\(i)'"
        case .float(let d): return "'\(d)'"
        case .op(let o): return "'\(o)'"
        case .eof: return "the end of the template"
        }
    }
}

/// Splits a template into tokens as jinja2's lexer does with the options transformers uses
/// (`trim_blocks`, `lstrip_blocks`, `keep_trailing_newline` off).
///
/// Whitespace control is decided here, since it depends on the raw text around tags:
/// - `{%-`/`{{-`/`{#-` remove all whitespace before the tag, `-%}`/`-}}`/`-#}` all after it;
/// - trim_blocks removes one newline right after `%}` and `#}`;
/// - lstrip_blocks removes spaces and tabs between the start of a line and `{%` or `{#`
///   (not `{{`), unless the tag is written `{%+`.
/// Newlines are normalized to "\n" and one trailing newline of the template is dropped.
struct JinjaLexer {
    private let s: [Unicode.Scalar]
    private let lineStarts: [Int]
    private var pos = 0
    /// Whether the last thing consumed ended a line; lstrip_blocks applies at a template's start
    /// and after a tag that ate its newline.
    private var lineStarting = true
    private var tokens: [JinjaToken] = []
    private var brackets: [(closer: Unicode.Scalar, offset: Int)] = []

    init(source: String) {
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for c in source.unicodeScalars {
            if c == "\n" && previousCR { previousCR = false; continue }
            previousCR = c == "\r"
            normalized.append(c == "\r" ? "\n" : c)
        }
        if normalized.last == "\n" { normalized.removeLast() }
        s = normalized
        var starts = [0]
        for (i, c) in normalized.enumerated() where c == "\n" { starts.append(i + 1) }
        lineStarts = starts
    }

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var lexer = JinjaLexer(source: source)
        return try lexer.run()
    }

    func location(_ offset: Int) -> JinjaLocation {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return JinjaLocation(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    private func fail(_ message: String, at offset: Int) -> ChatTemplateError {
        let l = location(offset)
        return ChatTemplateError(kind: .syntax, message: message, line: l.line, column: l.column)
    }

    private func at(_ offset: Int, _ literal: String) -> Bool {
        var i = offset
        for c in literal.unicodeScalars {
            guard i < s.count, s[i] == c else { return false }
            i += 1
        }
        return true
    }

    private func skipSpace(_ offset: Int) -> Int {
        var i = offset
        while i < s.count && PyString.isSpace(s[i]) { i += 1 }
        return i
    }

    private mutating func emit(_ kind: JinjaToken.Kind, _ offset: Int) {
        tokens.append(JinjaToken(kind: kind, location: location(offset)))
    }

    private mutating func run() throws -> [JinjaToken] {
        while pos < s.count {
            guard let tag = nextTagStart() else {
                emit(.text(PyString.string(s[pos...])), pos)
                pos = s.count
                break
            }
            let opener = s[tag + 1]
            let sign: Unicode.Scalar? = tag + 2 < s.count && (s[tag + 2] == "-" || s[tag + 2] == "+") ? s[tag + 2] : nil
            let afterSign = tag + 2 + (sign == nil ? 0 : 1)
            emitText(from: pos, to: tag, sign: sign, beforeVariable: opener == "{")
            if opener == "%", let rawStart = rawBegin(afterSign) {
                pos = rawStart
                lineStarting = s[rawStart - 1] == "\n"
                try lexRaw(tagStart: tag)
                continue
            }
            pos = afterSign
            lineStarting = false
            switch opener {
            case "#": try lexComment(tagStart: tag)
            case "{": try lexTag(tagStart: tag, block: false)
            default: try lexTag(tagStart: tag, block: true)
            }
        }
        emit(.eof, s.count)
        return tokens
    }

    private func nextTagStart() -> Int? {
        var i = pos
        while i + 1 < s.count {
            if s[i] == "{" && (s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#") { return i }
            i += 1
        }
        return nil
    }

    /// Emits the text before a tag, with the whitespace the tag's sign and lstrip_blocks remove.
    private mutating func emitText(from start: Int, to end: Int, sign: Unicode.Scalar?, beforeVariable: Bool) {
        var keep = end
        if sign == "-" {
            while keep > start && PyString.isSpace(s[keep - 1]) { keep -= 1 }
        } else if sign != "+" && !beforeVariable {
            var lineStart = start
            if let newline = (start ..< end).last(where: { s[$0] == "\n" }) { lineStart = newline + 1 }
            if (lineStart > start || lineStarting) && (lineStart ..< end).allSatisfy({ s[$0] == " " || s[$0] == "\t" }) {
                keep = lineStart
            }
        }
        if keep > start { emit(.text(PyString.string(s[start ..< keep])), start) }
    }

    // MARK: Comments and raw blocks

    private mutating func lexComment(tagStart: Int) throws {
        var i = pos
        while i < s.count {
            if (s[i] == "+" || s[i] == "-") && at(i + 1, "#}") {
                pos = s[i] == "-" ? skipSpace(i + 3) : i + 3
                lineStarting = s[pos - 1] == "\n"
                return
            }
            if at(i, "#}") {
                pos = i + 2
                if pos < s.count && s[pos] == "\n" { pos += 1 }
                lineStarting = s[pos - 1] == "\n"
                return
            }
            i += 1
        }
        throw fail("missing end of comment tag '#}'", at: tagStart)
    }

    /// If `{%` at this point opens `{% raw %}`, where the raw text starts.
    private func rawBegin(_ offset: Int) -> Int? {
        var i = skipSpace(offset)
        guard at(i, "raw") else { return nil }
        i = skipSpace(i + 3)
        if at(i, "-%}") { return skipSpace(i + 3) }
        if at(i, "%}") { return i + 2 }
        return nil
    }

    private mutating func lexRaw(tagStart: Int) throws {
        var i = pos
        while i + 1 < s.count {
            if at(i, "{%") {
                var j = i + 2
                let sign: Unicode.Scalar? = j < s.count && (s[j] == "-" || s[j] == "+") ? s[j] : nil
                if sign != nil { j += 1 }
                j = skipSpace(j)
                if at(j, "endraw") {
                    j = skipSpace(j + 6)
                    var end: Int?
                    if at(j, "+%}") {
                        end = j + 3
                    } else if at(j, "-%}") {
                        end = skipSpace(j + 3)
                    } else if at(j, "%}") {
                        end = j + 2 < s.count && s[j + 2] == "\n" ? j + 3 : j + 2
                    }
                    if let end {
                        emitText(from: pos, to: i, sign: sign, beforeVariable: false)
                        pos = end
                        lineStarting = s[end - 1] == "\n"
                        return
                    }
                }
            }
            i += 1
        }
        throw fail("missing '{% endraw %}' for this '{% raw %}'", at: tagStart)
    }

    // MARK: Tags

    private mutating func lexTag(tagStart: Int, block: Bool) throws {
        emit(block ? .blockBegin : .variableBegin, tagStart)
        brackets = []
        while true {
            guard pos < s.count else {
                throw fail("unexpected end of template: '\(block ? "{%" : "{{")' is never closed", at: tagStart)
            }
            if brackets.isEmpty, let end = tagEnd(block: block) {
                emit(block ? .blockEnd : .variableEnd, pos)
                pos = end
                lineStarting = s[end - 1] == "\n"
                return
            }
            let c = s[pos]
            if PyString.isSpace(c) {
                pos = skipSpace(pos)
            } else if ("0" ... "9").contains(c) {
                try lexNumber()
            } else if c == "_" || c.properties.isXIDStart {
                let start = pos
                while pos < s.count && (s[pos] == "_" || s[pos].properties.isXIDContinue) { pos += 1 }
                emit(.name(PyString.string(s[start ..< pos])), start)
            } else if c == "'" || c == "\"" {
                try lexString()
            } else {
                try lexOperator()
            }
        }
    }

    /// Where the closing `%}`/`}}` (with its whitespace control) ends, if one starts here.
    private func tagEnd(block: Bool) -> Int? {
        if block {
            if at(pos, "+%}") { return pos + 3 }
            if at(pos, "-%}") { return skipSpace(pos + 3) }
            if at(pos, "%}") { return pos + 2 < s.count && s[pos + 2] == "\n" ? pos + 3 : pos + 2 }
        } else {
            if at(pos, "-}}") { return skipSpace(pos + 3) }
            if at(pos, "}}") { return pos + 2 }
        }
        return nil
    }

    private static let operators2 = ["//", "**", "==", "!=", ">=", "<="]
    private static let operators1: Set<Unicode.Scalar> = ["+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"]

    private mutating func lexOperator() throws {
        let start = pos
        if let op = Self.operators2.first(where: { at(pos, $0) }) {
            pos += 2
            emit(.op(op), start)
            return
        }
        let c = s[pos]
        guard Self.operators1.contains(c) else {
            throw fail("unexpected character '\(PyString.string([c]))'", at: pos)
        }
        switch c {
        case "(": brackets.append((")", pos))
        case "[": brackets.append(("]", pos))
        case "{": brackets.append(("}", pos))
        case ")", "]", "}":
            guard let open = brackets.popLast() else { throw fail("unexpected '\(PyString.string([c]))'", at: pos) }
            guard open.closer == c else {
                throw fail("unexpected '\(PyString.string([c]))', expected '\(PyString.string([open.closer]))'", at: pos)
            }
        default: break
        }
        pos += 1
        emit(.op(PyString.string([c])), start)
    }

    private func isDigit(_ i: Int) -> Bool { i < s.count && ("0" ... "9").contains(s[i]) }

    /// Digits with single underscores between them, as Python and jinja2 allow; returns the end.
    private func digitRun(_ offset: Int) -> Int {
        var i = offset
        while isDigit(i) || (i < s.count && s[i] == "_" && isDigit(i + 1) && i > offset) { i += 1 }
        return i
    }

    private mutating func lexNumber() throws {
        let start = pos
        if s[pos] == "0", pos + 1 < s.count, "bBoOxX".unicodeScalars.contains(s[pos + 1]) {
            let radix = "bB".unicodeScalars.contains(s[pos + 1]) ? 2 : ("oO".unicodeScalars.contains(s[pos + 1]) ? 8 : 16)
            var i = pos + 2
            var digits = ""
            while i < s.count, s[i] == "_" || Int(String(s[i]), radix: radix) != nil {
                if s[i] != "_" { digits.unicodeScalars.append(s[i]) }
                i += 1
            }
            guard let value = Int(digits, radix: radix) else { throw fail("invalid integer literal", at: start) }
            pos = i
            emit(.integer(value), start)
            return
        }
        var i = digitRun(pos)
        var isFloat = false
        // jinja2 does not read `1.5` as a float right after a dot (`a.1.5` is two subscripts).
        let afterDot = start > 0 && s[start - 1] == "."
        if !afterDot {
            if i < s.count && s[i] == "." && isDigit(i + 1) {
                i = digitRun(i + 1)
                isFloat = true
            }
            if i < s.count && (s[i] == "e" || s[i] == "E") {
                var j = i + 1
                if j < s.count && (s[j] == "+" || s[j] == "-") { j += 1 }
                if isDigit(j) {
                    i = digitRun(j)
                    isFloat = true
                }
            }
        }
        let text = PyString.string(s[start ..< i].filter { $0 != "_" })
        pos = i
        if isFloat {
            guard let value = Double(text) else { throw fail("invalid number '\(text)'", at: start) }
            emit(.float(value), start)
        } else {
            if text.count > 1 && text.hasPrefix("0") && text.contains(where: { $0 != "0" }) {
                throw fail("leading zeros in an integer literal are not allowed", at: start)
            }
            guard let value = Int(text) else {
                throw ChatTemplateError(kind: .unsupported, message: "integer literal \(text) is too large",
                                        line: location(start).line, column: location(start).column)
            }
            emit(.integer(value), start)
        }
    }

    private mutating func lexString() throws {
        let start = pos
        let quote = s[pos]
        var i = pos + 1
        while true {
            guard i < s.count else { throw fail("unterminated string literal", at: start) }
            if s[i] == "\\" {
                i += 2
            } else if s[i] == quote {
                break
            } else {
                i += 1
            }
        }
        let value: String
        do {
            value = try JinjaStringLiteral.decode(Array(s[start + 1 ..< i]))
        } catch let failure as JinjaFailure {
            let l = location(start)
            throw ChatTemplateError(kind: failure.kind, message: failure.message, line: l.line, column: l.column)
        }
        pos = i + 1
        emit(.string(value), start)
    }
}
