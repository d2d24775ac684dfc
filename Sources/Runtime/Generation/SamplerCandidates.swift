import Foundation

/// One token still in the running: its id, its logit as the chain has changed it so far, and its
/// probability where a step has computed one.
public struct SamplerCandidate: Sendable, Equatable {
    public var id: Int32
    public var logit: Float
    public var p: Float

    public init(id: Int32, logit: Float, p: Float = 0) {
        self.id = id
        self.logit = logit
        self.p = p
    }
}

/// The candidate list the chain narrows down, as llama.cpp's `llama_token_data_array`: the
/// survivors in `items[0..<count]`, and whether they are sorted by descending logit. Every step
/// mirrors llama.cpp's, in the same order and float arithmetic, because the order of the list
/// decides which token a given random number lands on. Where llama.cpp leaves the order of equal
/// logits to its sort, this orders them by id, so the result is the same on every machine.
///
/// Logits are read with NaN as -infinity, so a NaN never wins and never poisons a sum.
struct SamplerCandidates: Sendable {
    private(set) var items: [SamplerCandidate] = []
    private(set) var count = 0
    private(set) var sorted = false
    /// Where top-p puts its first 256 of an unsorted list.
    private var spare: [SamplerCandidate] = []
    private var radix = SamplerRadixSort()

    /// llama.cpp's top-p first sorts this many of an unsorted list of more than 1024.
    private static let topPFirstSort = 256

    /// Whether `a` comes before `b`: larger logit first, then smaller id.
    @inline(__always)
    static func precedes(_ a: SamplerCandidate, _ b: SamplerCandidate) -> Bool {
        a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
    }

    @inline(__always)
    static func read(_ logits: UnsafePointer<Float>, _ i: Int) -> Float {
        let v = logits[i]
        return v.isNaN ? -.infinity : v
    }

    /// The first index of the largest logit (NaN as -infinity; index 0 when none is above
    /// -infinity): greedy decoding, one pass, nothing copied.
    static func argmax(_ logits: UnsafePointer<Float>, count n: Int) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<n where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return best
    }

    /// Fills the list from `logits[0..<n]` and applies top-k (k <= 0: off). With top-k on, only
    /// the k best are ever stored (a heap over one pass), sorted as llama.cpp's partial sort leaves
    /// them; with k >= n every token is kept, sorted, as llama.cpp does too.
    mutating func load(_ logits: UnsafePointer<Float>, count n: Int, topK: Int) {
        let k = topK <= 0 ? n : min(topK, n)
        let heap = k < n && k <= n / 2
        let needed = heap ? k : n
        if items.count < needed { items = [SamplerCandidate](repeating: SamplerCandidate(id: 0, logit: 0), count: needed) }
        if heap {
            items.withUnsafeMutableBufferPointer { Self.selectBest(k, of: n, from: logits, into: $0.baseAddress!) }
            count = k
            sorted = true
            return
        }
        items.withUnsafeMutableBufferPointer { out in
            for i in 0..<n { out[i] = SamplerCandidate(id: Int32(i), logit: Self.read(logits, i)) }
        }
        count = n
        sorted = false
        if topK > 0 {
            sortAll()
            count = k
        }
    }

    /// Puts the `k` candidates that come first among `element(0..<n)` into `out[0..<k]`, in
    /// order: a heap of the k best so far whose root is the worst of them.
    @inline(__always)
    private static func selectBest(
        _ k: Int, of n: Int, into out: UnsafeMutablePointer<SamplerCandidate>, _ element: (Int) -> SamplerCandidate
    ) {
        guard k > 0 else { return }
        for i in 0..<k { out[i] = element(i) }
        for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(out, k, i) }
        for i in k..<n {
            let c = element(i)
            if precedes(c, out[0]) {
                out[0] = c
                siftDown(out, k, 0)
            }
        }
        sort(out, k)
    }

    /// `selectBest` straight from the logits: ids rise with the index, so a newcomer beats the
    /// heap's worst only with a strictly larger logit, one comparison for most tokens.
    private static func selectBest(_ k: Int, of n: Int, from logits: UnsafePointer<Float>, into out: UnsafeMutablePointer<SamplerCandidate>) {
        for i in 0..<k { out[i] = SamplerCandidate(id: Int32(i), logit: read(logits, i)) }
        for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(out, k, i) }
        var threshold = out[0].logit
        for i in k..<n {
            let v = logits[i]
            if v > threshold {
                out[0] = SamplerCandidate(id: Int32(i), logit: v)
                siftDown(out, k, 0)
                threshold = out[0].logit
            }
        }
        sort(out, k)
    }

    /// Restores the heap below `start`: every node precedes neither of its children.
    @inline(__always)
    private static func siftDown(_ out: UnsafeMutablePointer<SamplerCandidate>, _ k: Int, _ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            if l >= k { return }
            var worst = l
            if l + 1 < k && precedes(out[l], out[l + 1]) { worst = l + 1 }
            guard precedes(out[i], out[worst]) else { return }
            let t = out[i]
            out[i] = out[worst]
            out[worst] = t
            i = worst
        }
    }

    private static func sort(_ start: UnsafeMutablePointer<SamplerCandidate>, _ n: Int) {
        var b = UnsafeMutableBufferPointer(start: start, count: n)
        b.sort(by: precedes)
    }

    /// llama.cpp's softmax without sorting: float exponentials of logit minus the maximum,
    /// summed in list order.
    private mutating func softmax() {
        let n = count
        let isSorted = sorted
        items.withUnsafeMutableBufferPointer { c in
            var maxLogit = c[0].logit
            if !isSorted { for i in 1..<n where maxLogit < c[i].logit { maxLogit = c[i].logit } }
            var sum: Float = 0
            for i in 0..<n {
                let p = expf(c[i].logit - maxLogit)
                c[i].p = p
                sum += p
            }
            for i in 0..<n { c[i].p /= sum }
        }
    }

    /// Sorts the whole list (a no-op when sorted). An unsorted list is in id order, so a long one
    /// can go through the radix sort, which breaks ties by position.
    private mutating func sortAll() {
        guard !sorted else { return }
        let n = count
        if n > 1024 {
            var r = radix
            radix = SamplerRadixSort()
            items.withUnsafeMutableBufferPointer { r.sort($0.baseAddress!, n) }
            radix = r
        } else {
            items.withUnsafeMutableBufferPointer { Self.sort($0.baseAddress!, n) }
        }
        sorted = true
    }

    /// Top-p: keeps the shortest prefix, by descending probability, whose float running sum
    /// reaches `p` (at least one token). `p >= 1` (or an empty list) leaves the list as it is.
    mutating func topP(_ p: Float) {
        guard !(p >= 1), count > 0 else { return }
        softmax()
        var keep = count
        var cumulative: Float = 0
        var start = 0
        if !sorted && count > 1024 {
            // As llama.cpp: try the 256 most likely before sorting everything.
            let k = Self.topPFirstSort
            let n = count
            // Taken out of self while in use, so the two buffers are not both accesses to self.
            var best = spare
            spare = []
            defer { spare = best }
            if best.count < k { best = [SamplerCandidate](repeating: SamplerCandidate(id: 0, logit: 0), count: k) }
            items.withUnsafeBufferPointer { c in
                best.withUnsafeMutableBufferPointer { s in Self.selectBest(k, of: n, into: s.baseAddress!) { c[$0] } }
            }
            for i in 0..<k {
                cumulative += best[i].p
                if cumulative >= p {
                    for j in 0...i { items[j] = best[j] }
                    count = i + 1
                    sorted = true
                    return
                }
            }
            start = k
        }
        sortAll()
        for i in start..<count {
            cumulative += items[i].p
            if cumulative >= p {
                keep = i + 1
                break
            }
        }
        count = keep
    }

    /// Min-p: keeps the tokens whose logit is at least the largest plus log(p), that is whose
    /// probability is at least p times the largest, as llama.cpp decides it on logits. An unsorted
    /// list keeps its order; `p <= 0` leaves the list as it is.
    mutating func minP(_ p: Float) {
        guard !(p <= 0), count > 0 else { return }
        let n = count
        if !sorted {
            var kept = 0
            items.withUnsafeMutableBufferPointer { c in
                var maxLogit = -Float.greatestFiniteMagnitude
                for i in 0..<n where maxLogit < c[i].logit { maxLogit = c[i].logit }
                let minLogit = maxLogit + logf(p)
                for i in 0..<n where c[i].logit >= minLogit {
                    c[kept] = c[i]
                    kept += 1
                }
            }
            if kept > 0 {
                count = kept
                return
            }
        }
        sortAll()
        let minLogit = items[0].logit + logf(p)
        var i = 1
        while i < n && !(items[i].logit < minLogit) { i += 1 }
        count = i
    }

    /// Divides every logit by `t` (> 0).
    mutating func temperature(_ t: Float) {
        let n = count
        items.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[i].logit /= t } }
    }

    /// llama.cpp's `dist`: probabilities as float exponentials of logit minus the maximum, their
    /// sum in double, and the first index whose running double sum reaches `unit` (in [0, 1))
    /// times the total. Returns an index into the list. A token of probability 0 is never chosen,
    /// and a list whose largest logit is not finite (all -infinity, or +infinity) gives its first
    /// largest, where llama.cpp's sums would go NaN.
    mutating func draw(_ unit: Double) -> Int {
        let n = count
        precondition(n > 0, "the sampler's candidate list is empty")
        if n == 1 {
            items[0].p = 1
            return 0
        }
        let isSorted = sorted
        return items.withUnsafeMutableBufferPointer { c -> Int in
            var maxLogit = c[0].logit
            if !isSorted { for i in 1..<n where maxLogit < c[i].logit { maxLogit = c[i].logit } }
            guard maxLogit.isFinite else {
                var best = 0
                for i in 1..<n where c[i].logit > c[best].logit || (c[best].logit.isNaN && !c[i].logit.isNaN) { best = i }
                for i in 0..<n { c[i].p = i == best ? 1 : 0 }
                return best
            }
            var total: Double = 0
            for i in 0..<n {
                let l = c[i].logit
                let p = l.isNaN ? 0 : expf(l - maxLogit)
                c[i].p = p
                total += Double(p)
            }
            let target = total * unit
            var running: Double = 0
            var chosen = -1
            for i in 0..<n {
                let p = c[i].p
                if chosen < 0 {
                    running += Double(p)
                    if running >= target && p > 0 { chosen = i }
                }
                c[i].p = Float(Double(p) / total)
            }
            return chosen >= 0 ? chosen : n - 1
        }
    }

    /// The list as it stands.
    var current: [SamplerCandidate] { Array(items[0..<count]) }
}
