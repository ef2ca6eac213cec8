/// A node whose reachability flipped during `MeshGraph.run()`.
public struct ReachabilityChange {
    public let node: Node
    public let becameReachable: Bool
    /// The node's UDP address at the moment of the change, i.e. before it is cleared for a node that
    /// became unreachable. tinc passes it as REMOTEADDRESS/REMOTEPORT to host-down and subnet-down.
    public let udpAddress: (host: String, port: String)?
}

/// The mesh as tinc 1.0.36 sees it: nodes, directed edges, subnets, and the two trees computed
/// from them by `run()` (shortest paths for unicast, a spanning tree for broadcast).
///
/// Not thread-safe: use from one thread (the daemon's event loop).
public final class MeshGraph {
    public let myself: Node
    /// All nodes (myself included) ordered by name, as tinc's node_tree.
    public private(set) var nodesByName: [Node] = []
    /// All edges in tinc edge_weight_compare order: weight, from-name, to-name.
    public private(set) var edgesByWeight: [Edge] = []

    private var nodeByName: [String: Node] = [:]
    private var nodeByID: [Node?] = []
    /// Released ids, highest first, so the lowest is reused first and ids stay dense.
    private var freeIDs: [Int] = []
    /// Ids of removed nodes that something outside the graph may still refer to (see
    /// `onNodeRemoved`); they are not handed out again until `releaseID`.
    private var heldIDs: Set<Int> = []

    /// Set when per-id state lives outside the graph (the data plane's keys, replay windows and
    /// forwarding entries): called with the id of every removed node, and that id is then held
    /// back, not reused for another node, until `releaseID(_:)` says every holder has forgotten it.
    public var onNodeRemoved: ((Int) -> Void)?
    let subnetTable = SubnetTable()

    public init(myName: String) {
        myself = Node(name: myName, id: 0)
        // setup_myself(): we are always reachable and route to ourselves.
        myself.reachable = true
        myself.nexthop = myself
        myself.via = myself
        myself.distance = 0
        nodeByID = [myself]
        nodeByName[myName] = myself
        nodesByName = [myself]
    }

    deinit {
        // Nodes and edges reference each other strongly (edges list, from/to, nexthop, prevEdge):
        // break the cycles so everything is freed with the graph.
        for n in nodesByName { n.detach() }
    }

    // MARK: Nodes

    public var nodeCount: Int { nodesByName.count }
    /// One more than the highest id in use: the size for arrays indexed by `Node.id`.
    public var nodeIDCapacity: Int { nodeByID.count }

    public func node(named name: String) -> Node? { nodeByName[name] }

    public func node(id: Int) -> Node? {
        id >= 0 && id < nodeByID.count ? nodeByID[id] : nil
    }

    public func lookupOrCreateNode(named name: String) -> Node {
        if let n = nodeByName[name] { return n }
        let id: Int
        if let reused = freeIDs.popLast() {
            id = reused
        } else {
            id = nodeByID.count
            nodeByID.append(nil)
        }
        let n = Node(name: name, id: id)
        nodeByID[id] = n
        nodeByName[name] = n
        nodesByName.insert(n, at: nodesByName.partitionPoint { nameLess($0.name, name) })
        return n
    }

    /// Removes a node with all its subnets and all edges from or to it (tinc's purge only removes
    /// nodes nobody has an edge to; removing incoming edges too keeps the graph consistent).
    /// Call `run()` afterwards. Removing myself is not allowed.
    public func removeNode(_ n: Node) {
        precondition(n !== myself, "cannot remove myself")
        guard n.attached, nodeByName[n.name] === n else { return }
        for s in n.subnets { subnetTable.remove(s, owner: n) }
        n.subnets = []
        for e in n.edges { removeEdge(e) }
        for other in nodesByName where other !== n {
            if let incoming = other.edgeByDestination[n.id] { removeEdge(incoming) }
        }
        // Drop references to the removed node and its edges so it can be freed now.
        for other in nodesByName {
            if other.nexthop === n { other.nexthop = nil }
            if other.via === n { other.via = nil }
            if let pe = other.prevEdge, pe.from === n || pe.to === n { other.prevEdge = nil }
        }
        n.detach()
        nodeByName[n.name] = nil
        nodeByID[n.id] = nil
        if onNodeRemoved != nil {
            heldIDs.insert(n.id)
        } else {
            freeIDs.insert(n.id, at: freeIDs.partitionPoint { $0 > n.id })
        }
        if let i = nodesByName.firstIndex(where: { $0 === n }) { nodesByName.remove(at: i) }
        subnetTable.flushCache()
        onNodeRemoved?(n.id)
    }

    /// Makes a held id (see `onNodeRemoved`) available for reuse.
    public func releaseID(_ id: Int) {
        guard heldIDs.remove(id) != nil, id > 0, id < nodeByID.count, nodeByID[id] == nil else { return }
        freeIDs.insert(id, at: freeIDs.partitionPoint { $0 > id })
    }

    /// Ids of removed nodes not yet released (tests, diagnostics).
    public var heldIDCount: Int { heldIDs.count }

    public func unreachableNodes() -> [Node] {
        nodesByName.filter { !$0.reachable }
    }

    // MARK: Edges

    public var edgeCount: Int { edgesByWeight.count }

    public func edge(from: Node, to: Node) -> Edge? {
        from.edgeByDestination[to.id]
    }

    /// Adds from→to and links it with to→from if that exists. An existing from→to edge is replaced.
    @discardableResult
    public func addEdge(from: Node, to: Node, address: String, port: String, options: UInt32, weight: Int) -> Edge {
        precondition(from.attached && to.attached && nodeByName[from.name] === from && nodeByName[to.name] === to,
                     "edge endpoints must be nodes of this graph")
        if let old = from.edgeByDestination[to.id] { removeEdge(old) }
        let e = Edge(from: from, to: to, address: address, port: port, options: options, weight: weight)
        e.graph = self
        from.edges.insert(e, at: from.edges.partitionPoint { nameLess($0.to.name, to.name) })
        from.edgeByDestination[to.id] = e
        edgesByWeight.insert(e, at: weightOrderIndex(of: e, weight: weight))
        if let r = to.edgeByDestination[from.id] {
            e.reverse = r
            r.reverse = e
        }
        return e
    }

    public func removeEdge(_ e: Edge) {
        guard e.graph === self else { return }
        if let r = e.reverse, r !== e { r.reverse = nil }
        e.reverse = nil
        e.inMST = false
        if let i = e.from.edges.firstIndex(where: { $0 === e }) { e.from.edges.remove(at: i) }
        e.from.edgeByDestination[e.to.id] = nil
        let i = weightOrderIndex(of: e, weight: e.weight)
        if i < edgesByWeight.count, edgesByWeight[i] === e { edgesByWeight.remove(at: i) }
        e.graph = nil
    }

    /// Keeps edgesByWeight sorted when a weight is changed in place.
    func edgeWeightChanged(_ e: Edge, from oldWeight: Int) {
        let old = weightOrderIndex(of: e, weight: oldWeight)
        if old < edgesByWeight.count, edgesByWeight[old] === e { edgesByWeight.remove(at: old) }
        edgesByWeight.insert(e, at: weightOrderIndex(of: e, weight: e.weight))
    }

    private func weightOrderIndex(of e: Edge, weight: Int) -> Int {
        // While a weight change is being applied, `e` itself still sits at its old-weight position.
        edgesByWeight.partitionPoint { edgeOrderBefore($0, weight: $0 === e ? weight : $0.weight, e, weight: weight) }
    }

    // MARK: Graph algorithms

    /// tinc graph(): shortest paths (BFS) first, then the broadcast tree.
    /// Returns the nodes whose reachability changed, in node-name order.
    @discardableResult
    public func run() -> [ReachabilityChange] {
        let changes = computeShortestPaths()
        subnetTable.refreshReachability()
        computeBroadcastTree()
        return changes
    }

    /// Names of nodes we have a direct edge with that is in the broadcast tree (tinc sets
    /// `connection->status.mst` for exactly these).
    public func mstNeighbors() -> Set<String> {
        Set(myself.edges.lazy.filter { $0.inMST }.map { $0.to.name })
    }

    // MARK: Subnets

    /// Adds a subnet for `owner`. Returns false (and changes nothing) if the owner already has it.
    /// Most entries for one prefix (same network and length, any owner or weight). Inserting walks
    /// the entries of that prefix, so without a bound many owners of one prefix would make
    /// announcements quadratic; tinc has no such bound, real meshes are far below it.
    public var maxEntriesPerPrefix = 4096

    /// Whether `addSubnet` would stay within `maxEntriesPerPrefix`.
    public func prefixHasRoom(for s: Subnet) -> Bool {
        subnetTable.chainLength(of: s, limit: maxEntriesPerPrefix) < maxEntriesPerPrefix
    }

    @discardableResult
    public func addSubnet(_ s: Subnet, owner: Node) -> Bool {
        precondition(s.isWellFormed, "malformed subnet \(s)")
        precondition(owner.attached && nodeByName[owner.name] === owner, "owner must be a node of this graph")
        let i = owner.subnets.partitionPoint { $0 < s }
        if i < owner.subnets.count, owner.subnets[i] == s { return false }
        owner.subnets.insert(s, at: i)
        subnetTable.insert(SubnetEntry(subnet: s, owner: owner))
        return true
    }

    @discardableResult
    public func removeSubnet(_ s: Subnet, owner: Node) -> Bool {
        let i = owner.subnets.partitionPoint { $0 < s }
        guard i < owner.subnets.count, owner.subnets[i] == s else { return false }
        owner.subnets.remove(at: i)
        subnetTable.remove(s, owner: owner)
        return true
    }

    public func hasSubnet(_ s: Subnet, owner: Node) -> Bool {
        let i = owner.subnets.partitionPoint { $0 < s }
        return i < owner.subnets.count && owner.subnets[i] == s
    }

    public var subnetCount: Int { subnetTable.count }

    /// Every subnet with its owner in tinc's global order (type, prefix desc, address, weight, owner name).
    public func allSubnets() -> [(Subnet, Node)] {
        subnetTable.allEntries().map { ($0.subnet, $0.owner) }
    }

    // Lookups follow tinc: candidates in subnet order (longest prefix, then address, weight, owner
    // name); the first with a reachable owner wins; if no owner is reachable the last candidate is
    // returned so the caller can report "unreachable". nil means no subnet matches at all.
    // The pointer forms read the address straight from a packet buffer (6, 4 or 16 bytes, any
    // alignment). `lookupOwner` is the same lookup returning only the owner, which is all routing
    // needs, and avoids copying the Subnet.

    @inline(__always)
    private func result(_ slot: Int32) -> (Subnet, Node)? {
        guard slot >= 0 else { return nil }
        let e = subnetTable.entry(slot)
        return (e.subnet, e.owner)
    }

    @inline(__always)
    private func owner(_ slot: Int32) -> Node? {
        slot >= 0 ? subnetTable.owner(slot) : nil
    }

    public func lookup(mac: UnsafeRawPointer) -> (Subnet, Node)? {
        result(subnetTable.lookupMAC(SubnetKey.mac(mac)))
    }

    public func lookup(mac: [UInt8]) -> (Subnet, Node)? {
        guard mac.count == 6 else { return nil }
        return mac.withUnsafeBytes { lookup(mac: $0.baseAddress!) }
    }

    public func lookupOwner(mac: UnsafeRawPointer) -> Node? {
        owner(subnetTable.lookupMAC(SubnetKey.mac(mac)))
    }

    /// tinc lookup_subnet_mac(owner, mac): only `owner`'s subnets (switch-mode MAC learning).
    public func lookup(mac: UnsafeRawPointer, owner: Node) -> (Subnet, Node)? {
        result(subnetTable.lookupMAC(SubnetKey.mac(mac), owner: owner))
    }

    public func lookup(mac: [UInt8], owner: Node) -> (Subnet, Node)? {
        guard mac.count == 6 else { return nil }
        return mac.withUnsafeBytes { lookup(mac: $0.baseAddress!, owner: owner) }
    }

    public func lookup(ipv4: UnsafeRawPointer) -> (Subnet, Node)? {
        result(subnetTable.lookupIPv4(SubnetKey.ipv4(ipv4)))
    }

    /// `ipv4` is the address as a host-order integer, e.g. 0x0A000001 for 10.0.0.1.
    public func lookup(ipv4: UInt32) -> (Subnet, Node)? {
        result(subnetTable.lookupIPv4(ipv4))
    }

    public func lookup(ipv4: [UInt8]) -> (Subnet, Node)? {
        guard ipv4.count == 4 else { return nil }
        return ipv4.withUnsafeBytes { lookup(ipv4: $0.baseAddress!) }
    }

    public func lookupOwner(ipv4: UnsafeRawPointer) -> Node? {
        owner(subnetTable.lookupIPv4(SubnetKey.ipv4(ipv4)))
    }

    public func lookup(ipv6: UnsafeRawPointer) -> (Subnet, Node)? {
        result(subnetTable.lookupIPv6(SubnetKey.ipv6(ipv6)))
    }

    public func lookup(ipv6: [UInt8]) -> (Subnet, Node)? {
        guard ipv6.count == 16 else { return nil }
        return ipv6.withUnsafeBytes { lookup(ipv6: $0.baseAddress!) }
    }

    public func lookupOwner(ipv6: UnsafeRawPointer) -> Node? {
        owner(subnetTable.lookupIPv6(SubnetKey.ipv6(ipv6)))
    }
}

extension Node {
    /// Drops everything this node references so reference cycles through it are broken.
    func detach() {
        attached = false
        for e in edges { e.graph = nil; e.reverse = nil }
        edges = []
        edgeByDestination = [:]
        nexthop = nil
        via = nil
        prevEdge = nil
        reachable = false
        distance = nil
    }
}

extension Array {
    /// Index of the first element for which `isBefore` is false; the array must be partitioned
    /// (all "before" elements first). Binary search.
    func partitionPoint(_ isBefore: (Element) -> Bool) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if isBefore(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
