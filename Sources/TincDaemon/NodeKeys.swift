import MeshCrypto

/// Per-node packet crypto state (tinc's node_t key fields). The receiver of data chooses the key:
/// `inbound` is the key we sent in our ANS_KEY, `outbound` the one the peer sent us.
public final class NodeKeys {
    public var inbound: PacketCipher?
    public var inCompression = 0
    public var receivedSeqno: UInt32 = 0
    public var lateBitmap: [UInt8] = []
    public var farFutureDrops = 0

    public var outbound: PacketCipher?
    public var outCompression = 0
    public var outCipherNID = 0, outDigestNID = 0, outMACLength = 0
    public var validKey = false
    public var sentSeqno: UInt32 = 0
    public var lastReqKey: Double = 0

    // PMTU discovery state (frame sizes).
    public var mtu = 1518
    public var minMTU = 0
    public var maxMTU = 1518
    public var mtuProbes = 0

    init(replayWindow: Int) {
        lateBitmap = [UInt8](repeating: 0, count: replayWindow)
    }

    func resetPath() {
        validKey = false
        lastReqKey = 0
        minMTU = 0
        maxMTU = 1518
        mtuProbes = 0
    }
}
