import Foundation

/// Byte-level BPE over one pre-tokenized word, as llama.cpp's `llm_tokenizer_bpe_session` does it.
///
/// Everything is kept as raw bytes: a word's symbols start as its single bytes and the merge
/// table is keyed by pairs of "piece" ids, one id per distinct byte string that a merge can take
/// or produce. Merges run lowest rank first, leftmost first among equal ranks; a symbol that ends
/// up as no token falls back to single-character tokens exactly as llama.cpp does. Results are
/// cached per word, since text repeats its words.
final class BytePairEncoder: @unchecked Sendable {
    /// Piece id -> token id (-1: the byte string is no token). Ids 0...255 are the single bytes.
    private let pieceToken: [Int32]
    /// (left piece << 32 | right piece) -> (rank << 32 | merged piece).
    private let merges: [UInt64: UInt64]
    /// Raw bytes of every token whose text is in the byte alphabet -> token id.
    private let tokenForBytes: [[UInt8]: Int32]
    private let ignoreMerges: Bool

    private var cache: [[UInt8]: [Int32]] = [:]
    private let cacheLock = NSLock()
    /// Past this many cached words the cache starts over, so a long stream of unique text cannot
    /// grow it without bound.
    private static let cacheLimit = 1 << 17

    /// - Parameters:
    ///   - tokens: the vocabulary's texts, in the byte alphabet (empty texts already replaced).
    ///   - merges: `tokenizer.ggml.merges`, rank order.
    init(tokens: [String], merges mergeTexts: [String], ignoreMerges: Bool) {
        var pieceIndex: [[UInt8]: Int32] = [:]
        var pieceToken: [Int32] = []
        pieceIndex.reserveCapacity(tokens.count + mergeTexts.count)
        for byte in 0..<256 {
            pieceIndex[[UInt8(byte)]] = Int32(byte)
            pieceToken.append(-1)
        }
        func intern(_ bytes: [UInt8]) -> Int32 {
            if let id = pieceIndex[bytes] { return id }
            let id = Int32(pieceToken.count)
            pieceIndex[bytes] = id
            pieceToken.append(-1)
            return id
        }
        var tokenForBytes: [[UInt8]: Int32] = [:]
        tokenForBytes.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() {
            // A text outside the alphabet (a special token with a raw space, say) can never be
            // what pre-tokenized bytes spell. Later duplicates win, as in llama.cpp's map.
            guard let bytes = BytePairByteMap.bytes(of: text) else { continue }
            pieceToken[Int(intern(bytes))] = Int32(id)
            tokenForBytes[bytes] = Int32(id)
        }
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergeTexts.count)
        for (rank, text) in mergeTexts.enumerated() {
            // llama.cpp splits at the first space after the first character; a merge without one
            // (or with a side outside the alphabet) can never apply.
            let scalars = Substring(text).unicodeScalars
            guard !scalars.isEmpty, let space = scalars[scalars.index(after: scalars.startIndex)...].firstIndex(of: " ") else { continue }
            guard let left = BytePairByteMap.bytes(of: scalars[..<space]),
                  let right = BytePairByteMap.bytes(of: scalars[scalars.index(after: space)...]),
                  !right.isEmpty
            else { continue }
            let key = UInt64(UInt32(intern(left))) << 32 | UInt64(UInt32(intern(right)))
            if table[key] != nil { continue }  // the first rank of a repeated pair wins
            let merged = intern(left + right)
            table[key] = UInt64(rank) << 32 | UInt64(UInt32(merged))
        }
        self.pieceToken = pieceToken
        self.merges = table
        self.tokenForBytes = tokenForBytes
        self.ignoreMerges = ignoreMerges
    }

    /// The token ids of one word (raw bytes), appended to `output`.
    func encode(word: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        guard !word.isEmpty else { return }
        let key = Array(word)
        cacheLock.lock()
        let cached = cache[key]
        cacheLock.unlock()
        if let cached {
            output.append(contentsOf: cached)
            return
        }
        let ids = merge(key)
        cacheLock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[key] = ids
        cacheLock.unlock()
        output.append(contentsOf: ids)
    }

    private func merge(_ word: [UInt8]) -> [Int32] {
        if ignoreMerges, let whole = tokenForBytes[word] { return [whole] }
        let count = word.count
        var piece = word.map { Int32($0) }
        var next = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = i + 1 < count ? Int32(i + 1) : -1 }
            initialized = count
        }
        var previous = (0..<count).map { Int32($0 - 1) }
        var alive = [Bool](repeating: true, count: count)
        var heap = MinHeap()

        @inline(__always) func rankAndResult(_ left: Int32, _ right: Int32) -> UInt64? {
            merges[UInt64(UInt32(piece[Int(left)])) << 32 | UInt64(UInt32(piece[Int(right)]))]
        }
        @inline(__always) func push(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0, let entry = rankAndResult(left, right) else { return }
            heap.push((entry >> 32) << 32 | UInt64(UInt32(left)))
        }
        for i in 0..<(count - 1) { push(Int32(i), Int32(i + 1)) }

        while let top = heap.pop() {
            let rank = top >> 32
            let left = Int32(truncatingIfNeeded: top & 0xFFFF_FFFF)
            guard alive[Int(left)] else { continue }
            let right = next[Int(left)]
            // Stale entries (a side has merged since) are skipped: the pair now there has another rank.
            guard right >= 0, let entry = rankAndResult(left, right), entry >> 32 == rank else { continue }
            piece[Int(left)] = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)
            alive[Int(right)] = false
            let after = next[Int(right)]
            next[Int(left)] = after
            if after >= 0 { previous[Int(after)] = left }
            push(previous[Int(left)], left)
            push(left, after)
        }

        var ids: [Int32] = []
        var symbol: Int32 = 0
        while symbol >= 0 {
            let token = pieceToken[Int(piece[Int(symbol)])]
            if token >= 0 {
                ids.append(token)
            } else {
                // Not a token: llama.cpp looks up each byte of the symbol's alphabet text as a
                // one-character token, which only the bytes that stand for themselves in ASCII can be.
                let end = next[Int(symbol)] >= 0 ? Int(next[Int(symbol)]) : count
                for byte in word[Int(symbol)..<end] where (0x21...0x7E).contains(byte) {
                    let single = pieceToken[Int(byte)]
                    if single >= 0 { ids.append(single) }
                }
            }
            symbol = next[Int(symbol)]
        }
        return ids
    }
}

/// A binary min-heap of packed (rank, left index) keys.
private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ item: UInt64) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                if left >= items.count { break }
                var smallest = left
                if left + 1 < items.count && items[left + 1] < items[left] { smallest = left + 1 }
                if items[parent] <= items[smallest] { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return top
    }
}
