import Glibc
import MeshIO
import MeshMetrics
import TincConfig

/// `MetricsAddress = host:port` (tinc.conf, off by default): Prometheus metrics over HTTP on the
/// control loop. The endpoint (MeshMetrics) takes a `MeshSnapshot` (nodes and BGP, no subnet or
/// edge lists) on each scrape, so the data plane pays nothing for it.
extension MeshDaemon {
    func startMetrics() {
        guard let text = settings.metricsAddress else { return }
        guard let addr = MetricsAddress.parse(text) else {
            Log.error("Invalid MetricsAddress \(text): expected host:port or [v6]:port")
            return
        }
        do {
            let endpoint = try MetricsEndpoint(host: addr.host, port: addr.port, loop: loop) { [unowned self] in
                self.snapshot([.nodes, .bgp])
            }
            metricsEndpoint = endpoint
            let urls = endpoint.boundAddresses.map { a in
                "http://\(a.host.contains(":") ? "[\(a.host)]" : a.host):\(a.port)/metrics"
            }
            Log.notice("Metrics (Prometheus) on \(urls.joined(separator: ", "))")
        } catch {
            Log.error("Could not open the metrics listener on \(addr): \(error)")
        }
    }
}
