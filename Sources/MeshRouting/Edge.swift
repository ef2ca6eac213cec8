#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Option bits carried in ADD_EDGE / ACK (tinc OPTION_*).
public enum MeshOption {
    public static let indirectData: UInt32 = 0x0001
    public static let tcpOnly: UInt32 = 0x0002
    public static let pmtuDiscovery: UInt32 = 0x0004
    public static let clampMSS: UInt32 = 0x0008
}

/// A directed edge from→to as announced by ADD_EDGE. It only takes part in routing while its
/// reverse (to→from) exists, which is how tinc makes both ends confirm a link.
public final class Edge {
    public let from: Node
    public let to: Node
    /// Address and port of `to` as seen by `from`, exactly as on the wire.
    public var address: String { didSet { numericAddress = nil } }
    public var port: String { didSet { numericAddress = nil } }
    public var options: UInt32
    /// Changing the weight of an edge in a graph keeps `MeshGraph.edgesByWeight` sorted.
    public var weight: Int {
        didSet { if weight != oldValue { graph?.edgeWeightChanged(self, from: oldValue) } }
    }
    public internal(set) weak var reverse: Edge?
    /// Set on both directions of every edge in the broadcast tree by `MeshGraph.run()`.
    public internal(set) var inMST: Bool = false

    weak var graph: MeshGraph?
    /// Position in the weight order during the last MST run.
    var weightRank = 0
    /// Cached "address/port parse as a numeric socket address" (tinc AF_UNKNOWN check).
    private var numericAddress: Bool?

    init(from: Node, to: Node, address: String, port: String, options: UInt32, weight: Int) {
        self.from = from
        self.to = to
        self.address = address
        self.port = port
        self.options = options
        self.weight = weight
    }

    /// tinc stores edge addresses with getaddrinfo(AI_NUMERICHOST); when that fails the address is
    /// "unknown" and SSSP never copies it into a node's UDP address.
    var hasNumericAddress: Bool {
        if let known = numericAddress { return known }
        let ok = Edge.parsesAsNumericSocketAddress(host: address, port: port)
        numericAddress = ok
        return ok
    }

    static func parsesAsNumericSocketAddress(host: String, port: String) -> Bool {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = AI_NUMERICHOST
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let err = getaddrinfo(host, port, &hints, &result)
        if let result = result { freeaddrinfo(result) }
        return err == 0 && result != nil
    }
}

extension Edge: CustomStringConvertible {
    public var description: String { "\(from.name)->\(to.name)" }
}

/// tinc edge_weight_compare: weight, then from-name, then to-name. The weights are passed
/// separately so an edge can be located by the weight it was sorted under before a change.
@inline(__always)
func edgeOrderBefore(_ a: Edge, weight wa: Int, _ b: Edge, weight wb: Int) -> Bool {
    if wa != wb { return wa < wb }
    if a.from !== b.from { return nameLess(a.from.name, b.from.name) }
    if a.to !== b.to { return nameLess(a.to.name, b.to.name) }
    return false
}
