import Glibc
import MeshIO
import MeshRouting
import TincProtocol

/// One TCP meta connection to a peer: its socket, the two encrypted stream halves, the
/// authentication state machine and, once active, the peer's node and our edge to it.
public final class MetaConnection {
    public enum State { case connecting, authenticating, active, closed }

    public let id: Int
    public private(set) var fd: Int32
    public let address: SocketAddress
    /// The ConnectTo this connection serves (moved to a newer connection with the same peer).
    public var outgoing: Outgoing?
    public var state: State
    public let inbound = MetaInbound()
    public let outbound = MetaOutbound()
    public var handshake: Handshake!
    public var name: String?
    public var node: Node?
    public var edge: Edge?
    public var options: UInt32 = 0
    /// Start of the connection attempt: the ACK weight is the time from here to our ACK.
    public let started: Double
    public var lastPingTime: Double
    public var pinged = false
    public var inMST = false
    public var estimatedWeight = 0
    public var lastFlushed: Double = 0
    public var peerSettings: PeerSettings?
    /// Requests queued on this connection, sent or forwarded (the scale test counts gossip per node).
    public private(set) var requestsSent = 0

    init(id: Int, fd: Int32, address: SocketAddress, outgoing: Outgoing?, connecting: Bool, now: Double) {
        self.id = id
        self.fd = fd
        self.address = address
        self.outgoing = outgoing
        self.state = connecting ? .connecting : .authenticating
        self.started = now
        self.lastPingTime = now
    }

    /// tinc's "NAME (HOST port PORT)" as used in every log line.
    public var label: String { "\(name ?? "<unknown>") (\(address))" }

    public var isActive: Bool { state == .active }

    public func send(_ request: Request) {
        Log.debug(Log.protocol_, "Sending \(request.type.name) to \(label): \(request.line)")
        requestsSent += 1
        outbound.queue(line: request.line)
    }

    /// Re-sends a received line unchanged (tinc's forward_request keeps the random prefix).
    public func send(line: String, type: RequestType) {
        Log.debug(Log.protocol_, "Forwarding \(type.name) to \(label): \(line)")
        requestsSent += 1
        outbound.queue(line: line)
    }

    /// One line of a broadcast (logged once by the caller, not per connection).
    func queueBroadcast(line: String) {
        requestsSent += 1
        outbound.queue(line: line)
    }

    func closeSocket() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
        state = .closed
    }
}
