import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 client over a plain socket to 127.0.0.1, so tests see exactly what goes over
/// the wire (status, headers, chunked server-sent events) and can hang up mid-stream. Every read
/// has a timeout; nothing waits forever.
struct LoopbackHTTP {
    let port: Int
    var timeout: Double = 120

    struct Reply {
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: Data

        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        /// The `data:` payloads of a server-sent event stream, in order.
        var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { block in
                block.split(separator: "\n").first { $0.hasPrefix("data: ") }.map { String($0.dropFirst(6)) }
            }
        }
        /// The error object of an OpenAI error reply.
        var error: [String: Any]? { json["error"] as? [String: Any] }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    func get(_ path: String, headers: [String: String] = [:]) throws -> Reply {
        try request("GET", path, body: nil, headers: headers)
    }

    func post(_ path: String, json object: Any, headers: [String: String] = [:]) throws -> Reply {
        try request("POST", path, body: try JSONSerialization.data(withJSONObject: object), headers: headers)
    }

    func post(_ path: String, raw: Data, headers: [String: String] = [:]) throws -> Reply {
        try request("POST", path, body: raw, headers: headers)
    }

    /// Sends a request and reads the whole reply (the server closes after it: `Connection: close`).
    func request(_ method: String, _ path: String, body: Data?, headers: [String: String] = [:]) throws -> Reply {
        let socket = try Connection(port: port, timeout: timeout)
        defer { socket.close() }
        try socket.send(Self.head(method, path, body: body, headers: headers) + (body ?? Data()))
        return try Self.parse(try socket.readToEnd())
    }

    /// Sends a streaming request, reads until `enough` says so (given the body so far), then
    /// hangs up without reading the rest. Returns the body read.
    func streamThenHangUp(_ path: String, json object: Any, until enough: (String) -> Bool) throws -> String {
        let body = try JSONSerialization.data(withJSONObject: object)
        let socket = try Connection(port: port, timeout: timeout)
        defer { socket.close() }
        try socket.send(Self.head("POST", path, body: body, headers: [:]) + body)
        var received = Data()
        while true {
            guard let chunk = try socket.read() else { break }
            received += chunk
            if enough(String(decoding: received, as: UTF8.self)) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    private static func head(_ method: String, _ path: String, body: Data?, headers: [String: String]) -> Data {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        if let body {
            lines.append("Content-Type: application/json")
            lines.append("Content-Length: \(body.count)")
        }
        lines += headers.map { "\($0.key): \($0.value)" }
        return Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    static func parse(_ raw: Data) throws -> Reply {
        guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw Failure(description: "no HTTP head in \(raw.count) bytes") }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line '\(head[0])'") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(raw[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = try dechunk(body) }
        return Reply(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: Data) throws -> Data {
        var out = Data(), at = data.startIndex
        while at < data.endIndex {
            guard let lineEnd = data[at...].range(of: Data("\r\n".utf8)) else { throw Failure(description: "truncated chunk size") }
            let sizeText = String(decoding: data[at..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw Failure(description: "bad chunk size '\(sizeText)'") }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard start + size <= data.endIndex else { throw Failure(description: "truncated chunk") }
            out += data[start..<start + size]
            at = start + size + 2
        }
        return out
    }

    /// One TCP connection with a receive timeout.
    private final class Connection {
        let fd: Int32

        init(port: Int, timeout: Double) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: "socket() failed") }
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else {
                Glibc.close(fd)
                throw Failure(description: "cannot connect to 127.0.0.1:\(port)")
            }
        }

        func send(_ data: Data) throws {
            try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var sent = 0
                while sent < buffer.count {
                    let n = Glibc.send(fd, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                    guard n > 0 else { throw Failure(description: "send failed after \(sent) bytes") }
                    sent += n
                }
            }
        }

        /// The next bytes, or nil at the end of the stream; throws on a timeout.
        func read() throws -> Data? {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return nil }
            guard n > 0 else { throw Failure(description: "no reply within the timeout (errno \(errno))") }
            return Data(buffer[0..<n])
        }

        func readToEnd() throws -> Data {
            var all = Data()
            while let chunk = try read() { all += chunk }
            return all
        }

        func close() { Glibc.close(fd) }
    }
}
