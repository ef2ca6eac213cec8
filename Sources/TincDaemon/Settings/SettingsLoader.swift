import Glibc
import Foundation
import MeshCrypto
import MeshIO
import MeshRouting
import TincConfig
import TunTap

public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Turns the parsed tinc configuration into the daemon's runtime settings: resolves cipher and
/// digest names, parses Subnets (with tinc's host-bit check), loads keys.
public enum SettingsLoader {
    public static func load(paths: Paths, options: CommandLineOptions) throws -> (DaemonSettings, [String]) {
        let (server, warnings) = try ConfigLoader.load(confdir: paths.confdir, options: options)
        var s = DaemonSettings(name: server.name, confDir: paths.confdir)
        s.netName = paths.netname
        s.mode = server.mode
        s.broadcast = server.broadcast
        s.forwarding = server.forwarding
        s.port = server.myself.port
        s.bindAddresses = server.bindToAddresses.map { ($0.address ?? "*", $0.port) }
        switch server.addressFamily {
        case .ipv4: s.addressFamily = AF_INET
        case .ipv6: s.addressFamily = AF_INET6
        case .any: s.addressFamily = AF_UNSPEC
        }
        s.bindToInterface = server.bindToInterface
        s.connectTo = server.connectTo
        switch server.effectiveDeviceType {
        case .tun: s.deviceType = .tun
        case .tap: s.deviceType = .tap
        case .dummy: s.deviceType = .dummy
        }
        s.devicePath = server.device
        s.interface = server.interface
        s.iffOneQueue = server.iffOneQueue
        s.pingInterval = Double(server.pingInterval)
        s.pingTimeout = Double(server.pingTimeout)
        s.maxTimeout = Double(server.maxTimeout)
        s.limits = server.limits
        s.minTimeout = Double(server.minTimeout)
        s.keyExpire = Double(server.keyExpire)
        s.macExpire = Double(server.macExpire)
        s.replayWindow = server.replayWindow
        s.maxOutputBufferSize = server.maxOutputBufferSize
        s.tunnelServer = server.tunnelServer
        s.strictSubnets = server.strictSubnets || server.tunnelServer
        s.directOnly = server.directOnly
        s.decrementTTL = server.decrementTTL
        s.localDiscovery = server.localDiscovery
        s.priorityInheritance = server.priorityInheritance
        s.scriptsInterpreter = server.scriptsInterpreter
        s.udpRcvBuf = server.udpRcvBuf.map { Int32(clamping: $0) }
        s.udpSndBuf = server.udpSndBuf.map { Int32(clamping: $0) }
        s.graphDumpFile = server.graphDumpFile
        s.metricsAddress = server.metricsAddress?.description
        s.controlSocket = server.controlSocket
        s.deviceOffload = server.deviceOffload
        s.dataPlaneThreads = server.dataPlaneThreads
        s.bgpAddress = server.myself.bgpAddress
        s.bgpAddress6 = server.myself.bgpAddress6
        s.bypassSecurity = options.bypassSecurity

        // tinc 1.0 options tincd-swift does not implement yet are refused, never silently ignored.
        if server.localDiscovery {
            throw SettingsError("tinc.conf: LocalDiscovery = yes is not supported by tincd-swift yet; remove it or set it to no")
        }
        if server.priorityInheritance {
            throw SettingsError("tinc.conf: PriorityInheritance = yes is not supported by tincd-swift yet; remove it or set it to no")
        }
        if case .none = server.proxy {} else {
            throw SettingsError("tinc.conf: Proxy = \(server.proxy.typeName) is not supported by tincd-swift yet (outgoing connections are direct)")
        }
        if server.hostnames {
            Log.warning("Hostnames = yes: tincd-swift logs numeric addresses only (no reverse DNS on the event loop)")
        }
        if let prio = server.processPriority, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, prio.niceValue) != 0 {
            Log.warning("Could not set ProcessPriority \(prio.rawValue): \(String(cString: strerror(errno)))")
        }
        let me = server.myself
        guard let cipher = CipherSuite(name: me.cipher) else {
            throw SettingsError("Unrecognized cipher type \(me.cipher) (Cipher for \(server.name))")
        }
        guard let digest = DigestSuite(name: me.digest) else {
            throw SettingsError("Unrecognized digest type \(me.digest) (Digest for \(server.name))")
        }
        guard cipher.isUsableForPackets else {
            throw SettingsError("Cipher = \(me.cipher) (for \(server.name)) cannot be used: \(cipher.unusableReason)")
        }
        // What else PacketCipher refuses (ciphertext stealing, keyless ciphers) and digests tinc 1.0
        // could not use for the packet MAC: refuse them here instead of failing every key exchange.
        if let why = cipher.packetUnsuitability {
            throw SettingsError("Cipher = \(me.cipher) cannot protect tinc packets: \(why) (Cipher for \(server.name))")
        }
        if let why = digest.packetUnsuitability {
            throw SettingsError("Digest = \(me.digest) cannot authenticate tinc packets: \(why) (Digest for \(server.name))")
        }
        if cipher.isNone { Log.warning("Cipher = none: peers will send us unencrypted packets") }
        s.cipher = cipher
        s.digest = digest
        guard digest.isNone || me.macLength <= digest.size else {
            throw SettingsError("MAC length \(me.macLength) exceeds digest size \(digest.size) of \(digest.name)")
        }
        s.macLength = digest.isNone ? 0 : me.macLength
        s.compression = me.compression
        s.indirectData = me.effectiveIndirectData
        s.tcpOnly = me.tcpOnly
        s.pmtuDiscovery = me.pmtuDiscovery && !me.tcpOnly
        s.clampMSS = me.clampMSS
        s.pmtu = me.pmtu
        s.subnets = try parseSubnets(me.subnets, checkHostBits: true)
        if !options.bypassSecurity { s.privateKey = try loadPrivateKey(server: server, paths: paths) }
        return (s, warnings)
    }

    static func parseSubnets(_ entries: [SubnetEntry], checkHostBits: Bool) throws -> [Subnet] {
        try entries.map { e in
            guard let sub = Subnet(parsing: e.value) else { throw SettingsError("\(e.location): Subnet: invalid subnet \"\(e.value)\"") }
            if checkHostBits && !sub.hostBitsClear {
                throw SettingsError("\(e.location): Subnet: network address and prefix length do not match for \(e.value)")
            }
            return sub
        }
    }

    static func loadPrivateKey(server: ServerConfig, paths: Paths) throws -> RSAKey {
        if let hex = server.privateKey {
            guard let pub = server.myself.publicKey else {
                throw SettingsError("PrivateKey used but no PublicKey specified for \(server.name)")
            }
            return try RSAKey(modulusHex: pub, privateExponentHex: hex)
        }
        let path = server.privateKeyFile
        var st = stat()
        guard stat(path, &st) == 0, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SettingsError("Error reading RSA private key file `\(path)': \(String(cString: strerror(errno)))")
        }
        if st.st_mode & 0o077 != 0 {
            Log.warning("Warning: insecure file permissions for RSA private key file `\(path)'!")
        }
        do {
            return try RSAKey(privatePEM: text)
        } catch {
            throw SettingsError("Reading RSA private key file `\(path)' failed: \(error)")
        }
    }

    /// Reads hosts/NAME into what the daemon needs about a peer.
    public static func peer(name: String, confdir: String, options: CommandLineOptions) throws -> PeerSettings {
        let h = try ConfigLoader.loadHost(name: name, confdir: confdir, options: options)
        for w in h.warnings { Log.warning(w) }
        var p = PeerSettings(name: name)
        p.addresses = h.addresses.map { ($0.host, $0.port) }
        p.port = h.port
        p.indirectData = h.effectiveIndirectData
        p.tcpOnly = h.tcpOnly
        p.clampMSS = h.clampMSSSet ? h.clampMSS : nil
        p.pmtu = h.pmtu
        p.weight = h.weight
        p.bgpAddress = h.bgpAddress
        p.bgpAddress6 = h.bgpAddress6
        p.subnets = (try? parseSubnets(h.subnets, checkHostBits: false)) ?? []
        let path = confdir + "/hosts/" + name
        var st = stat()
        if stat(path, &st) == 0 { p.fileModified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9 }
        if let file = h.publicKeyFile {
            let full = file.hasPrefix("/") ? file : confdir + "/" + file
            guard let text = try? String(contentsOfFile: full, encoding: .utf8) else {
                throw SettingsError("Error reading RSA public key file `\(full)' for \(name)")
            }
            p.publicKey = try RSAKey.publicKey(inText: text)
        } else if let hex = h.publicKey {
            p.publicKey = try RSAKey(publicModulusHex: hex)
        } else if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            p.publicKey = try? RSAKey.publicKey(inText: text)
            if p.publicKey == nil { Log.error("No public key for \(name) specified in hosts/\(name)") }
        }
        return p
    }
}
