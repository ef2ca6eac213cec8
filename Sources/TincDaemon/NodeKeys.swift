/// Control-plane view of a peer's packet keys and path MTU (tinc's node_t fields). The cipher
/// contexts themselves live in the data-plane threads; this keeps what the protocol needs.
public final class NodeKeys {
    public var validKey = false
    public var lastReqKey: Double = 0
    public var hasInboundKey = false
    public var outCipherNID = 0, outDigestNID = 0, outMACLength = 0, outCompression = 0

    // PMTU discovery state (frame sizes).
    public var mtu = 1518
    public var minMTU = 0
    public var maxMTU = 1518
    public var mtuProbes = 0
    var probeTimer: Int?

    init() {}

    func resetPath() {
        validKey = false
        lastReqKey = 0
        minMTU = 0
        maxMTU = 1518
        mtuProbes = 0
    }
}
