import Glibc
import MeshIO
import MeshStatus

/// `MetricsAddress = host:port` in tinc.conf: an HTTP listener on the daemon's control loop that
/// serves `GET /metrics` (Prometheus text format 0.0.4, sampled from the daemon on each scrape)
/// and `GET /healthz`; everything else is 404.
public final class MetricsEndpoint {
    public let exporter = MeshExporter()
    public private(set) var server: MetricsHTTPServer!
    private let provider: () -> MeshSnapshot
    public private(set) var scrapes = 0

    /// - Parameters:
    ///   - host: a numeric address or name; `*` or empty listens on every address (IPv4 and IPv6).
    ///   - provider: samples the daemon; called on the loop thread for each request.
    public init(host: String, port: UInt16, loop: EventLoop, provider: @escaping () -> MeshSnapshot) throws {
        self.provider = provider
        let addresses = SocketAddress.resolve(host: host == "*" || host.isEmpty ? nil : host, port: String(port),
                                              passive: true)
        guard !addresses.isEmpty else { throw SystemError("metrics: cannot resolve \(host)", errno: EADDRNOTAVAIL) }
        server = MetricsHTTPServer(loop: loop) { [unowned self] method, path in self.answer(method, path) }
        try server.start(addresses: addresses)
    }

    public var boundAddresses: [SocketAddress] { server.boundAddresses }

    public func stop() { server.stop() }

    /// Samples the daemon and renders the exposition (also usable without HTTP, e.g. in tests).
    public func scrape() -> String {
        scrapes += 1
        exporter.update(provider(), now: MetricsEndpoint.wallClock())
        // process_* sort before tincd_*, so the families stay in name order.
        return (ProcessMetrics.read()?.exposition ?? "") + exporter.render()
    }

    private func answer(_ method: String, _ path: String) -> MetricsHTTPServer.Response {
        switch path {
        case "/metrics":
            return .init(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: scrape())
        case "/healthz":
            let s = provider()
            var text = "ok node=\(s.name) reachable_nodes=\(s.stats.reachableNodes)/\(s.stats.nodes) meta_connections=\(s.stats.connections)"
            if let b = s.bgp {
                let sessions = b.protocols.filter { $0.proto == "BGP" }
                text += " bgp_established=\(sessions.filter { $0.established }.count)/\(sessions.count)"
            }
            return .init(status: 200, body: text + "\n")
        case "/":
            return .init(status: 200, body: "tincd-swift metrics: GET /metrics (Prometheus), GET /healthz\n")
        default:
            return .init(status: 404, body: "not found\n")
        }
    }

    static func wallClock() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
