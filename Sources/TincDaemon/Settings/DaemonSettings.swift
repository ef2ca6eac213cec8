import MeshCrypto
import MeshRouting
import TunTap
import TincConfig


/// Everything the running daemon needs, resolved and validated once from the config files.
/// Keeping this separate from the parser lets tests build a daemon without files.
public struct DaemonSettings {
    public var name: String
    public var confDir: String
    public var netName: String?
    public var mode: RoutingMode = .router
    public var broadcast: BroadcastMode = .mst
    public var forwarding: ForwardingMode = .internal
    public var port: String = "655"
    public var bindAddresses: [(host: String?, port: String?)] = []
    public var addressFamily: Int32 = 0   // AF_UNSPEC
    public var bindToInterface: String?
    public var connectTo: [String] = []
    public var deviceType: TunTap.DeviceType = .tun
    public var devicePath: String = "/dev/net/tun"
    public var interface: String?
    public var iffOneQueue = false
    public var pingInterval: Double = 60
    public var pingTimeout: Double = 5
    public var maxTimeout: Double = 900
    public var minTimeout: Double = 0
    public var keyExpire: Double = 3600
    public var macExpire: Double = 600
    public var replayWindow: Int = 16
    public var maxOutputBufferSize: Int = 10 * 1518
    public var tunnelServer = false
    public var strictSubnets = false
    public var directOnly = false
    public var decrementTTL = false
    public var localDiscovery = false
    public var priorityInheritance = false
    public var scriptsInterpreter: String?
    public var udpRcvBuf: Int32?
    public var udpSndBuf: Int32?
    public var graphDumpFile: String?
    public var metricsAddress: String?
    public var controlSocket: String?
    public var deviceOffload = true
    /// TX workers, each with its own TAP queue (multi-queue TAP) and cipher contexts; nil: one per online core.
    public var dataPlaneThreads: Int?
    /// Our overlay addresses for the automatic iBGP mesh (hosts/NAME `BGPAddress`, `BGPAddress6`).
    public var bgpAddress: String?
    public var bgpAddress6: String?
    public var bypassSecurity = false
    /// MaxNodes, MaxEdges, MaxSubnets, MaxSubnetsPerNode.
    public var limits = MeshLimits()

    // Our own host settings (hosts/NAME merged with tinc.conf).
    public var privateKey: RSAKey?
    public var cipher: CipherSuite = CipherSuite(name: "aes-256-cbc")!
    public var digest: DigestSuite = DigestSuite(name: "sha256")!
    public var macLength = 4
    public var compression = 0
    public var subnets: [Subnet] = []
    public var indirectData = false
    public var tcpOnly = false
    public var pmtuDiscovery = true
    public var clampMSS = true
    public var pmtu: Int?

    public init(name: String, confDir: String) {
        self.name = name
        self.confDir = confDir
    }

    /// The option bits we announce in our ACK for a given peer's host settings.
    func ackOptions(peer: PeerSettings) -> UInt32 {
        var o: UInt32 = 0
        if indirectData || peer.indirectData { o |= 0x1 }
        if tcpOnly || peer.tcpOnly { o |= 0x3 }
        if pmtuDiscovery && o & 0x2 == 0 { o |= 0x4 }
        if peer.clampMSS ?? clampMSS { o |= 0x8 }
        return o
    }
}

/// What we read about a peer from hosts/PEER.
public struct PeerSettings {
    public var name: String
    public var addresses: [(host: String, port: String?)] = []
    public var port: String = "655"
    public var publicKey: RSAKey?
    public var indirectData = false
    public var tcpOnly = false
    public var clampMSS: Bool?
    public var pmtu: Int?
    public var weight: Int?
    public var subnets: [Subnet] = []
    public var bgpAddress: String?
    public var bgpAddress6: String?
    /// mtime of the host file, so SIGHUP can close connections whose file changed.
    public var fileModified: Double = 0

    public init(name: String) { self.name = name }
}
