/// A node of the mesh (tinc node_t, routing part only).
///
/// Nodes are owned by their MeshGraph; the routing fields are written by `MeshGraph.run()`.
/// Not thread-safe: use a graph and its nodes from one thread (the daemon's event loop).
public final class Node {
    public let name: String
    /// Dense index, stable for the node's lifetime, for array-indexed per-node state elsewhere.
    /// Ids of removed nodes are reused (lowest first), so reset per-id state when a node is created.
    public let id: Int

    public internal(set) var reachable: Bool = false
    public internal(set) var indirect: Bool = false
    /// Where meta messages for this node go. nil while unreachable (see MeshGraph.run()).
    public internal(set) var nexthop: Node?
    /// Where UDP data for this node goes (or `nexthop` when `via === myself`). nil while unreachable.
    public internal(set) var via: Node?
    /// The edge SSSP last reached this node through. nil for myself and while unreachable.
    public internal(set) var prevEdge: Edge?
    /// Options of the edge SSSP reached this node through; 0 once unreachable.
    public internal(set) var options: UInt32 = 0
    /// UDP address for data. SSSP fills it from an edge while nil; cleared when the node becomes unreachable.
    public var udpAddress: (host: String, port: String)?
    /// Hop count from myself at the node's first BFS visit (tinc 1.0 keeps no distance; this is
    /// informational). nil while unreachable.
    public internal(set) var distance: Int?

    /// Outgoing edges, ordered by to-name (tinc edge_compare).
    public internal(set) var edges: [Edge] = []
    /// Subnets owned by this node, in tinc subnet order.
    public internal(set) var subnets: [Subnet] = []

    /// Outgoing edges keyed by the destination's id, for O(1) edge(from:to:).
    var edgeByDestination: [Int: Edge] = [:]
    /// False once removed from its graph.
    public internal(set) var attached = true

    init(name: String, id: Int) {
        self.name = name
        self.id = id
    }
}

extension Node: Hashable, CustomStringConvertible {
    public static func == (a: Node, b: Node) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
    public var description: String { name }
}

/// tinc orders nodes, edges and subnet owners by strcmp() of the names: compare bytes, not Unicode.
@inline(__always)
func nameLess(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}
