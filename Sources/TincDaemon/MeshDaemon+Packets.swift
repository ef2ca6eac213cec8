import Glibc
import MeshCrypto
import MeshIO
import MeshRouting
import TincProtocol

/// The frame path: device → route → (UDP | TCP PACKET) → peer, and back. tinc 1.0 packet format:
/// UDP payload = E(seqno ‖ C(frame)) ‖ MAC.
extension MeshDaemon {
    static let maxFrame = 1518
    static let bufferSize = 2048

    // MARK: device side

    func handleDeviceReadable() {
        var buf = [UInt8](repeating: 0, count: MeshDaemon.bufferSize)
        // Drain a batch per wakeup so a busy device cannot starve the meta connections.
        for _ in 0..<64 {
            let n = buf.withUnsafeMutableBytes { device.read(into: $0) }
            if n <= 0 { return }
            stats.deviceInPackets += 1
            stats.deviceInBytes += UInt64(n)
            let frame = Array(buf[0..<n])
            route(frame, from: myself, viaTCP: false)
        }
    }

    func writeToDevice(_ frame: [UInt8]) {
        stats.deviceOutPackets += 1
        stats.deviceOutBytes += UInt64(frame.count)
        frame.withUnsafeBytes { _ = device.write($0) }
    }

    // MARK: routing

    func route(_ frame: [UInt8], from source: Node, viaTCP: Bool) {
        guard frame.count >= 14 else { return }
        switch settings.mode {
        case .hub:
            broadcastFrame(frame, from: source, viaTCP: viaTCP)
        case .switch:
            routeMAC(frame, from: source, viaTCP: viaTCP)
        case .router:
            routeIP(frame, from: source, viaTCP: viaTCP)
        }
    }

    func routeMAC(_ frame: [UInt8], from source: Node, viaTCP: Bool) {
        if source === myself { learnMAC(Array(frame[6..<12])) }
        let dst = Array(frame[0..<6])
        guard let (_, owner) = graph.lookup(mac: dst), owner.reachable else {
            broadcastFrame(frame, from: source, viaTCP: viaTCP)
            return
        }
        if owner === source { return }
        if settings.forwarding == .off && source !== myself && owner !== myself { return }
        sendFrame(frame, to: owner, viaTCP: viaTCP)
    }

    func routeIP(_ frame: [UInt8], from source: Node, viaTCP: Bool) {
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        var found: (Subnet, Node)?
        switch type {
        case 0x0800:
            guard frame.count >= 34 else { return }
            if frame[30] == 255 && frame[31] == 255 && frame[32] == 255 && frame[33] == 255 || frame[30] & 0xF0 == 0xE0 {
                if settings.broadcast != .no { broadcastFrame(frame, from: source, viaTCP: viaTCP); return }
            }
            found = graph.lookup(ipv4: Array(frame[30..<34]))
        case 0x86DD:
            guard frame.count >= 54 else { return }
            if frame[38] == 0xFF { broadcastFrame(frame, from: source, viaTCP: viaTCP); return }
            found = graph.lookup(ipv6: Array(frame[38..<54]))
        case 0x0806:
            if source === myself { answerARP(frame) }
            return
        default:
            Log.debug(Log.traffic, "Cannot route packet from \(source.name): unknown type \(String(type, radix: 16))")
            return
        }
        guard let (_, owner) = found else {
            Log.debug(Log.traffic, "Cannot route packet from \(source.name): unknown destination address")
            return
        }
        if owner === source { return }
        guard owner.reachable else { return }
        if settings.forwarding == .off && source !== myself && owner !== myself { return }
        sendFrame(frame, to: owner, viaTCP: viaTCP)
    }

    /// tinc's send_packet: to ourselves means the device; otherwise UDP to `via`, or TCP when required.
    func sendFrame(_ frame: [UInt8], to n: Node, viaTCP: Bool) {
        if n === myself { writeToDevice(frame); return }
        guard n.reachable else { return }
        let via = (viaTCP || n.via === myself) ? (n.nexthop ?? n) : (n.via ?? n)
        if viaTCP || (myself.options | via.options) & 0x2 != 0 || settings.tcpOnly {
            sendTCPPacket(frame, to: via)
            return
        }
        sendUDPPacket(frame, to: via)
    }

    func sendTCPPacket(_ frame: [UInt8], to n: Node) {
        guard let c = activeByName[n.name] ?? n.nexthop.flatMap({ activeByName[$0.name] }) else { return }
        // Random early drop when the meta connection is backed up, as tinc does.
        let fill = Double(c.outbound.queuedBytes) / Double(max(1, settings.maxOutputBufferSize))
        if 2 * fill - 1 > Double(SecureRandom.uint32()) / Double(UInt32.max) { return }
        c.outbound.queue(line: Request.packet(length: frame.count).line)
        c.outbound.queue(bytes: frame)
        flush(c)
    }

    func sendUDPPacket(_ frame: [UInt8], to n: Node, isProbe: Bool = false) {
        let k = keys(for: n)
        guard k.validKey, let cipher = k.outbound else {
            sendReqKey(to: n)
            if !isProbe, let hop = n.nexthop { sendTCPPacket(frame, to: hop) }
            return
        }
        if !isProbe && n.options & 0x4 != 0 && frame.count > k.minMTU {
            if let hop = n.nexthop, hop !== n { sendFrame(frame, to: hop, viaTCP: false) } else { sendTCPPacket(frame, to: n) }
            return
        }
        guard let addr = udpAddress(of: n), let sock = udpSocket(for: addr) else {
            if let hop = n.nexthop { sendTCPPacket(frame, to: hop) }
            return
        }
        var payload = frame
        if k.outCompression != 0 {
            guard let z = PacketCompression.compress(level: k.outCompression, frame) else { return }
            payload = z
        }
        k.sentSeqno &+= 1
        var plain = [UInt8](repeating: 0, count: 4 + payload.count)
        plain[0] = UInt8(k.sentSeqno >> 24); plain[1] = UInt8(k.sentSeqno >> 16 & 0xff)
        plain[2] = UInt8(k.sentSeqno >> 8 & 0xff); plain[3] = UInt8(k.sentSeqno & 0xff)
        plain.replaceSubrange(4..., with: payload)
        let sealed = cipher.seal(plain)
        let r = sealed.withUnsafeBytes { Sockets.sendTo(sock, $0, addr) }
        if r == -Int(EMSGSIZE) {
            if k.maxMTU >= frame.count { k.maxMTU = frame.count - 1 }
            if k.mtu >= frame.count { k.mtu = frame.count - 1 }
        } else if r < 0 {
            Log.debug(Log.traffic, "Error sending packet to \(n.name): \(String(cString: strerror(Int32(-r))))")
        }
    }

    func udpAddress(of n: Node) -> SocketAddress? {
        guard let a = n.udpAddress, let port = UInt16(a.port) else { return nil }
        return SocketAddress(numericHost: a.host, port: port)
    }

    func udpSocket(for addr: SocketAddress) -> Int32? {
        listeners.first { $0.address.family == addr.family }?.udp
    }

    func broadcastFrame(_ frame: [UInt8], from source: Node, viaTCP: Bool) {
        if source !== myself { writeToDevice(frame) }
        if settings.tunnelServer || settings.broadcast == .no { return }
        switch settings.broadcast {
        case .mst:
            let towardsSource = source === myself ? nil : source.nexthop.flatMap { activeByName[$0.name] }
            for c in connections.values where c.isActive && c.inMST && c !== towardsSource {
                if let n = c.node { sendFrame(frame, to: n, viaTCP: viaTCP) }
            }
        case .direct:
            guard source === myself else { return }
            for n in graph.nodesByName where n.reachable && n !== myself && (n.via === myself && n.nexthop === n || n.via === n) {
                sendFrame(frame, to: n, viaTCP: viaTCP)
            }
        case .no:
            break
        }
    }

    // MARK: network side

    func receiveFrameFromTCP(_ frame: [UInt8], from n: Node) {
        // An MTU probe reply sent over TCP before the replier had our key. tinc floods these to the
        // device in switch mode; an ethertype of 0 is no real frame, so we drop it instead.
        if frame.count >= 14 && frame[12] == 0 && frame[13] == 0 { return }
        // Frames that arrived over TCP continue over TCP (tinc's priority -1).
        route(frame, from: n, viaTCP: true)
    }

    func handleUDPReadable(_ fd: Int32) {
        var buf = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<64 {
            var ss = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &ss) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, &len) }
                }
            }
            if n <= 0 { return }
            let from = SocketAddress(storage: ss, length: len)
            receiveUDP(Array(buf[0..<n]), from: from)
        }
    }

    func receiveUDP(_ packet: [UInt8], from addr: SocketAddress) {
        var sender = nodeForUDPAddress(addr)
        if sender == nil {
            // tinc's try_harder: find the node whose key authenticates this packet.
            for n in graph.nodesByName where n !== myself && n.reachable {
                if let c = keys[n.name]?.inbound, c.open(packet) != nil {
                    Log.info(Log.traffic, "UDP address of \(n.name) set to \(addr)")
                    n.udpAddress = (addr.host, String(addr.port))
                    sender = n
                    break
                }
            }
        }
        guard let n = sender else {
            stats.udpDroppedUnknownSource += 1
            Log.debug(Log.protocol_, "Received UDP packet from unknown source \(addr)")
            return
        }
        let k = keys(for: n)
        guard let cipher = k.inbound else {
            stats.udpDroppedNoKey += 1
            Log.debug(Log.traffic, "Got packet from \(n.name) but they haven't got our key yet")
            return
        }
        guard let plain = cipher.open(packet), plain.count >= 4 else {
            stats.udpDroppedBadMAC += 1
            Log.debug(Log.traffic, "Got unauthenticated packet from \(n.name) (\(addr))")
            return
        }
        let seq = UInt32(plain[0]) << 24 | UInt32(plain[1]) << 16 | UInt32(plain[2]) << 8 | UInt32(plain[3])
        guard acceptSequence(seq, keys: k, from: n) else { stats.udpDroppedReplay += 1; return }
        var frame = Array(plain[4...])
        if k.inCompression != 0 {
            guard let d = PacketCompression.decompress(level: k.inCompression, frame, maxSize: MeshDaemon.bufferSize) else { return }
            frame = d
        }
        guard frame.count >= 14 else { return }
        if frame[12] == 0 && frame[13] == 0 { handleMTUProbe(frame, from: n); return }
        route(frame, from: n, viaTCP: false)
    }

    func nodeForUDPAddress(_ addr: SocketAddress) -> Node? {
        let host = addr.host, port = String(addr.port)
        for n in graph.nodesByName where n !== myself {
            if let a = n.udpAddress, a.port == port, a.host == host { return n }
        }
        return nil
    }

    /// tinc's replay window: a bitmap of late-but-expected sequence numbers behind the highest seen.
    func acceptSequence(_ seq: UInt32, keys k: NodeKeys, from n: Node) -> Bool {
        let w = UInt32(settings.replayWindow)
        if w > 0 && seq != k.receivedSeqno &+ 1 {
            if seq >= k.receivedSeqno &+ w * 8 {
                if k.farFutureDrops < Int(w / 4) {
                    k.farFutureDrops += 1
                    Log.debug(Log.traffic, "Dropped packet from \(n.name) seqno \(seq), last \(k.receivedSeqno)")
                    return false
                }
                Log.info(Log.traffic, "Lost \(seq - k.receivedSeqno - 1) packets from \(n.name)")
                for i in k.lateBitmap.indices { k.lateBitmap[i] = 0 }
            } else if seq <= k.receivedSeqno {
                let idx = Int(seq / 8 % w), bit = UInt8(1 << (seq % 8))
                if (k.receivedSeqno >= w * 8 && seq <= k.receivedSeqno - w * 8) || k.lateBitmap[idx] & bit == 0 {
                    Log.debug(Log.traffic, "Got late or replayed packet from \(n.name), seqno \(seq), last received \(k.receivedSeqno)")
                    return false
                }
            } else {
                var s = k.receivedSeqno &+ 1
                while s < seq {
                    k.lateBitmap[Int(s / 8 % w)] |= UInt8(1 << (s % 8))
                    s &+= 1
                }
            }
        }
        k.farFutureDrops = 0
        if w > 0 { k.lateBitmap[Int(seq / 8 % w)] &= ~UInt8(1 << (seq % 8)) }
        if seq > k.receivedSeqno { k.receivedSeqno = seq }
        if k.receivedSeqno > 0x4000_0000 { lastKeyExpiry = 0 }
        return true
    }

    // MARK: PMTU discovery

    func keyBecameValid(for n: Node) {
        let k = keys(for: n)
        if n.options & 0x4 != 0 && k.mtuProbes == 0 { mtuProbeRound(n) }
    }

    /// One PMTU round per second: three probes of random size in (minmtu, maxmtu].
    func mtuProbeRound(_ n: Node) {
        let k = keys(for: n)
        guard n.reachable, k.validKey else { return }
        k.mtuProbes += 1
        if k.mtuProbes > 10 && k.minMTU == 0 {
            Log.info(Log.traffic, "No response to MTU probes from \(n.name)")
            k.mtuProbes = 31
        }
        if k.mtuProbes >= 30 || (k.minMTU >= k.maxMTU && k.minMTU > 0) {
            if k.mtuProbes < 31 {
                k.mtu = min(k.minMTU, k.maxMTU)
                Log.info(Log.traffic, "Fixing MTU of \(n.name) to \(k.mtu) after \(k.mtuProbes) probes")
                k.mtuProbes = 31
            }
            loop.schedule(after: settings.pingInterval) { [weak self] in
                guard let self = self, n.reachable else { return }
                let k = self.keys(for: n)
                k.mtuProbes = 1
                k.minMTU = 0; k.maxMTU = MeshDaemon.maxFrame
                self.mtuProbeRound(n)
            }
            return
        }
        for _ in 0..<3 {
            let lo = k.minMTU + 1, hi = max(k.maxMTU, 64)
            let len = lo >= hi ? hi : Int.random(in: max(64, lo)...max(64, hi))
            var probe = SecureRandom.bytes(len)
            for i in 0..<14 { probe[i] = 0 }
            sendUDPPacket(probe, to: n, isProbe: true)
        }
        loop.schedule(after: 1) { [weak self] in self?.mtuProbeRound(n) }
    }

    func handleMTUProbe(_ frame: [UInt8], from n: Node) {
        if frame[0] == 0 {
            var reply = frame
            reply[0] = 1
            if keys(for: n).validKey { sendUDPPacket(reply, to: n, isProbe: true) } else { sendTCPPacket(reply, to: n) }
        } else {
            let k = keys(for: n)
            k.minMTU = max(k.minMTU, min(frame.count, k.maxMTU))
        }
    }

    // MARK: switch mode MAC learning

    func learnMAC(_ mac: [UInt8]) {
        if mac[0] & 1 != 0 { return }   // never learn multicast sources
        let now = loop.now
        if let s = learnedMACs[mac] {
            learnedMACs[mac] = (s.subnet, now + settings.macExpire)
            return
        }
        guard let subnet = Subnet(parsing: mac.map { String($0, radix: 16) }.joined(separator: ":")) else { return }
        Log.info(Log.traffic, "Learned new MAC address \(subnet.netString)")
        graph.addSubnet(subnet, owner: myself)
        learnedMACs[mac] = (subnet, now + settings.macExpire)
        runSubnetScript(up: true, owner: myself, subnet: subnet)
        for c in connections.values where c.isActive {
            c.send(.addSubnet(nonce: nonce(), owner: myself.name, subnet: subnet.description))
            flush(c)
        }
    }

    func ageLearnedMACs(now: Double) {
        for (mac, entry) in learnedMACs where entry.expires <= now {
            Log.info(Log.traffic, "MAC address \(entry.subnet.netString) expired")
            for c in connections.values where c.isActive {
                c.send(.delSubnet(nonce: nonce(), owner: myself.name, subnet: entry.subnet.description))
                flush(c)
            }
            runSubnetScript(up: false, owner: myself, subnet: entry.subnet)
            _ = graph.removeSubnet(entry.subnet, owner: myself)
            learnedMACs[mac] = nil
        }
    }

    /// Another node announced a MAC we learned: it moved, so ours expires at the next tick.
    func expireLearnedMAC(_ subnet: Subnet) {
        guard case .mac(let bytes) = subnet.address, let e = learnedMACs[bytes] else { return }
        learnedMACs[bytes] = (e.subnet, 0)
    }

    // MARK: router mode ARP

    /// Router mode answers ARP for addresses owned by other nodes with a fake MAC (requester's MAC, last byte ^ 0xFF).
    func answerARP(_ frame: [UInt8]) {
        guard frame.count >= 42, frame[20] == 0, frame[21] == 1 else { return }   // ARP request
        let target = Array(frame[38..<42])
        guard let (_, owner) = graph.lookup(ipv4: target), owner !== myself else { return }
        var reply = frame
        let requesterMAC = Array(frame[6..<12])
        var fake = requesterMAC
        fake[5] ^= 0xFF
        reply.replaceSubrange(0..<6, with: requesterMAC)
        reply.replaceSubrange(6..<12, with: fake)
        reply[21] = 2
        reply.replaceSubrange(32..<38, with: frame[22..<28])   // target hw = requester hw
        reply.replaceSubrange(38..<42, with: frame[28..<32])   // target ip = requester ip
        reply.replaceSubrange(22..<28, with: fake)             // sender hw = fake
        reply.replaceSubrange(28..<32, with: target)           // sender ip = asked address
        writeToDevice(reply)
    }
}
