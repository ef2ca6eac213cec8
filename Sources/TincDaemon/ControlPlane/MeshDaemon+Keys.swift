import MeshCrypto
import MeshIO
import MeshRouting
import TincProtocol

/// Packet key exchange: REQ_KEY / ANS_KEY / KEY_CHANGED and periodic key expiry.
extension MeshDaemon {
    func keys(for n: Node) -> NodeKeys {
        if let k = keys[n.name] { return k }
        let k = NodeKeys()
        keys[n.name] = k
        return k
    }

    func nodeReachabilityChanged(_ n: Node, reachable: Bool) {
        let k = keys(for: n)
        k.resetPath()
        loop.cancel(k.probeTimer)
        k.probeTimer = nil
        loop.cancel(k.keyCheckTimer)
        k.keyCheckTimer = nil
        loop.cancel(k.livenessTimer)
        k.livenessTimer = nil
        if !reachable {
            // Both directions: an unreachable node's keys are forgotten (a fresh ANS_KEY goes out
            // when it is reachable again and sends to us).
            dataPlane?.forgetKeys(n.id)
            k.hasInboundKey = false
        }
    }

    /// Chooses a fresh inbound key for `n` and tells it (tinc's send_ans_key); always a new key.
    func sendAnsKey(to n: Node) {
        let s = settings
        let material = s.cipher.isNone ? SecureRandom.bytes(1) : SecureRandom.bytes(s.cipher.keyLength + s.cipher.ivLength)
        let k = keys(for: n)
        do {
            let cipher = try PacketCipher(cipher: s.cipher, digest: s.digest, macLength: s.macLength, keyMaterial: material)
            // A fresh key also resets the replay window (the data plane builds a new one with it).
            dataPlane?.setInboundKey(n.id, cipher, compression: s.compression)
            k.hasInboundKey = true
            k.inboundKeySetAt = loop.now
        } catch {
            Log.error("Could not set up packet key for \(n.name): \(error)")
            return
        }
        sendTowards(n, .ansKey(from: myself.name, to: n.name, key: Hex.encode(material), cipher: s.cipher.nid,
                               digest: s.digest.nid, macLength: s.macLength, compression: s.compression,
                               address: nil, port: nil))
    }

    /// REQ_KEY and ANS_KEY travel hop by hop along nexthop.
    func sendTowards(_ n: Node, _ r: Request) {
        guard let hop = n.nexthop, let c = conns.activeByName[hop.name] else {
            Log.debug(Log.protocol_, "No path to \(n.name) for \(r.type.name)")
            return
        }
        c.send(r)
        flush(c)
    }

    func sendReqKey(to n: Node) {
        let k = keys(for: n)
        let now = loop.now
        guard k.lastReqKey == 0 || now - k.lastReqKey >= 10 else { return }
        k.lastReqKey = now
        sendTowards(n, .reqKey(from: myself.name, to: n.name))
    }

    func keyChangedReceived(_ origin: String, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(origin) else { Log.error("Got bad KEY_CHANGED from \(c.label)"); return false }
        if gossip.seen.check(line, now: loop.now) { return true }
        guard let n = graph.node(named: origin) else { return true }
        let k = keys(for: n)
        k.validKey = false
        k.lastReqKey = 0
        dataPlane?.setOutboundKey(n.id, nil, compression: 0)
        if !settings.tunnelServer { forward(line, type: .keyChanged, from: c) }
        return true
    }

    func reqKeyReceived(_ fromName: String, _ toName: String, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(fromName), isValidNodeName(toName) else {
            Log.error("Got bad REQ_KEY from \(c.label): invalid name")
            return false
        }
        guard let from = graph.node(named: fromName) else {
            Log.error("Got REQ_KEY from \(c.label) origin \(fromName) which does not exist")
            return true
        }
        guard let to = graph.node(named: toName) else {
            Log.error("Got REQ_KEY from \(c.label) destination \(toName) which does not exist")
            return true
        }
        if to === myself {
            sendAnsKey(to: from)
        } else if !settings.tunnelServer {
            guard to.reachable else { return true }
            if let hop = to.nexthop, let hc = conns.activeByName[hop.name] { hc.send(line: line, type: .reqKey); flush(hc) }
        }
        return true
    }

    func ansKeyReceived(_ r: Request, line: String, from c: MetaConnection) -> Bool {
        guard case let .ansKey(fromName, toName, keyHex, cipherNID, digestNID, macLength, compression, address, port) = r else { return false }
        guard isValidNodeName(fromName), isValidNodeName(toName) else {
            Log.error("Got bad ANS_KEY from \(c.label): invalid name")
            return false
        }
        guard let from = graph.node(named: fromName) else {
            Log.error("Got ANS_KEY from \(c.label) origin \(fromName) which does not exist")
            return true
        }
        guard let to = graph.node(named: toName) else {
            Log.error("Got ANS_KEY from \(c.label) destination \(toName) which does not exist")
            return true
        }
        if to !== myself {
            if settings.tunnelServer { return true }
            guard to.reachable else {
                Log.warning("Got ANS_KEY from \(c.label) destination \(toName) which is not reachable")
                return true
            }
            var out = line
            // Relays add the sender's reflexive UDP address when they have a working UDP path onward.
            if address == nil, let a = from.udpAddress, keys(for: to).minMTU > 0 {
                out += " \(a.host) \(a.port)"
            }
            if let hop = to.nexthop, let hc = conns.activeByName[hop.name] { hc.send(line: out, type: .ansKey); flush(hc) }
            return true
        }
        let k = keys(for: from)
        k.validKey = false
        guard let material = Hex.decode(keyHex) else {
            Log.error("Got bad ANS_KEY from \(c.label): key is not hex")
            return true
        }
        guard let cipher = CipherSuite(nid: cipherNID) else {
            Log.error("Node \(fromName) uses unknown cipher \(cipherNID)!")
            return true
        }
        guard cipher.isUsableForPackets else {
            Log.error("Node \(fromName) uses unusable cipher \(cipherNID): \(cipher.unusableReason)")
            return true
        }
        if cipher.isNone {
            guard material.count == 1 else { Log.error("Node \(fromName) uses wrong keylength!"); return true }
        } else if material.count != cipher.keyLength + cipher.ivLength {
            Log.error("Node \(fromName) uses wrong keylength!")
            return true
        }
        guard let digest = DigestSuite(nid: digestNID) else {
            Log.error("Node \(fromName) uses unknown digest \(digestNID)!")
            return true
        }
        if !digest.isNone && (macLength < 0 || macLength > digest.size) {
            Log.error("Node \(fromName) uses bogus MAC length!")
            return true
        }
        guard (0...11).contains(compression) else {
            Log.error("Node \(fromName) uses bogus compression level!")
            return true
        }
        if cipher.isNone || digest.isNone {
            Log.warning("Node \(fromName) asks us to send \(cipher.isNone ? "unencrypted" : "unauthenticated") packets")
        }
        do {
            let pc = try PacketCipher(cipher: cipher, digest: digest, macLength: digest.isNone ? 0 : macLength,
                                      keyMaterial: material)
            // The data plane restarts our sequence numbers with the new key.
            dataPlane?.setOutboundKey(from.id, pc, compression: compression)
            keys(for: from).outboundKeySetAt = loop.now
        } catch {
            Log.error("Could not use key from \(fromName): \(error)")
            return true
        }
        k.outCompression = compression
        k.outCipherNID = cipherNID
        k.outDigestNID = digestNID
        k.outMACLength = macLength
        k.validKey = true
        if let a = address, let p = port {
            Log.info(Log.traffic, "Using reflexive UDP address from \(fromName): \(a) port \(p)")
            from.udpAddress = (a, p)
            publisher.scheduleTablePublish()
        }
        keyBecameValid(for: from)
        startKeyCheck(from)
        return true
    }

    // MARK: stale packet keys
    //
    // tinc 1.0 answers every REQ_KEY with a fresh key and takes every ANS_KEY as the newest. When two
    // answers travel different paths (the graph changed between two requests, as it does during a
    // cold start), the older one can arrive last: the requester then seals with a key the answerer
    // has already replaced, every packet fails the MAC there, and C tincd 1.0.36 does nothing about it
    // (it drops them as "unauthenticated"; the sender falls back to TCP only when its PMTU state is
    // reset, PingInterval + PingTimeout after the MTU was fixed: ~95 s of lost data). We heal both
    // sides, whatever the peer runs:
    //  * as the key's owner: packets from the peer that keep failing our MAC (reported by the RX
    //    worker after 3 in a row) get it a fresh ANS_KEY, not within 1 s of our last new key (packets
    //    sealed with the previous one are still in flight then) and at most once every 2 s;
    //  * as the key's user: after each ANS_KEY we expect a probe reply within 3 s; if none comes, the
    //    key is dropped (data falls back to TCP) and a new one requested, once until probes are
    //    answered again, so a path without UDP costs one extra REQ_KEY and not a loop.

    func staleKeyReported(_ n: Node) {
        let k = keys(for: n)
        let now = loop.now
        guard n.reachable, k.hasInboundKey else { return }
        guard now - k.inboundKeySetAt >= 1, now - k.staleKeyAnsweredAt >= 2 else { return }
        k.staleKeyAnsweredAt = now
        Log.info(Log.status, "Packets from \(n.name) fail authentication with the key we gave it (a stale key): sending a fresh key")
        sendAnsKey(to: n)
    }

    /// A probe reply from `n` (by UDP or TCP) shows that it opened a packet sealed with our current key.
    func outboundKeyConfirmed(_ n: Node) {
        let k = keys(for: n)
        k.outboundKeyConfirmed = true
        k.silentKeyRequested = false
        loop.cancel(k.keyCheckTimer)
        k.keyCheckTimer = nil
    }

    func startKeyCheck(_ n: Node) {
        let k = keys(for: n)
        loop.cancel(k.keyCheckTimer)
        k.keyCheckTimer = nil
        k.outboundKeyConfirmed = false
        k.keyCheckRounds = 0
        guard n.options & 0x4 != 0 else { return }   // no PMTU discovery: the peer expects no probes
        keyCheckRound(n)
    }

    func keyCheckRound(_ n: Node) {
        let k = keys(for: n)
        k.keyCheckTimer = nil
        guard n.reachable, k.validKey, !k.outboundKeyConfirmed, !stopping else { return }
        if k.keyCheckRounds >= 3 {
            guard !k.silentKeyRequested else { return }
            k.silentKeyRequested = true
            Log.info(Log.status, "No probe reply from \(n.name) 3 s after its key arrived (a stale key?): requesting a new key")
            k.validKey = false
            dataPlane?.setOutboundKey(n.id, nil, compression: 0)
            k.lastReqKey = 0
            sendReqKey(to: n)
            return
        }
        k.keyCheckRounds += 1
        var probe = SecureRandom.bytes(64)
        for i in 0..<14 { probe[i] = 0 }
        dataPlane?.sendProbe(probe, to: n.id)
        k.keyCheckTimer = loop.schedule(after: 1) { [weak self] in self?.keyCheckRound(n) }
    }

    /// KeyExpire: retire every inbound key, tell everyone, hand fresh keys to direct neighbours.
    /// tinc 1.0 frees the keys at once and loses the packets in flight; ours open for a few seconds
    /// more (RxWorker.keyGraceMillis) or until the node's new key replaces them.
    func regenerateKeys() {
        keys.lastExpiry = loop.now
        Log.info(Log.status, "Expiring symmetric keys")
        for n in graph.nodesByName where n !== myself {
            dataPlane?.retireInboundKey(n.id)
            keys[n.name]?.hasInboundKey = false
        }
        broadcast(.keyChanged(nonce: nonce(), origin: myself.name), except: nil)
        for n in graph.nodesByName where n.reachable && conns.activeByName[n.name] != nil { sendAnsKey(to: n) }
    }
}
