import Glibc
import MeshCrypto
import MeshIO
import MeshRouting
import TincProtocol

/// The control thread's side of the frame path: it publishes forwarding snapshots to the data-plane
/// threads, hands them keys, and does what needs the mesh state: TCP PACKETs, REQ_KEY, PMTU
/// discovery, MAC learning and ARP/NDP answers.
extension MeshDaemon {
    static let maxFrame = 1518

    func startDataPlane() {
        let dp = DataPlane(device: device, moreQueues: moreQueues, udpSockets: listeners.map { ($0.address.family, $0.udp) }, initial: buildTable(),
                           replayWindow: settings.replayWindow, macRefresh: max(1, settings.macExpire / 4),
                           peerIDCapacity: max(PeerCounters.defaultCapacity, 2 * settings.limits.maxNodes + 1024),
                           openLanes: MeshDaemon.dataPlaneThreads(settings)) { [weak self] events, done in
            self?.loop.post {
                self?.handle(events)
                done()
            }
        }
        publisher.dataPlane = dp
        // The workers index keys and replay windows by node id: a removed node's id is handed out
        // again only after a table without it is published and both workers forgot the id.
        graph.onNodeRemoved = { [weak self, weak dp] id in
            dp?.removedIDs.append(id)
            self?.publisher.scheduleTablePublish()
        }
        dp.start()
    }

    func buildTable() -> ForwardingTable {
        ForwardingTable(graph: graph, settings: settings, mstNeighbors: Set(conns.all.values.filter { $0.inMST }.compactMap { $0.name }),
                        pmtu: { [unowned self] n in
                            let k = self.keys[n.name]
                            return (k?.minMTU ?? 0, k?.mtu ?? MeshDaemon.maxFrame)
                        },
                        udpAddress: { [unowned self] n in self.udpAddress(of: n) })
    }

    func udpAddress(of n: Node) -> SocketAddress? {
        guard let a = n.udpAddress, let port = UInt16(a.port) else { return nil }
        return SocketAddress(numericHost: a.host, port: port)
    }

    func handle(_ events: [DataPlaneEvent]) {
        loop.preconditionInLoop()
        for e in events {
            switch e {
            case .needKey(let id):
                if let n = graph.node(id: Int(id)) { sendReqKey(to: n) }
            case let .sendTCP(frame, id):
                if let n = graph.node(id: Int(id)) { sendTCPPacket(frame, to: n) }
            case let .probe(frame, id):
                if let n = graph.node(id: Int(id)) { handleMTUProbe(frame, from: n) }
            case .learnedMAC(let mac):
                learnMAC(mac)
            case let .udpAddress(id, addr):
                if let n = graph.node(id: Int(id)), n.reachable {
                    let new = (addr.host, String(addr.port))
                    if n.udpAddress.map({ $0 != new }) ?? true {
                        Log.info(Log.traffic, "UDP address of \(n.name) set to \(addr)")
                        n.udpAddress = new
                        publisher.scheduleTablePublish()
                    }
                }
            case .forgotten(let id):
                if dataPlane?.acknowledgeForget(id) == true {
                    Log.info(Log.protocol_, "Data plane forgot node id \(id), id free for reuse")
                    graph.releaseID(Int(id))
                }
            case .outboundKeyAging(let id):
                // Our seqno towards it is high: ask for a new key (rate-limited like any REQ_KEY).
                if let n = graph.node(id: Int(id)), n.reachable {
                    Log.info(Log.traffic, "Packet sequence numbers to \(n.name) running out, requesting a new key")
                    sendReqKey(to: n)
                }
            case .inboundKeyAging(let id):
                if let n = graph.node(id: Int(id)), n.reachable {
                    Log.info(Log.traffic, "Sequence numbers from \(n.name) passed 2^30, sending a new key")
                    sendAnsKey(to: n)
                }
            case .noInboundKey(let id):
                // It sends with a key we dropped (it was unreachable for us, or we restarted):
                // an unsolicited ANS_KEY, as tinc sends on "became reachable", heals that.
                if let n = graph.node(id: Int(id)), n.reachable, dataPlane?.mayResendKey(id, now: loop.now) == true {
                    Log.info(Log.traffic, "Got packets from \(n.name) without a key for it, sending a new key")
                    sendAnsKey(to: n)
                }
            case .staleKey(let id):
                if let n = graph.node(id: Int(id)) { staleKeyReported(n) }
            case let .tooBig(id, len):
                if let n = graph.node(id: Int(id)) {
                    let k = keys(for: n)
                    if k.maxMTU >= len { k.maxMTU = len - 1 }
                    if k.mtu >= len { k.mtu = len - 1 }
                    publisher.scheduleTablePublish()
                }
            case .localControlFrame(let frame):
                if frame.count >= 14 && frame[12] == 0x86 { answerNeighborSolicitation(frame) } else { answerARP(frame) }
            case .stats(let s):
                stats.add(s)
            }
        }
    }

    /// A frame from a PACKET request: route it as coming from that node, onward over TCP if needed.
    func receiveFrameFromTCP(_ frame: [UInt8], from n: Node) {
        // An MTU probe reply sent over TCP before the replier had our key. tinc floods these to the
        // device in switch mode; an ethertype of 0 is no real frame, so we drop it instead.
        if frame.count >= 14 && frame[12] == 0 && frame[13] == 0 {
            // A probe *reply* still proves that the node opened our UDP probe with its key.
            if frame[0] == 1 { outboundKeyConfirmed(n) }
            return
        }
        keys(for: n).countTCPIn(frame.count, now: EventLoop.now())
        dataPlane?.route(frame, from: n.id, viaTCP: true)
    }

    func sendTCPPacket(_ frame: [UInt8], to n: Node) {
        guard let c = conns.activeByName[n.name] ?? n.nexthop.flatMap({ conns.activeByName[$0.name] }) else { return }
        // Random early drop when the meta connection is backed up, as tinc does.
        let fill = Double(c.outbound.queuedBytes) / Double(max(1, settings.maxOutputBufferSize))
        if 2 * fill - 1 > Double(SecureRandom.uint32()) / Double(UInt32.max) { return }
        c.outbound.queue(line: Request.packet(length: frame.count).line)
        c.outbound.queue(bytes: frame)
        flush(c)
    }

    // MARK: PMTU discovery

    func keyBecameValid(for n: Node) {
        let k = keys(for: n)
        if n.options & 0x4 != 0 && k.probeTimer == nil { mtuProbeRound(n) }
    }

    /// Rounds 0.1 s apart at the start of each discovery, before tinc's one round per second: with
    /// probe sizes that split (minmtu, maxmtu] in thirds, ten rounds narrow 1518 sizes to one, so
    /// the PMTU is usually fixed within half a second of the key instead of 5-9 s. A tinc 1.0 peer
    /// sees ordinary probes (sizes it could have drawn itself) answered as usual, only more of them
    /// in that first second; the counted rounds and their timeouts below are tinc's.
    static let fastProbeRounds = 10

    /// One PMTU round per second: three probes in (minmtu, maxmtu], fixed after 30 rounds or when
    /// min meets max; then re-checked every PingInterval. Each discovery starts with
    /// `fastProbeRounds` quick rounds.
    func mtuProbeRound(_ n: Node) {
        let k = keys(for: n)
        k.probeTimer = nil
        guard n.reachable, k.validKey, !stopping else { return }
        let settled = k.minMTU >= k.maxMTU && k.minMTU > 0
        let fast = k.mtuProbes == 0 && k.fastProbeRounds < MeshDaemon.fastProbeRounds && !settled
        if fast { k.fastProbeRounds += 1 } else { k.mtuProbes += 1 }
        if k.mtuProbes > 10 && k.minMTU == 0 {
            Log.info(Log.traffic, "No response to MTU probes from \(n.name)")
            k.mtuProbes = 31
        }
        if k.mtuProbes >= 30 || (k.minMTU >= k.maxMTU && k.minMTU > 0) {
            if k.mtuProbes < 31 {
                k.mtu = min(k.minMTU, k.maxMTU)
                Log.info(Log.traffic, "Fixing MTU of \(n.name) to \(k.mtu) after \(k.mtuProbes) probes")
                k.mtuProbes = 31
                publisher.scheduleTablePublish()
            }
            k.probeTimer = loop.schedule(after: settings.pingInterval) { [weak self] in
                guard let self = self, n.reachable else { return }
                let k = self.keys(for: n)
                k.mtuProbes = 0
                k.fastProbeRounds = 0
                k.minMTU = 0
                k.maxMTU = MeshDaemon.maxFrame
                self.mtuProbeRound(n)
            }
            return
        }
        // A reply raises minmtu to its size, EMSGSIZE lowers maxmtu below it (DF is set): sizes at
        // the thirds of the open range cut it to a third per round, whichever way each one goes.
        let hi = max(64, k.maxMTU), lo = max(64, k.minMTU + 1)
        for third in 1...3 {
            let len = lo >= hi ? hi : lo + (hi - lo) * third / 3
            var probe = SecureRandom.bytes(len)
            for i in 0..<14 { probe[i] = 0 }
            dataPlane?.sendProbe(probe, to: n.id)
        }
        k.probeTimer = loop.schedule(after: fast ? 0.1 : 1) { [weak self] in self?.mtuProbeRound(n) }
    }

    func handleMTUProbe(_ frame: [UInt8], from n: Node) {
        if frame[0] == 0 {
            var reply = frame
            reply[0] = 1
            if keys(for: n).validKey { dataPlane?.sendProbe(reply, to: n.id) } else { sendTCPPacket(reply, to: n) }
        } else {
            outboundKeyConfirmed(n)
            let k = keys(for: n)
            let before = k.minMTU
            k.minMTU = max(k.minMTU, min(frame.count, k.maxMTU))
            k.lastUDPProbeReply = loop.now
            if k.minMTU != before { publisher.scheduleTablePublish() }
            if before == 0 && k.minMTU > 0 && k.livenessTimer == nil {
                k.livenessTimer = loop.schedule(after: 1) { [weak self] in self?.udpLivenessRound(n) }
            }
        }
    }

    /// UDP liveness while a node is reached by UDP (minMTU > 0): one small probe a second; no UDP probe
    /// reply for 3 s means the UDP path broke (a firewall, a NAT binding lost, a partition): minMTU goes
    /// back to 0 so frames travel by TCP along the meta graph (relayed if the direct link is down too),
    /// and PMTU discovery starts over to find UDP again. tinc 1.0 notices this only at its next PMTU
    /// re-check (PingInterval + PingTimeout later, 65 s by default), blackholing the pair meanwhile.
    func udpLivenessRound(_ n: Node) {
        let k = keys(for: n)
        k.livenessTimer = nil
        guard n.reachable, k.validKey, k.minMTU > 0, !stopping, n.options & 0x4 != 0 else { return }
        if loop.now - k.lastUDPProbeReply > 3 {
            Log.info(Log.status, "No UDP reply from \(n.name) for 3 s: sending to it by TCP until UDP answers again")
            k.minMTU = 0
            k.maxMTU = MeshDaemon.maxFrame
            k.mtuProbes = 0
            k.fastProbeRounds = 0
            publisher.scheduleTablePublish()
            loop.cancel(k.probeTimer)
            k.probeTimer = nil
            mtuProbeRound(n)
            return
        }
        var probe = SecureRandom.bytes(64)
        for i in 0..<14 { probe[i] = 0 }
        dataPlane?.sendProbe(probe, to: n.id)
        k.livenessTimer = loop.schedule(after: 1) { [weak self] in self?.udpLivenessRound(n) }
    }

    // MARK: switch mode MAC learning

    func learnMAC(_ mac: [UInt8]) {
        let now = loop.now
        if let s = publisher.learnedMACs[mac] {
            publisher.learnedMACs[mac] = (s.subnet, now + settings.macExpire)
            return
        }
        guard let subnet = Subnet(parsing: mac.map { String($0, radix: 16) }.joined(separator: ":")) else { return }
        guard learnedMACWithinLimits(subnet) else { return }
        Log.info(Log.traffic, "Learned new MAC address \(subnet.netString)")
        graph.addSubnet(subnet, owner: myself)
        publisher.learnedMACs[mac] = (subnet, now + settings.macExpire)
        runSubnetScript(up: true, owner: myself, subnet: subnet)
        for c in conns.all.values where c.isActive {
            c.send(.addSubnet(nonce: nonce(), owner: myself.name, subnet: subnet.description))
            flush(c)
        }
        publisher.scheduleTablePublish()
    }

    func ageLearnedMACs(now: Double) {
        for (mac, entry) in publisher.learnedMACs where entry.expires <= now {
            Log.info(Log.traffic, "MAC address \(entry.subnet.netString) expired")
            for c in conns.all.values where c.isActive {
                c.send(.delSubnet(nonce: nonce(), owner: myself.name, subnet: entry.subnet.description))
                flush(c)
            }
            runSubnetScript(up: false, owner: myself, subnet: entry.subnet)
            _ = graph.removeSubnet(entry.subnet, owner: myself)
            publisher.learnedMACs[mac] = nil
            publisher.scheduleTablePublish()
        }
    }

    /// Another node announced a MAC we learned: it moved, so ours expires at the next tick.
    func expireLearnedMAC(_ subnet: Subnet) {
        guard case .mac(let bytes) = subnet.address, let e = publisher.learnedMACs[bytes] else { return }
        publisher.learnedMACs[bytes] = (e.subnet, 0)
    }

    // MARK: router mode ARP

    /// Router mode answers ARP for addresses owned by other nodes with a fake MAC (requester's MAC, last byte ^ 0xFF).
    func answerARP(_ frame: [UInt8]) {
        guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x06, frame[20] == 0, frame[21] == 1 else { return }
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
        reply.withUnsafeBytes { _ = device.write($0) }
    }

    /// Router mode answers IPv6 neighbor solicitations for addresses owned by other nodes, like ARP.
    func answerNeighborSolicitation(_ frame: [UInt8]) {
        guard frame.count >= 78, frame[20] == 58, frame[54] == 135 else { return }
        let target = Array(frame[62..<78])
        guard let (_, owner) = graph.lookup(ipv6: target), owner !== myself else { return }
        let requesterMAC = Array(frame[6..<12])
        var fake = requesterMAC
        fake[5] ^= 0xFF
        // Neighbor advertisement: solicited + override, with our fake MAC as target link-layer address.
        var icmp: [UInt8] = [136, 0, 0, 0, 0x60, 0, 0, 0] + target + [2, 1] + fake
        var ip = [UInt8](repeating: 0, count: 40)
        ip[0] = 0x60
        ip[4] = UInt8(icmp.count >> 8); ip[5] = UInt8(icmp.count & 0xFF)
        ip[6] = 58; ip[7] = 255
        ip.replaceSubrange(8..<24, with: target)
        ip.replaceSubrange(24..<40, with: frame[22..<38])
        let c = ICMPReply.icmpv6Checksum(src: ip[8..<24], dst: ip[24..<40], payload: icmp)
        icmp[2] = UInt8(c >> 8); icmp[3] = UInt8(c & 0xFF)
        let reply = requesterMAC + fake + [0x86, 0xDD] + ip + icmp
        reply.withUnsafeBytes { _ = device.write($0) }
    }
}
