import MeshIO

/// A `ConnectTo` target: walks every Address (and every address it resolves to) before backing
/// off by 5 s per round, clamped to [MinTimeout, MaxTimeout], as tinc 1.0 does.
public final class Outgoing {
    public let name: String
    public var timeout: Double = 0
    var candidates: [SocketAddress] = []
    var index = 0
    var timer: EventLoop.TimerID?
    var connection: MetaConnection?
    var cancelled = false

    init(name: String) { self.name = name }

    /// Next address to try, resolving the host file's Address lines when the list is exhausted.
    /// Returns nil when every address was tried in this round (then back off).
    func nextAddress(peer: PeerSettings?, family: Int32) -> SocketAddress? {
        if index == 0 || candidates.isEmpty {
            candidates = []
            for a in peer?.addresses ?? [] {
                candidates += SocketAddress.resolve(host: a.host, port: a.port ?? peer?.port ?? "655", family: family)
            }
        }
        guard index < candidates.count else { index = 0; return nil }
        defer { index += 1 }
        return candidates[index]
    }

    /// A PONG on the connection proves it healthy: reconnect quickly and from the first address next time.
    func reset() {
        timeout = 0
        index = 0
    }
}
