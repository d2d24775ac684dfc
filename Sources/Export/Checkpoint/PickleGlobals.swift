/// The only globals `data.pkl` may name. Each is interpreted here as data, never looked up or
/// called, which is what makes loading a checkpoint safe: anything else (os.system, builtins.eval,
/// copyreg._reconstructor, numpy, user classes) is refused by name.
enum PickleGlobal: Equatable {
    case orderedDict
    /// `_rebuild_tensor` (1), `_rebuild_tensor_v2` (2), `_rebuild_tensor_v3` (3).
    case rebuildTensor(version: Int)
    case rebuildParameter(withState: Bool)
    /// `torch.FloatStorage` and friends, `torch.UntypedStorage`; only meaningful inside a persistent id.
    case storageClass(String)
    /// `torch.float32` and other dtype objects, as the v3 rebuild and metadata name them.
    case dtype(String)
    case device
    case size
    /// `_codecs.encode`, which protocol 2 uses to pickle `bytes`.
    case codecsEncode
    case set(frozen: Bool)

    var qualifiedName: String {
        switch self {
        case .orderedDict: return "collections.OrderedDict"
        case let .rebuildTensor(version):
            return version == 1 ? "torch._utils._rebuild_tensor" : "torch._utils._rebuild_tensor_v\(version)"
        case let .rebuildParameter(withState):
            return withState ? "torch._utils._rebuild_parameter_with_state" : "torch._utils._rebuild_parameter"
        case let .storageClass(name): return name
        case let .dtype(name): return "torch.\(name)"
        case .device: return "torch.device"
        case .size: return "torch.Size"
        case .codecsEncode: return "_codecs.encode"
        case let .set(frozen): return frozen ? "builtins.frozenset" : "builtins.set"
        }
    }

    static let torchDTypeNames: [String: TensorDType?] = [
        "float32": .float32, "float": .float32, "float16": .float16, "half": .float16,
        "bfloat16": .bfloat16, "float64": .float64, "double": .float64,
        "int64": .int64, "long": .int64, "int32": .int32, "int": .int32,
        "int16": .int16, "short": .int16, "int8": .int8, "uint8": .uint8, "bool": .bool,
        // Known to torch but not read by Recur: allowed as inert values so the error can name them.
        "uint16": nil, "uint32": nil, "uint64": nil, "complex32": nil, "complex64": nil,
        "complex128": nil, "cfloat": nil, "cdouble": nil, "chalf": nil,
        "float8_e4m3fn": nil, "float8_e5m2": nil, "float8_e4m3fnuz": nil, "float8_e5m2fnuz": nil,
        "float8_e8m0fnu": nil, "float4_e2m1fn_x2": nil,
        "qint8": nil, "quint8": nil, "qint32": nil, "quint4x2": nil, "quint2x4": nil,
    ]

    /// nil means "refuse".
    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor(version: 1)
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor(version: 2)
        case ("torch._utils", "_rebuild_tensor_v3"): self = .rebuildTensor(version: 3)
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter(withState: false)
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameter(withState: true)
        case ("torch", "device"): self = .device
        case ("torch", "Size"): self = .size
        case ("torch.storage", "UntypedStorage"), ("torch", "UntypedStorage"):
            self = .storageClass("torch.UntypedStorage")
        case ("_codecs", "encode"): self = .codecsEncode
        case ("builtins", "set"), ("__builtin__", "set"): self = .set(frozen: false)
        case ("builtins", "frozenset"), ("__builtin__", "frozenset"): self = .set(frozen: true)
        case ("torch", _) where Self.isStorageClassName(name):
            self = .storageClass("torch.\(name)")
        case ("torch", _) where Self.torchDTypeNames[name] != nil:
            self = .dtype(name)
        default:
            return nil
        }
    }

    /// `FloatStorage`, `BFloat16Storage`, `ComplexFloatStorage`, ...: letters and digits ending in
    /// "Storage". Unsupported ones are accepted as names so the error can point at the tensor.
    private static func isStorageClassName(_ name: String) -> Bool {
        guard name.hasSuffix("Storage"), name.count > "Storage".count else { return false }
        return name.unicodeScalars.allSatisfy { ($0.value < 128) && ($0.properties.isAlphabetic || ("0" ... "9").contains($0)) }
    }
}

extension PickleMachine {
    /// What REDUCE / NEWOBJ / INST / OBJ produce for an allowed global. Pure data transformation.
    mutating func apply(_ callee: PickleValue, _ args: [PickleValue], at offset: Int) throws -> PickleValue {
        guard case let .node(id) = callee, case let .global(global) = nodes[id].kind else {
            throw fail("cannot call a \(describe(callee)): only allowed torch/collections globals are callable", at: offset)
        }
        switch global {
        case .orderedDict:
            let dict = newNode(.dict)
            if let first = args.first {
                guard args.count == 1, case let .node(source) = first, isSequence(source) else {
                    throw fail("collections.OrderedDict expects no arguments or one list of pairs", at: offset)
                }
                try charge(nodes[source].items.count, at: offset)
                for pair in nodes[source].items {
                    guard case let .node(p) = pair, isSequence(p), nodes[p].items.count == 2 else {
                        throw fail("collections.OrderedDict expects (key, value) pairs", at: offset)
                    }
                    try charge(Self.hashCost(nodes[p].items[0]), at: offset)
                    nodes[dict].setItem(nodes[p].items[0], nodes[p].items[1])
                }
            }
            return .node(dict)

        case let .rebuildTensor(version):
            return .node(newNode(.tensor(try rebuildTensor(version: version, args, at: offset))))

        case let .rebuildParameter(withState):
            guard args.count == (withState ? 4 : 3), case let .node(data) = args[0],
                  case .tensor = nodes[data].kind else {
                throw fail("\(global.qualifiedName) expects (tensor, requires_grad, backward_hooks\(withState ? ", state" : ""))", at: offset)
            }
            return args[0]

        case .device:
            guard (1 ... 2).contains(args.count), case let .string(type) = args[0] else {
                throw fail("torch.device expects a device string", at: offset)
            }
            if args.count == 2, case let .int(index) = args[1] {
                return .node(newNode(.device("\(type):\(index)")))
            }
            return .node(newNode(.device(type)))

        case .size:
            guard args.count == 1, case let .node(source) = args[0], isSequence(source) else {
                throw fail("torch.Size expects one tuple of ints", at: offset)
            }
            try charge(nodes[source].items.count, at: offset)
            return .node(newNode(.tuple, items: nodes[source].items))

        case .codecsEncode:
            guard args.count == 2, case let .string(text) = args[0], case let .string(encoding) = args[1],
                  ["latin1", "latin-1", "iso-8859-1"].contains(encoding.lowercased()) else {
                throw fail("_codecs.encode is only accepted as encode(str, 'latin1'), the form protocol 2 uses for bytes", at: offset)
            }
            try charge(text.utf8.count, at: offset)
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else {
                    throw fail("_codecs.encode: character U+\(String(scalar.value, radix: 16)) does not fit latin1", at: offset)
                }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)

        case .set:
            let set = newNode(.set)
            if let first = args.first {
                guard args.count == 1, case let .node(source) = first, isSequence(source) else {
                    throw fail("\(global.qualifiedName) expects no arguments or one list", at: offset)
                }
                try charge(nodes[source].items.count, at: offset)
                nodes[set].items = nodes[source].items
            }
            return .node(set)

        case .storageClass, .dtype:
            throw fail("\(global.qualifiedName) is only accepted as a name, not called", at: offset)
        }
    }

    private func isSequence(_ id: Int) -> Bool {
        switch nodes[id].kind {
        case .list, .tuple: return true
        default: return false
        }
    }

    /// `_rebuild_tensor(storage, offset, size, stride)`,
    /// `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`,
    /// `_rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])`.
    private mutating func rebuildTensor(version: Int, _ args: [PickleValue], at offset: Int) throws -> PickleTensor {
        let name = PickleGlobal.rebuildTensor(version: version).qualifiedName
        let counts: ClosedRange<Int> = version == 1 ? 4 ... 4 : (version == 2 ? 6 ... 7 : 7 ... 8)
        guard counts.contains(args.count) else {
            throw fail("\(name) expects \(counts.lowerBound)\(counts.count > 1 ? " or \(counts.upperBound)" : "") arguments, got \(args.count)", at: offset)
        }
        guard case let .node(storageID) = args[0], case let .storage(storage) = nodes[storageID].kind else {
            throw fail("\(name): the first argument must be a storage from a persistent id, got \(describe(args[0]))", at: offset)
        }
        guard case let .int(storageOffset) = args[1], storageOffset >= 0 else {
            throw fail("\(name): the storage offset must be a non-negative int, got \(describe(args[1]))", at: offset)
        }
        let shape = try intSequence(args[2], what: "size", in: name, at: offset)
        let strides = try intSequence(args[3], what: "stride", in: name, at: offset)
        guard shape.count == strides.count else {
            throw fail("\(name): size has \(shape.count) dimensions but stride has \(strides.count)", at: offset)
        }
        guard shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw fail("\(name): negative size or stride (size \(shape), stride \(strides))", at: offset)
        }
        var dtype = storage.dtype
        var dtypeName = storage.className
        if version == 3 {
            guard case let .node(dtypeID) = args[6], case let .global(.dtype(named)) = nodes[dtypeID].kind else {
                throw fail("\(name): the seventh argument must be a torch dtype, got \(describe(args[6]))", at: offset)
            }
            dtype = PickleGlobal.torchDTypeNames[named] ?? nil
            dtypeName = "torch.\(named)"
        } else if storage.isUntyped {
            throw fail("\(name): an untyped storage needs _rebuild_tensor_v3, which names the dtype", at: offset)
        }
        return PickleTensor(storage: storage, dtype: dtype, dtypeName: dtypeName,
                            storageOffset: storageOffset, shape: shape, strides: strides)
    }

    private mutating func intSequence(_ value: PickleValue, what: String, in name: String, at offset: Int) throws -> [Int] {
        guard case let .node(id) = value, isSequence(id) else {
            throw fail("\(name): \(what) must be a tuple of ints, got \(describe(value))", at: offset)
        }
        try charge(nodes[id].items.count, at: offset)
        return try nodes[id].items.map { item -> Int in
            guard case let .int(n) = item else {
                throw fail("\(name): \(what) must be a tuple of ints, found \(describe(item))", at: offset)
            }
            return n
        }
    }

    /// `('storage', torch.FloatStorage, key, location, numel)`: the only persistent id torch.save
    /// writes for tensor data.
    mutating func persistentLoad(_ pid: PickleValue, at offset: Int) throws -> PickleValue {
        guard case let .node(id) = pid, case .tuple = nodes[id].kind else {
            throw fail("persistent id must be a tuple ('storage', storage_type, key, location, numel), got \(describe(pid))", at: offset)
        }
        let fields = nodes[id].items
        guard fields.count == 5, case .string("storage") = fields[0] else {
            let tag: String
            if case let .string(s)? = fields.first { tag = "'\(s)'" } else { tag = "\(fields.count) fields" }
            throw fail("unsupported persistent id (\(tag)); expected ('storage', storage_type, key, location, numel)", at: offset)
        }
        guard case let .node(classID) = fields[1], case let .global(.storageClass(className)) = nodes[classID].kind else {
            throw fail("persistent id: storage type must be a torch storage class, got \(describe(fields[1]))", at: offset)
        }
        guard case let .string(key) = fields[2], !key.isEmpty, !key.contains("/"), key != "..", key != "." else {
            throw fail("persistent id: storage key must be a plain name, got \(describe(fields[2]))", at: offset)
        }
        var location: String?
        if case let .string(s) = fields[3] { location = s }
        if case let .node(deviceID) = fields[3], case let .device(s) = nodes[deviceID].kind { location = s }
        guard let location else {
            throw fail("persistent id: location must be a device string, got \(describe(fields[3]))", at: offset)
        }
        guard case let .int(count) = fields[4], count >= 0 else {
            throw fail("persistent id: numel must be a non-negative int, got \(describe(fields[4]))", at: offset)
        }
        let untyped = className == "torch.UntypedStorage"
        let dtype = untyped ? TensorDType.uint8 : TensorDType(torchStorageClass: String(className.dropFirst("torch.".count)))
        let storage = PickleStorage(className: className, dtype: dtype, isUntyped: untyped, key: key,
                                    location: location, elementCount: count)
        return .node(newNode(.storage(storage)))
    }
}
