@testable import MeshRouting

extension MeshGraph {
    /// Both directions of a link, as two ACKing tinc daemons would announce it.
    @discardableResult
    func link(_ a: Node, _ b: Node, weight: Int = 10, options: UInt32 = 0,
              address: String = "192.0.2.1", port: String = "655") -> (Edge, Edge) {
        let ab = addEdge(from: a, to: b, address: address, port: port, options: options, weight: weight)
        let ba = addEdge(from: b, to: a, address: address, port: port, options: options, weight: weight)
        return (ab, ba)
    }

    func nodes(_ names: String...) -> [Node] { names.map { lookupOrCreateNode(named: $0) } }
}
