import Glibc
import MeshIO

/// A deliberately tiny HTTP/1.1 server on the daemon's control `EventLoop`: one request per
/// connection (`Connection: close`), GET/HEAD only, request head at most `maxRequestBytes`, at most
/// `maxClients` connections at once, each closed after `timeout` seconds. Non-blocking throughout,
/// so a slow or hostile client never stalls the control plane.
public final class MetricsHTTPServer {
    public struct Response {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = Array(body.utf8)
        }
    }

    /// (method, path without query) -> response. Called on the loop thread.
    public typealias Handler = (_ method: String, _ path: String) -> Response

    public let maxRequestBytes: Int
    public let maxClients: Int
    public let timeout: Double
    public private(set) var boundAddresses: [SocketAddress] = []

    private let loop: EventLoop
    private let handler: Handler
    private var listenFDs: [Int32] = []

    private final class Client {
        let fd: Int32
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        var timer: EventLoop.TimerID?
        init(fd: Int32) { self.fd = fd }
    }
    private var clients: [Int32: Client] = [:]

    public init(loop: EventLoop, maxRequestBytes: Int = 8192, maxClients: Int = 32, timeout: Double = 10,
                handler: @escaping Handler) {
        self.loop = loop
        self.maxRequestBytes = maxRequestBytes
        self.maxClients = maxClients
        self.timeout = timeout
        self.handler = handler
    }

    /// Listens on every address (all must bind, or none is kept).
    public func start(addresses: [SocketAddress]) throws {
        guard !addresses.isEmpty else { throw SystemError("metrics: no address to listen on", errno: EADDRNOTAVAIL) }
        var fds: [Int32] = []
        do {
            for a in addresses {
                let fd = try Sockets.listenTCP(on: a, backlog: 16)
                fds.append(fd)
                boundAddresses.append(Sockets.localAddress(fd) ?? a)
            }
        } catch {
            for fd in fds { close(fd) }
            boundAddresses.removeAll()
            throw error
        }
        listenFDs = fds
        for fd in fds {
            loop.register(fd, events: .readable) { [unowned self] _ in self.acceptAll(fd) }
        }
    }

    public func stop() {
        for fd in listenFDs { loop.unregister(fd); close(fd) }
        listenFDs.removeAll()
        for c in Array(clients.values) { drop(c) }
    }

    private func acceptAll(_ lfd: Int32) {
        while let (fd, _) = Sockets.accept(lfd) {
            if clients.count >= maxClients {
                close(fd)   // over the limit: refuse by closing at once
                continue
            }
            let c = Client(fd: fd)
            clients[fd] = c
            c.timer = loop.schedule(after: timeout) { [weak self, weak c] in
                guard let self, let c, self.clients[c.fd] === c else { return }
                c.timer = nil
                self.drop(c)
            }
            loop.register(fd, events: .readable) { [unowned self, unowned c] ev in self.handle(c, ev) }
        }
    }

    private func handle(_ c: Client, _ ev: EventLoop.Events) {
        if c.output.isEmpty {
            readRequest(c)
        } else if ev.contains(.writable) || ev.contains(.error) {
            flush(c)
        }
    }

    private func readRequest(_ c: Client) {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
            if n == 0 { drop(c); return }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                if errno == EINTR { continue }
                drop(c); return
            }
            c.input.append(contentsOf: buf[0..<n])
            if c.input.count > maxRequestBytes {
                respond(c, Response(status: 431, body: "request too large\n"), head: false)
                return
            }
        }
        switch MetricsHTTPServer.parseHead(c.input) {
        case .incomplete: return
        case .bad: respond(c, Response(status: 400, body: "bad request\n"), head: false)
        case .methodNotAllowed: respond(c, Response(status: 405, body: "only GET\n"), head: false)
        case .request(let method, let path): respond(c, handler(method, path), head: method == "HEAD")
        }
    }

    /// What a request head (the bytes read so far) asks for.
    enum Head: Equatable {
        case incomplete
        case bad
        case methodNotAllowed
        case request(method: String, path: String)
    }

    /// Parses the request line once the head is complete ("\r\n\r\n" or "\n\n"); pure, for tests
    /// and the fuzzer (Fuzz/, target metrics-http).
    static func parseHead(_ input: [UInt8]) -> Head {
        guard let end = headEnd(input) else { return .incomplete }
        let head = String(decoding: input[..<end], as: UTF8.self)
        let requestLine = head.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return .bad }
        let method = String(parts[0])
        var path = String(parts[1])
        if let q = path.firstIndex(of: "?") { path = String(path[..<q]) }
        guard method == "GET" || method == "HEAD" else { return .methodNotAllowed }
        return .request(method: method, path: path)
    }

    /// Index just past "\r\n\r\n" (or "\n\n"), nil while incomplete.
    private static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 2 else { return nil }
        var i = 0
        while i + 1 < b.count {
            if b[i] == 0x0A {
                if b[i + 1] == 0x0A { return i + 2 }
                if b[i + 1] == 0x0D, i + 2 < b.count, b[i + 2] == 0x0A { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 431: return "Request Header Fields Too Large"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }

    private func respond(_ c: Client, _ r: Response, head: Bool) {
        var text = "HTTP/1.1 \(r.status) \(MetricsHTTPServer.reason(r.status))\r\n"
        text += "Content-Type: \(r.contentType)\r\n"
        text += "Content-Length: \(r.body.count)\r\n"
        if r.status == 405 { text += "Allow: GET, HEAD\r\n" }
        text += "Connection: close\r\n\r\n"
        c.output = Array(text.utf8)
        if !head { c.output += r.body }
        c.written = 0
        loop.modify(c.fd, events: .writable)
        flush(c)
    }

    private func flush(_ c: Client) {
        while c.written < c.output.count {
            let n = c.output.withUnsafeBytes { write(c.fd, $0.baseAddress! + c.written, c.output.count - c.written) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return }   // wait for .writable
                if errno == EINTR { continue }
                drop(c); return
            }
            c.written += n
        }
        // All sent: half-close so the client sees EOF after the body, then close.
        shutdown(c.fd, Int32(SHUT_WR))
        drop(c)
    }

    private func drop(_ c: Client) {
        guard clients[c.fd] === c else { return }
        loop.cancel(c.timer)
        loop.unregister(c.fd)
        close(c.fd)
        clients[c.fd] = nil
    }
}
