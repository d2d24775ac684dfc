/// A value on the restricted unpickler's stack.
///
/// Containers are not nested Swift values but indices into the unpickler's node arena. That keeps a
/// hostile pickle (a list nested a million deep, a list that contains itself) from overflowing the
/// stack when Swift releases nested values, and lets APPEND/SETITEMS mutate shared containers the
/// way Python's memo expects.
enum PickleValue: Hashable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits; kept only so metadata holding one does not stop a load.
    case bigInt
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case node(Int)

    var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .node: return "object"
        }
    }
}

/// A storage named by a persistent id: `('storage', torch.FloatStorage, '0', 'cpu', numel)`.
struct PickleStorage {
    /// The storage class as written, e.g. `torch.FloatStorage`.
    let className: String
    /// nil when the class is not one Recur reads (complex, quantized, ...).
    let dtype: TensorDType?
    /// Untyped storages count bytes; the tensor that views one supplies the dtype (`_rebuild_tensor_v3`).
    let isUntyped: Bool
    let key: String
    let location: String
    /// Elements of the storage's own dtype (bytes for untyped storages).
    let elementCount: Int
}

/// A tensor rebuilt (described, not materialized) by `torch._utils._rebuild_tensor*`.
struct PickleTensor {
    let storage: PickleStorage
    /// nil when the dtype is not one Recur reads; `dtypeName` then says which it was.
    let dtype: TensorDType?
    let dtypeName: String
    let storageOffset: Int
    let shape: [Int]
    let strides: [Int]
}

/// A container or an allowed global living in the unpickler's arena.
final class PickleNode {
    enum Kind {
        case list
        case tuple
        case set
        case dict
        case global(PickleGlobal)
        case storage(PickleStorage)
        case tensor(PickleTensor)
        case device(String)
    }

    let kind: Kind
    /// Elements of a list, tuple or set.
    var items: [PickleValue] = []
    /// Keys and values of a dict in insertion order; `keyIndex` keeps later SETITEMs of an existing
    /// key in the original position, as Python dicts do.
    var keys: [PickleValue] = []
    var values: [PickleValue] = []
    var keyIndex: [PickleValue: Int] = [:]

    init(_ kind: Kind, items: [PickleValue] = []) {
        self.kind = kind
        self.items = items
    }

    func setItem(_ key: PickleValue, _ value: PickleValue) {
        if let existing = keyIndex[key] {
            values[existing] = value
        } else {
            keyIndex[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    var kindName: String {
        switch kind {
        case .list: return "list"
        case .tuple: return "tuple"
        case .set: return "set"
        case .dict: return "dict"
        case let .global(global): return global.qualifiedName
        case let .storage(storage): return storage.className
        case .tensor: return "tensor"
        case .device: return "torch.device"
        }
    }
}
