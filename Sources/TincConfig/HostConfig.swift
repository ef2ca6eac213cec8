// Host variables (hosts/NAME). For a peer the tree is `-o PEER.KEY=VALUE` then hosts/PEER;
// for our own node it is the whole server tree (tinc.conf, conf.d, hosts/<Name>).

/// One `Subnet` line, kept raw (another module parses subnets).
public struct SubnetEntry: Equatable, Hashable, Sendable {
    public var value: String
    public var location: ConfigLocation

    public init(value: String, location: ConfigLocation) {
        self.value = value
        self.location = location
    }
}

public struct HostConfig: Equatable, Sendable {
    /// tinc's MTU: the default starting path MTU.
    public static let defaultMTU = 1518
    public static let defaultPort = "655"
    public static let defaultCipher = "aes-256-cbc"
    public static let defaultDigest = "sha256"
    public static let defaultMACLength = 4

    /// Digest output sizes used to check MACLength when the digest is one of these.
    static let digestSizes: [String: Int] = [
        "md5": 16, "sha1": 20, "ripemd160": 20, "rmd160": 20, "sha224": 28, "sha256": 32,
        "sha384": 48, "sha512": 64, "sha512-224": 28, "sha512-256": 32,
        "sha3-224": 28, "sha3-256": 32, "sha3-384": 48, "sha3-512": 64,
    ]

    public var name: String
    /// `Address = host [port]`, in precedence order.
    public var addresses: [HostAddress] = []
    /// OpenSSL cipher name or `none`; resolved by another module.
    public var cipher: String = HostConfig.defaultCipher
    public var clampMSS: Bool = true
    /// Whether ClampMSS was written in the file (a peer's setting overrides ours only then).
    public var clampMSSSet: Bool = false
    /// 0-11.
    public var compression: Int = 0
    /// OpenSSL digest name or `none`; resolved by another module.
    public var digest: String = HostConfig.defaultDigest
    /// The IndirectData setting as written (see `effectiveIndirectData`).
    public var indirectData: Bool = false
    /// 0 up to the digest size (checked here for well-known digests, else 0-64).
    public var macLength: Int = HostConfig.defaultMACLength
    /// Starting path MTU; nil = not set (tinc then uses `defaultMTU`).
    public var pmtu: Int?
    /// Default yes, no when TCPOnly is set.
    public var pmtuDiscovery: Bool = true
    /// Numeric port string (service names are converted), default "655".
    public var port: String = HostConfig.defaultPort
    /// Obsolete hex modulus.
    public var publicKey: String?
    public var publicKeyFile: String?
    public var subnets: [SubnetEntry] = []
    public var tcpOnly: Bool = false
    /// tincd-swift extension: the node's overlay address for the automatic iBGP mesh (and its IPv6 one).
    public var bgpAddress: String?
    public var bgpAddress6: String?
    /// Edge weight override (undocumented in tinc), >= 0.
    public var weight: Int?
    /// Non-fatal remarks about this host's configuration (unknown variables ...).
    public var warnings: [String] = []

    public init(name: String) {
        self.name = name
    }

    /// TCPOnly implies IndirectData (tinc sets OPTION_INDIRECT for it).
    public var effectiveIndirectData: Bool { indirectData || tcpOnly }

    /// The starting path MTU: `pmtu` if set and smaller than the default MTU.
    public var effectivePMTU: Int { min(pmtu ?? HostConfig.defaultMTU, HostConfig.defaultMTU) }

    /// Port as a number.
    public var portNumber: UInt16 { UInt16(port) ?? 655 }

    /// Addresses with the host's Port filled in where a line gives none.
    public var resolvedAddresses: [HostAddress] {
        addresses.map { a in
            var a = a
            if a.port == nil { a.port = port }
            return a
        }
    }

    /// Builds a host config from a tree (no unknown-variable checks; see Variables.check).
    public init(name: String, tree: ConfigTree) throws {
        self.name = name
        addresses = try tree.lookupAll("Address").map(HostAddress.parse)
        if let e = tree.lookup("Cipher") { cipher = e.value }
        if let b = try tree.bool("ClampMSS") { clampMSS = b; clampMSSSet = true }
        bgpAddress = tree.string("BGPAddress")
        bgpAddress6 = tree.string("BGPAddress6")
        if let e = tree.lookup("Compression") { compression = try e.intValue(in: 0...11) }
        if let e = tree.lookup("Digest") { digest = e.value }
        if let b = try tree.bool("IndirectData") { indirectData = b }
        if let b = try tree.bool("TCPOnly") { tcpOnly = b }
        if let e = tree.lookup("MACLength") {
            let n = try e.intValue(in: 0...Int(Int32.max))
            let d = digest.lowercased()
            if d != "none" {
                let max = HostConfig.digestSizes[d] ?? 64
                if n > max {
                    let what = HostConfig.digestSizes[d] != nil ? "the size of digest \(digest) (\(max) bytes)" : "\(max) bytes"
                    throw ConfigError(e, "\"\(e.value)\" exceeds \(what)")
                }
            }
            macLength = n
        }
        if let e = tree.lookup("PMTU") { pmtu = try e.intValue(in: 1...Int(Int32.max)) }
        pmtuDiscovery = !tcpOnly
        if let b = try tree.bool("PMTUDiscovery") { pmtuDiscovery = b }
        if let e = tree.lookup("Port") { port = String(try PortNumber.parse(e.value, in: e)) }
        if let e = tree.lookup("PublicKey") {
            try HostConfig.checkHex(e)
            publicKey = e.value
        }
        if let e = tree.lookup("PublicKeyFile") { publicKeyFile = e.value }
        subnets = tree.lookupAll("Subnet").map { SubnetEntry(value: $0.value, location: $0.location) }
        if let e = tree.lookup("Weight") { weight = try e.intValue(in: 0...Int(Int32.max)) }
    }

    static func checkHex(_ e: ConfigEntry) throws {
        guard e.value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw ConfigError(e, "not a hexadecimal number")
        }
    }
}
