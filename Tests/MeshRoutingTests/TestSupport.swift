@testable import MeshRouting

/// Small seeded generator so random tests are reproducible.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-enough value in 0..<bound.
    mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) / 1_000_000 < p }
}

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
