import Foundation

/// A restricted pickle virtual machine for the `data.pkl` of a torch.save archive.
///
/// It understands the data opcodes of protocols 0 to 5 but executes nothing: globals resolve
/// through `PickleGlobal`'s allow-list and calls are interpreted as data. The machine is iterative
/// (no recursion), containers live in a flat arena, and every read is bounds-checked, so a hostile
/// or damaged pickle yields a `CheckpointError` naming the byte offset instead of a crash or a hang.
struct PickleMachine {
    let data: ByteView
    let file: String
    let member: String

    private(set) var nodes: [PickleNode] = []
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var position = 0
    /// Element copies and key hashing an input may cause. Without a cap, a small pickle that reuses
    /// one large memoized list or string thousands of times would take quadratic time (a hang).
    private var workLeft: Int

    init(data: ByteView, file: String, member: String) {
        self.data = data
        self.file = file
        self.member = member
        workLeft = data.count.multipliedReportingOverflow(by: 4).partialValue.addingReportingOverflow(1 << 20).partialValue
    }

    /// Accounts for work proportional to data already in memory (copies, hashing).
    mutating func charge(_ amount: Int, at offset: Int) throws {
        workLeft -= amount
        if workLeft < 0 {
            throw fail("the pickle asks for far more copying than its size justifies (a crafted input?)", at: offset)
        }
    }

    /// What inserting `key` into a dict costs: hashing is linear in a string's or bytes' length.
    static func hashCost(_ key: PickleValue) -> Int {
        switch key {
        case let .string(s): return 1 + s.utf8.count
        case let .bytes(b): return 1 + b.count
        default: return 1
        }
    }

    func fail(_ reason: String, at offset: Int) -> CheckpointError {
        .malformedPickle(file: file, member: member, offset: offset, reason: reason)
    }

    func describe(_ value: PickleValue) -> String {
        switch value {
        case let .node(id): return nodes[id].kindName
        case let .string(s): return "str '\(s.prefix(60))'"
        case let .int(n): return "int \(n)"
        default: return value.typeName
        }
    }

    mutating func newNode(_ kind: PickleNode.Kind, items: [PickleValue] = []) -> Int {
        nodes.append(PickleNode(kind, items: items))
        return nodes.count - 1
    }

    /// Runs to STOP and returns the top-level object.
    mutating func run() throws -> PickleValue {
        while true {
            let start = position
            guard let op = data.u8(position) else {
                throw fail("the pickle ends without a STOP opcode (\(data.count) bytes)", at: position)
            }
            position += 1
            if let result = try step(op, at: start) { return result }
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private mutating func step(_ op: UInt8, at start: Int) throws -> PickleValue? {
        switch op {
        case 0x80: // PROTO
            let version = try readByte(start)
            guard version <= 5 else { throw fail("unsupported pickle protocol \(version) (expected 0 to 5)", at: start) }
        case 0x95: // FRAME: framing is advisory; the frame's opcodes follow inline.
            _ = try readBytes(8, start)
        case 0x2E: // STOP
            guard let top = stack.popLast() else { throw fail("STOP with an empty stack", at: start) }
            return top
        case 0x28: // MARK
            marks.append(stack.count)
        case 0x30: // POP
            // Python pops the MARK itself when nothing sits above it.
            if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop(start) }
        case 0x31: // POP_MARK
            _ = try popToMark(start)
        case 0x32: // DUP
            guard let top = stack.last else { throw fail("DUP with an empty stack", at: start) }
            stack.append(top)
        case 0x4E: stack.append(.none) // NONE
        case 0x88: stack.append(.bool(true)) // NEWTRUE
        case 0x89: stack.append(.bool(false)) // NEWFALSE
        case 0x4A: // BININT
            let b = try readBytes(4, start)
            stack.append(.int(Int(Int32(bitPattern: b.u32(0) ?? 0))))
        case 0x4B: // BININT1
            stack.append(.int(Int(try readByte(start))))
        case 0x4D: // BININT2
            stack.append(.int(Int(try readBytes(2, start).u16(0) ?? 0)))
        case 0x8A: // LONG1
            let n = Int(try readByte(start))
            stack.append(Self.littleEndianInteger(try readBytes(n, start)))
        case 0x8B: // LONG4
            let n = Int(Int32(bitPattern: try readBytes(4, start).u32(0) ?? 0))
            guard n >= 0 else { throw fail("LONG4 with negative length \(n)", at: start) }
            stack.append(Self.littleEndianInteger(try readBytes(n, start)))
        case 0x49: // INT (text)
            let line = try readLine(start)
            switch line {
            case "01": stack.append(.bool(true))
            case "00": stack.append(.bool(false))
            default:
                guard let n = Int(line) else { throw fail("INT opcode with non-integer text '\(line.prefix(40))'", at: start) }
                stack.append(.int(n))
            }
        case 0x4C: // LONG (text)
            var line = try readLine(start)
            if line.hasSuffix("L") { line.removeLast() }
            if let n = Int(line) { stack.append(.int(n)) } else if line.allSatisfy({ $0.isNumber || $0 == "-" }) && !line.isEmpty {
                stack.append(.bigInt)
            } else {
                throw fail("LONG opcode with non-integer text '\(line.prefix(40))'", at: start)
            }
        case 0x46: // FLOAT (text)
            let line = try readLine(start)
            guard let x = Double(line) else { throw fail("FLOAT opcode with non-numeric text '\(line.prefix(40))'", at: start) }
            stack.append(.float(x))
        case 0x47: // BINFLOAT: big-endian IEEE double
            let b = try readBytes(8, start)
            stack.append(.float(Double(bitPattern: (b.u64(0) ?? 0).byteSwapped)))
        case 0x58: // BINUNICODE
            stack.append(.string(try readString(lengthBytes: 4, start)))
        case 0x8C: // SHORT_BINUNICODE
            stack.append(.string(try readString(lengthBytes: 1, start)))
        case 0x8D: // BINUNICODE8
            stack.append(.string(try readString(lengthBytes: 8, start)))
        case 0x54: // BINSTRING (Python 2 str, decoded as latin1 like Python 3's default)
            let n = Int(Int32(bitPattern: try readBytes(4, start).u32(0) ?? 0))
            guard n >= 0 else { throw fail("BINSTRING with negative length \(n)", at: start) }
            stack.append(.string(Self.latin1(try readBytes(n, start))))
        case 0x55: // SHORT_BINSTRING
            let n = Int(try readByte(start))
            stack.append(.string(Self.latin1(try readBytes(n, start))))
        case 0x42: // BINBYTES
            stack.append(.bytes(Array(try readBytes(Int(try readBytes(4, start).u32(0) ?? 0), start).buffer)))
        case 0x43: // SHORT_BINBYTES
            stack.append(.bytes(Array(try readBytes(Int(try readByte(start)), start).buffer)))
        case 0x8E, 0x96: // BINBYTES8, BYTEARRAY8
            stack.append(.bytes(Array(try readBytes(try readLength8(start), start).buffer)))
        case 0x53, 0x56: // STRING, UNICODE (text protocol 0; torch.save never writes them)
            throw fail("protocol 0 text string opcode '\(Character(UnicodeScalar(op)))' is not supported (torch.save writes protocol 2)", at: start)
        case 0x7D: // EMPTY_DICT
            stack.append(.node(newNode(.dict)))
        case 0x64: // DICT
            let items = try popToMark(start)
            let dict = try makeDict(items, start)
            stack.append(.node(dict))
        case 0x5D: // EMPTY_LIST
            stack.append(.node(newNode(.list)))
        case 0x6C: // LIST
            stack.append(.node(newNode(.list, items: try popToMark(start))))
        case 0x29: // EMPTY_TUPLE
            stack.append(.node(newNode(.tuple)))
        case 0x74: // TUPLE
            stack.append(.node(newNode(.tuple, items: try popToMark(start))))
        case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
            let n = Int(op - 0x84)
            guard stack.count >= n, (marks.last ?? 0) <= stack.count - n else {
                throw fail("TUPLE\(n) needs \(n) values on the stack", at: start)
            }
            let items = Array(stack.suffix(n))
            stack.removeLast(n)
            stack.append(.node(newNode(.tuple, items: items)))
        case 0x8F: // EMPTY_SET
            stack.append(.node(newNode(.set)))
        case 0x91: // FROZENSET
            stack.append(.node(newNode(.set, items: try popToMark(start))))
        case 0x90: // ADDITEMS
            let items = try popToMark(start)
            let target = try container(start, "ADDITEMS")
            guard case .set = nodes[target].kind else { throw fail("ADDITEMS on a \(nodes[target].kindName), expected a set", at: start) }
            nodes[target].items.append(contentsOf: items)
        case 0x61: // APPEND
            let value = try pop(start)
            try append([value], start)
        case 0x65: // APPENDS
            let items = try popToMark(start)
            try append(items, start)
        case 0x73: // SETITEM
            let value = try pop(start)
            let key = try pop(start)
            try setItems([key, value], start)
        case 0x75: // SETITEMS
            let items = try popToMark(start)
            try setItems(items, start)
        case 0x67: // GET
            let line = try readLine(start)
            guard let index = Int(line) else { throw fail("GET with non-integer text '\(line.prefix(40))'", at: start) }
            try memoGet(index, start)
        case 0x68: // BINGET
            try memoGet(Int(try readByte(start)), start)
        case 0x6A: // LONG_BINGET
            try memoGet(Int(try readBytes(4, start).u32(0) ?? 0), start)
        case 0x70: // PUT
            let line = try readLine(start)
            guard let index = Int(line) else { throw fail("PUT with non-integer text '\(line.prefix(40))'", at: start) }
            try memoPut(index, start)
        case 0x71: // BINPUT
            try memoPut(Int(try readByte(start)), start)
        case 0x72: // LONG_BINPUT
            try memoPut(Int(try readBytes(4, start).u32(0) ?? 0), start)
        case 0x94: // MEMOIZE
            try memoPut(memo.count, start)
        case 0x63: // GLOBAL
            let module = try readLine(start)
            let name = try readLine(start)
            stack.append(try global(module: module, name: name, at: start))
        case 0x93: // STACK_GLOBAL
            let name = try pop(start)
            let module = try pop(start)
            guard case let .string(m) = module, case let .string(n) = name else {
                throw fail("STACK_GLOBAL needs two strings, got \(describe(module)) and \(describe(name))", at: start)
            }
            stack.append(try global(module: m, name: n, at: start))
        case 0x69: // INST
            let module = try readLine(start)
            let name = try readLine(start)
            let callee = try global(module: module, name: name, at: start)
            let args = try popToMark(start)
            stack.append(try apply(callee, args, at: start))
        case 0x6F: // OBJ
            var args = try popToMark(start)
            guard !args.isEmpty else { throw fail("OBJ without a class", at: start) }
            let callee = args.removeFirst()
            stack.append(try apply(callee, args, at: start))
        case 0x52, 0x81: // REDUCE, NEWOBJ
            let args = try pop(start)
            let callee = try pop(start)
            stack.append(try apply(callee, try tupleItems(args, start, op == 0x52 ? "REDUCE" : "NEWOBJ"), at: start))
        case 0x92: // NEWOBJ_EX
            let kwargs = try pop(start)
            let args = try pop(start)
            let callee = try pop(start)
            guard case let .node(k) = kwargs, case .dict = nodes[k].kind, nodes[k].keys.isEmpty else {
                throw fail("NEWOBJ_EX with keyword arguments is not supported", at: start)
            }
            stack.append(try apply(callee, try tupleItems(args, start, "NEWOBJ_EX"), at: start))
        case 0x62: // BUILD
            let state = try pop(start)
            guard let target = stack.last, case let .node(id) = target else {
                throw fail("BUILD on a \(stack.last.map(describe) ?? "empty stack"), expected an object", at: start)
            }
            // OrderedDict state carries `_metadata` (module versions); tensors may carry hooks.
            // Neither affects the weights, so the state is dropped without being interpreted.
            switch nodes[id].kind {
            case .dict, .tensor, .device, .set: break
            default: throw fail("BUILD on a \(nodes[id].kindName) with \(describe(state)), which a state_dict never does", at: start)
            }
        case 0x51: // BINPERSID
            let pid = try pop(start)
            stack.append(try persistentLoad(pid, at: start))
        case 0x50: // PERSID
            throw fail("text persistent ids (PERSID) are not used by torch.save", at: start)
        case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
            throw fail("copyreg extension codes (EXT) are not used by torch.save and are refused", at: start)
        case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
            throw fail("out-of-band buffers (protocol 5) are not used by torch.save", at: start)
        default:
            throw fail(String(format: "unknown pickle opcode 0x%02x", op), at: start)
        }
        return nil
    }

    // MARK: - Stack helpers

    private mutating func pop(_ start: Int) throws -> PickleValue {
        guard let value = stack.popLast(), (marks.last ?? 0) <= stack.count else {
            throw fail("the opcode needs a value but the stack is empty (or only a MARK is left)", at: start)
        }
        return value
    }

    private mutating func popToMark(_ start: Int) throws -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else {
            throw fail("the opcode needs a MARK but none is on the stack", at: start)
        }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func container(_ start: Int, _ opcode: String) throws -> Int {
        guard let top = stack.last, case let .node(id) = top else {
            throw fail("\(opcode) needs a container on the stack, got \(stack.last.map(describe) ?? "an empty stack")", at: start)
        }
        return id
    }

    private mutating func append(_ items: [PickleValue], _ start: Int) throws {
        let target = try container(start, "APPEND")
        guard case .list = nodes[target].kind else {
            throw fail("APPEND to a \(nodes[target].kindName), expected a list", at: start)
        }
        nodes[target].items.append(contentsOf: items)
    }

    private mutating func setItems(_ items: [PickleValue], _ start: Int) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number (\(items.count)) of keys and values", at: start) }
        let target = try container(start, "SETITEM")
        guard case .dict = nodes[target].kind else {
            throw fail("SETITEM on a \(nodes[target].kindName), expected a dict", at: start)
        }
        for i in stride(from: 0, to: items.count, by: 2) {
            try charge(Self.hashCost(items[i]), at: start)
            nodes[target].setItem(items[i], items[i + 1])
        }
    }

    private mutating func makeDict(_ items: [PickleValue], _ start: Int) throws -> Int {
        guard items.count % 2 == 0 else { throw fail("DICT with an odd number (\(items.count)) of keys and values", at: start) }
        let dict = newNode(.dict)
        for i in stride(from: 0, to: items.count, by: 2) {
            try charge(Self.hashCost(items[i]), at: start)
            nodes[dict].setItem(items[i], items[i + 1])
        }
        return dict
    }

    private func tupleItems(_ value: PickleValue, _ start: Int, _ opcode: String) throws -> [PickleValue] {
        guard case let .node(id) = value, case .tuple = nodes[id].kind else {
            throw fail("\(opcode) needs an argument tuple, got \(describe(value))", at: start)
        }
        return nodes[id].items
    }

    private mutating func memoGet(_ index: Int, _ start: Int) throws {
        guard let value = memo[index] else { throw fail("memo entry \(index) is read before it is written", at: start) }
        stack.append(value)
    }

    private mutating func memoPut(_ index: Int, _ start: Int) throws {
        guard let top = stack.last else {
            throw fail("memo store with an empty stack", at: start)
        }
        memo[index] = top
    }

    private mutating func global(module: String, name: String, at start: Int) throws -> PickleValue {
        guard let allowed = PickleGlobal(module: module, name: name) else {
            throw CheckpointError.forbiddenGlobal(file: file, member: member, offset: start,
                                                  global: "\(module.prefix(200)).\(name.prefix(200))")
        }
        return .node(newNode(.global(allowed)))
    }

    // MARK: - Readers

    private mutating func readBytes(_ n: Int, _ start: Int) throws -> ByteView {
        guard let view = data.slice(offset: position, length: n) else {
            throw fail("opcode 0x\(String(data.u8(start) ?? 0, radix: 16)) needs \(n) bytes of argument but the pickle ends at \(data.count)", at: start)
        }
        position += n
        return view
    }

    private mutating func readByte(_ start: Int) throws -> UInt8 {
        try readBytes(1, start).buffer[0]
    }

    private mutating func readLength8(_ start: Int) throws -> Int {
        let raw = try readBytes(8, start).u64(0) ?? 0
        guard let n = Int(exactly: raw) else { throw fail("length \(raw) does not fit in memory", at: start) }
        return n
    }

    private mutating func readString(lengthBytes: Int, _ start: Int) throws -> String {
        let n: Int
        switch lengthBytes {
        case 1: n = Int(try readByte(start))
        case 4: n = Int(try readBytes(4, start).u32(0) ?? 0)
        default: n = try readLength8(start)
        }
        return String(decoding: try readBytes(n, start).buffer, as: UTF8.self)
    }

    /// Text arguments of protocol 0 opcodes (GLOBAL's module and name among them) end with '\n'.
    private mutating func readLine(_ start: Int) throws -> String {
        var end = position
        while end < data.count, data.buffer[end] != 0x0A { end += 1 }
        guard end < data.count else { throw fail("a text argument has no terminating newline before the end of the pickle", at: start) }
        let line = Self.latin1(data.slice(offset: position, length: end - position) ?? ByteView(UnsafeRawBufferPointer(start: nil, count: 0)))
        position = end + 1
        return line.hasSuffix("\r") ? String(line.dropLast()) : line
    }

    private static func latin1(_ bytes: ByteView) -> String {
        String(String.UnicodeScalarView(bytes.buffer.map { UnicodeScalar($0) }))
    }

    /// LONG1/LONG4 payloads: little-endian two's complement of any width.
    private static func littleEndianInteger(_ bytes: ByteView) -> PickleValue {
        let n = bytes.count
        if n == 0 { return .int(0) }
        let negative = bytes.buffer[n - 1] & 0x80 != 0
        let fill: UInt8 = negative ? 0xFF : 0
        if n > 8 {
            for i in 8 ..< n where bytes.buffer[i] != fill { return .bigInt }
            // Upper bytes are pure sign extension: the value still has to carry the same sign in 64 bits.
            if (bytes.buffer[7] & 0x80 != 0) != negative { return .bigInt }
        }
        var raw: UInt64 = 0
        for i in (0 ..< min(n, 8)).reversed() { raw = raw << 8 | UInt64(bytes.buffer[i]) }
        if n < 8 && negative { raw |= ~UInt64(0) << (UInt64(n) * 8) }
        return .int(Int(Int64(bitPattern: raw)))
    }
}
