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
        guard let hop = n.nexthop, let c = activeByName[hop.name] else {
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
        if seen.check(line, now: loop.now) { return true }
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
            if let hop = to.nexthop, let hc = activeByName[hop.name] { hc.send(line: line, type: .reqKey); flush(hc) }
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
            if let hop = to.nexthop, let hc = activeByName[hop.name] { hc.send(line: out, type: .ansKey); flush(hc) }
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
            scheduleTablePublish()
        }
        keyBecameValid(for: from)
        return true
    }

    /// KeyExpire: drop every inbound key, tell everyone, hand fresh keys to direct neighbours.
    func regenerateKeys() {
        lastKeyExpiry = loop.now
        Log.info(Log.status, "Expiring symmetric keys")
        for n in graph.nodesByName where n !== myself {
            dataPlane?.setInboundKey(n.id, nil, compression: 0)
            keys[n.name]?.hasInboundKey = false
        }
        broadcast(.keyChanged(nonce: nonce(), origin: myself.name), except: nil)
        for n in graph.nodesByName where n.reachable && activeByName[n.name] != nil { sendAnsKey(to: n) }
    }
}
