import MeshIO
import MeshRouting

/// Refusals of gossip past `MeshLimits`, logged without letting a flood flood the log too: the
/// first refusal of a kind is logged at once, later ones are counted and summed up every 10 s.
struct LimitWarnings {
    private var pending: [String: (count: Int, last: Double)] = [:]
    private(set) var total = 0

    /// Returns the line to log now, or nil while this kind is being counted.
    /// The message is built only when it is logged: a flood refuses many lines a second.
    mutating func note(_ kind: String, _ message: () -> String, now: Double) -> String? {
        total += 1
        if let p = pending[kind], now - p.last < 10 {
            pending[kind] = (p.count + 1, p.last)
            return nil
        }
        let earlier = pending[kind]?.count ?? 0
        pending[kind] = (0, now)
        return earlier > 0 ? "\(message()) (and \(earlier) more refused in the last 10 s)" : message()
    }
}

extension MeshDaemon {
    private func refuse(_ kind: String, _ message: @autoclosure () -> String) {
        if let line = gossip.limitWarnings.note(kind, message, now: loop.now) { Log.warning(line) }
    }

    /// An existing node, or a new one if MaxNodes allows it.
    func nodeWithinLimits(named name: String, from c: MetaConnection) -> Node? {
        if let n = graph.node(named: name) { return n }
        guard graph.nodeCount < settings.limits.maxNodes else {
            refuse("nodes", "Refusing new node \(name) from \(c.label): MaxNodes (\(settings.limits.maxNodes)) reached")
            return nil
        }
        return graph.lookupOrCreateNode(named: name)
    }

    func edgeWithinLimits(_ fromName: String, _ toName: String, from c: MetaConnection) -> Bool {
        guard graph.edgeCount < settings.limits.maxEdges else {
            refuse("edges", "Refusing edge \(fromName) to \(toName) from \(c.label): MaxEdges (\(settings.limits.maxEdges)) reached")
            return false
        }
        return true
    }

    func subnetWithinLimits(_ subnet: Subnet, owner: Node, from c: MetaConnection) -> Bool {
        let l = settings.limits
        if owner.subnets.count >= l.maxSubnetsPerNode {
            refuse("subnets-per-node",
                   "Refusing subnet \(subnet) of \(owner.name) from \(c.label): MaxSubnetsPerNode (\(l.maxSubnetsPerNode)) reached")
            return false
        }
        if graph.subnetCount >= l.maxSubnets {
            refuse("subnets", "Refusing subnet \(subnet) of \(owner.name) from \(c.label): MaxSubnets (\(l.maxSubnets)) reached")
            return false
        }
        if !graph.prefixHasRoom(for: subnet) {
            refuse("prefix", "Refusing subnet \(subnet) of \(owner.name) from \(c.label): \(graph.maxEntriesPerPrefix) entries for that prefix already")
            return false
        }
        return true
    }

    /// Our own learned MAC addresses (switch mode) count against our own limits too: a hostile
    /// guest on the TAP side can send frames from any number of source addresses.
    func learnedMACWithinLimits(_ subnet: Subnet) -> Bool {
        let l = settings.limits
        if myself.subnets.count >= l.maxSubnetsPerNode || graph.subnetCount >= l.maxSubnets {
            refuse("learned-macs", "Not learning MAC address \(subnet.netString): subnet limit reached (MaxSubnetsPerNode \(l.maxSubnetsPerNode), MaxSubnets \(l.maxSubnets))")
            return false
        }
        return graph.prefixHasRoom(for: subnet)
    }
}
