import MeshIO
import MeshRouting

// MeshDaemon's state, grouped by concern. Every group belongs to the control loop (touched only on
// its thread); they are classes so that one group can be mutated while another is read in the same
// statement without an exclusivity conflict, as the flat properties they replace allowed.

/// The meta connections and everything that indexes or throttles them.
final class ConnectionTable {
    /// Every meta connection by id, authenticated or not.
    var all: [Int: MetaConnection] = [:]
    var byFD: [Int32: MetaConnection] = [:]
    /// The active connection per peer name.
    var activeByName: [String: MetaConnection] = [:]
    /// ConnectTo peers we keep dialling, by name.
    var outgoings: [String: Outgoing] = [:]
    var nextID = 1
    /// Failed connections parked instead of closed.
    var tarpit = Tarpit()
    /// Incoming connections accepted in the current second (tinc's accept throttle).
    var acceptsThisSecond = (second: 0, count: 0)
    /// Requests sent on connections that are gone (the live ones keep their own count).
    var requestsSentByClosed = 0
    /// Every meta request this daemon has queued since it started.
    var requestsSent: Int { requestsSentByClosed + all.values.reduce(0) { $0 + $1.requestsSent } }
}

/// What the node/edge/subnet gossip remembers between messages.
final class GossipState {
    /// Requests already seen (flooded messages are handled and forwarded once).
    var seen = SeenRequests()
    /// An ADD_EDGE changed the graph and `runGraph()` is due before the read batch ends.
    var graphRunPending = false
    /// Summarised refusals of gossip beyond the MeshLimits.
    var limitWarnings = LimitWarnings()
    /// ADD/DEL about ourselves we had to contradict since the last housekeeping tick.
    var contradictions = (add: 0, del: 0)
    /// Back-off shown when the contradictions suggest another node with our name.
    var sleepTime: Double = 10
    /// The graph changed since GraphDumpFile was last written, and when that was.
    var graphChanged = false
    var lastGraphDump: Double = 0
}

/// The control plane's view of every node's packet keys and path MTU, by node name.
final class KeyTable {
    private var byName: [String: NodeKeys] = [:]
    /// When the symmetric keys were last renewed (KeyExpire).
    var lastExpiry: Double = 0

    subscript(name: String) -> NodeKeys? {
        get { byName[name] }
        set { byName[name] = newValue }
    }
}

/// Publishes forwarding snapshots to the data-plane threads and keeps what feeds them from the
/// frame path (MAC addresses learned in switch mode).
final class DataPlanePublisher {
    var dataPlane: DataPlane?
    /// Switch mode: MACs learned from our device, with their subnet and expiry.
    var learnedMACs: [[UInt8]: (subnet: Subnet, expires: Double)] = [:]
    /// Builds the snapshot (set by the daemon; nil once the daemon is gone).
    var buildTable: () -> ForwardingTable? = { nil }
    private var pending = false
    private unowned let loop: EventLoop

    init(loop: EventLoop) { self.loop = loop }

    /// Coalesces snapshot rebuilds: many gossip messages in one loop turn give one new table.
    func scheduleTablePublish() {
        guard !pending else { return }
        pending = true
        loop.post { [weak self] in
            guard let self = self else { return }
            self.pending = false
            guard let dp = self.dataPlane, let table = self.buildTable() else { return }
            dp.publish(table)
            for id in dp.removedIDs { dp.forgetNode(id) }
            dp.removedIDs.removeAll()
        }
    }
}
