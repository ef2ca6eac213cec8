// Targets for the tinc meta protocol: authentication, the meta stream, request lines, subnets.
import MeshCrypto
import MeshRouting
import TincProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Keys made once per process (512-bit RSA keeps each execution fast).
nonisolated(unsafe) var ourKey: RSAKey!
nonisolated(unsafe) var peerKey: RSAKey!

func fuzzSetUp(_ target: String) {
    setenv("SWIFT_BACKTRACE", "enable=no", 0)
    if target == "handshake" {
        ourKey = try? RSAKey.generate(bits: 512)
        peerKey = try? RSAKey.generate(bits: 512)
        if ourKey == nil || peerKey == nil { fuzzPrint("cannot generate RSA keys\n"); exit(1) }
    }
    if ["handshake", "metastream", "packet-open"].contains(target) { warmUpOpenSSL() }
    if target == "bgp-session" || target == "control" || target == "metrics-http" { quietLogs() }
    if target == "bgp-session" { setUpBGPSessionHarness() }
}

/// Cipher numbers by class: stream modes tinc uses, block modes, AEAD (GCM/CCM/OCB/ChaCha-Poly),
/// XTS, SIV, key wrap, and numbers that are no cipher at all.
let cipherNumbers: [Int] = [421, 425, 429, 420, 424, 428, 904, 905, 906, 650, 651, 652, 653, 654, 655, 93, 1019, 5, 97,
                            427, 419, 423, 418, 91, 92, 31, 44, 45, 46,
                            895, 898, 901, 896, 899, 902, 958, 959, 960, 1018,
                            913, 914, 1198, 1199, 1200, 788, 789, 790, 1155, 1156, 1157,
                            0, -1, -913, 1, 64, 672, 2_147_483_647, 2_147_483_648, 4_294_967_296 + 421, Int.max, Int.min, 100_000]
/// Digest numbers: sha1/sha2/md5/ripemd/blake2/sm3, XOFs (SHAKE), and garbage.
let digestNumbers: [Int] = [672, 64, 4, 673, 674, 675, 1094, 1095, 1096, 1097, 117, 1056, 1057, 1143, 1100, 1101,
                            0, -1, 421, 913, 2_147_483_647, 4_294_967_296 + 672, Int.max, Int.min]
let smallNumbers: [Int] = [0, 1, 4, 10, 16, 20, 32, 33, 64, 65, 255, 256, -1, -4, 2_147_483_647, -2_147_483_648, Int.max, Int.min, 11, 12, 9]

func pick(_ r: inout FuzzReader, _ table: [Int]) -> Int {
    let b = r.u8()
    if b < 0xF0 { return table[Int(b) % table.count] }
    return Int(Int32(bitPattern: r.u32()))   // any 32-bit number
}

/// The responder side of a meta connection (what an unauthenticated client reaches).
/// Mode 0 feeds the input as raw wire bytes; mode 1 plays a well-formed client whose METAKEY
/// numbers, key material, challenge, reply and ACK come from the input, so every cipher/digest/
/// MAC-length/compression class gets past the RSA step.
func fuzzHandshake(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let mode = r.u8() & 1
    var sentChallenge: [UInt8] = []
    let hs = Handshake(role: .responder, myName: "me", myKey: ourKey, metaCipher: CipherSuite(nid: 421)!,
                       lookupPeer: { name in
                           guard name == "peer" else { throw HandshakeError("unknown node \(name)") }
                           return PeerIdentity(key: peerKey)
                       },
                       makeAck: { _ in .ack(port: "655", weight: 1, options: 0x0c) })
    _ = hs.start()
    let inbound = MetaInbound()
    var attackerCipher: StreamCipher?
    var failed = false

    func deliver(_ bytes: [UInt8], chunking: inout FuzzReader) {
        var b = bytes
        if let c = attackerCipher { b = (try? c.process(b)) ?? b }
        var off = 0
        while off < b.count && !failed {
            let n = max(1, min(b.count - off, Int(chunking.u8() % 64) + 1))
            inbound.append(Array(b[off ..< off + n]))
            off += n
            drain()
        }
    }
    func drain() {
        while !failed {
            let item: MetaInbound.Item?
            do { item = try inbound.next() } catch { failed = true; return }
            guard let it = item else { return }
            guard case .line(let line) = it else { failed = true; return }
            do {
                let req = try Request(parsing: Substring(line))
                for a in try hs.receive(req) {
                    switch a {
                    case .decryptInbound(let c): inbound.enableDecryption(c)
                    case .send(let rq): if case .challenge(let h) = rq { sentChallenge = Hex.decode(h) ?? [] }
                    case .encryptOutbound, .established: break
                    }
                }
            } catch { failed = true }
        }
    }

    if mode == 0 {
        var chunks = r
        deliver(r.rest(), chunking: &chunks)
        return
    }
    // Well-formed client: ID, then METAKEY with chosen numbers.
    let flags = r.u8()
    deliver(Array((flags & 1 == 0 ? "0 peer 17\n" : "0 peer \(pick(&r, smallNumbers))\n").utf8), chunking: &r)
    if failed { return }
    let c = pick(&r, cipherNumbers), d = pick(&r, digestNumbers), m = pick(&r, smallNumbers), z = pick(&r, smallNumbers)
    var k = r.bytes(ourKey.size)
    while k.count < ourKey.size { k.append(UInt8(truncatingIfNeeded: k.count)) }
    k[0] &= 0x7F
    guard let enc = try? ourKey.rawEncrypt(k) else { return }
    deliver(Array("1 \(c) \(d) \(m) \(z) \(Hex.encode(enc))\n".utf8), chunking: &r)
    if failed { return }
    // From here the client encrypts with the cipher it announced (if it can build it at all).
    if let suite = CipherSuite(nid: c), suite.keyLength + suite.ivLength <= k.count {
        let key = Array(k[(k.count - suite.keyLength)...])
        let iv = Array(k[(k.count - suite.keyLength - suite.ivLength) ..< (k.count - suite.keyLength)])
        attackerCipher = try? StreamCipher(suite: suite, key: key, iv: iv, encrypt: true)
    }
    let challenge = flags & 2 == 0 ? Hex.encode(r.bytes(peerKey.size)) : String(decoding: r.chunk(), as: UTF8.self)
    deliver(Array("2 \(challenge)\n".utf8), chunking: &r)
    if failed { return }
    let reply = flags & 4 == 0 ? Hex.encode(Digest.hash(DigestSuite(nid: 672)!, sentChallenge)) : Hex.encode(r.chunk())
    deliver(Array("3 \(reply)\n".utf8), chunking: &r)
    if failed { return }
    deliver(Array("4 \(pick(&r, smallNumbers)) \(pick(&r, smallNumbers)) \(String(r.u32(), radix: 16))\n".utf8), chunking: &r)
    if failed { return }
    fuzzCheck(hs.isDone, "handshake not done after a correct ACK")
    var chunks = r
    deliver(r.rest(), chunking: &chunks)
}

/// MetaOutbound → MetaInbound round trip: lines and PACKET payloads chosen by the input, encryption
/// switched on after a chosen item, the byte stream cut at chosen places; everything must come out
/// as it went in. Then the rest of the input goes in as raw (decrypted) garbage.
let streamSuites: [Int] = [421, 425, 429, 420, 904, 93, 1019, 650]

func fuzzMetaStream(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let count = Int(r.u8() % 16)
    let switchAt = Int(r.u8() % 17)
    let suite = CipherSuite(nid: streamSuites[Int(r.u8()) % streamSuites.count])
    let keyMaterial = r.bytes(64).padded(64) + [UInt8](repeating: 7, count: 64)
    var items: [MetaInbound.Item] = []
    var wire: [[UInt8]] = []
    let out = MetaOutbound()
    var encIn: StreamCipher?, encOut: StreamCipher?
    if let s = suite {
        let key = Array(keyMaterial[0 ..< s.keyLength]), iv = Array(keyMaterial[64 ..< 64 + s.ivLength])
        encOut = try? StreamCipher(suite: s, key: key, iv: iv, encrypt: true)
        encIn = try? StreamCipher(suite: s, key: key, iv: iv, encrypt: false)
    }
    var generated = 0   // items actually queued (a PACKET line and its payload count as one)
    for _ in 0 ..< count {
        if generated == switchAt, !out.isEncrypting, let e = encOut { out.enableEncryption(e) }
        if r.u8() & 1 == 0 {
            let body = r.chunk().map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
            let line = String(decoding: body, as: UTF8.self)
            guard line.utf8.count < MetaInbound.maxLine, !line.utf8.contains(0x0A) else { continue }
            // A generated line that reads as a PACKET request would (rightly) make the receiver
            // take the following bytes as a frame; such lines come only from the branch below.
            if let req = try? Request(parsing: Substring(line)), case .packet = req { continue }
            items.append(.line(line)); out.queue(line: line)
            generated += 1
        } else {
            let p = r.bytes(Int(r.u16() % 1600))
            let hdr = "17 \(p.count)"
            items.append(.line(hdr)); out.queue(line: hdr)
            if !p.isEmpty { items.append(.packet(p)); out.queue(bytes: p) }
            generated += 1
        }
        wire.append(out.pending)
    }
    let all = out.pending
    let inbound = MetaInbound()
    var got: [MetaInbound.Item] = []
    var off = 0
    var lineItems = 0
    var failure: Error?
    func pull() {
        while failure == nil {
            do {
                guard let it = try inbound.next() else { return }
                got.append(it)
                if case .line(let l) = it {
                    lineItems += 1
                    // A line ends an item unless it announces a packet; the switch follows the item.
                    if let req = try? Request(parsing: Substring(l)), case .packet(let n) = req, n > 0 { inbound.expectPacket(length: n) }
                }
                let itemsDone = countItems(got)
                if itemsDone == switchAt, !inbound.isDecrypting, let d = encIn, switchAt < generated { inbound.enableDecryption(d) }
            } catch { failure = error }
        }
    }
    if switchAt == 0, generated > 0, let d = encIn { inbound.enableDecryption(d) }
    while off < all.count {
        let n = max(1, min(all.count - off, Int(r.u8()) * 8 + 1))
        inbound.append(Array(all[off ..< off + n]))
        off += n
        pull()
    }
    pull()
    fuzzCheck(failure == nil, "round trip failed: \(String(describing: failure))")
    fuzzCheck(got == items, "round trip changed items: \(got.count) vs \(items.count)")
    // Garbage after a valid stream must be handled without trapping.
    inbound.append(r.rest())
    failure = nil
    for _ in 0 ..< 64 where failure == nil {
        do {
            guard let it = try inbound.next() else { break }
            if case .line(let l) = it {
                // Invalid UTF-8 becomes U+FFFD (3 bytes), so only the raw length is bounded by maxLine.
                fuzzCheck(l.unicodeScalars.count < MetaInbound.maxLine && !l.utf8.contains(0x0A), "line too long or with newline")
                if let req = try? Request(parsing: Substring(l)), case .packet(let n) = req { inbound.expectPacket(length: n) }
            }
        } catch { failure = error }
    }
    _ = wire
}

/// How many generated items a prefix of received items completes (a PACKET line and its payload are one).
private func countItems(_ got: [MetaInbound.Item]) -> Int {
    var n = 0
    var i = 0
    while i < got.count {
        if case .line(let l) = got[i], let req = try? Request(parsing: Substring(l)), case .packet(let len) = req, len > 0 {
            if i + 1 < got.count { n += 1; i += 2 } else { return n }
        } else { n += 1; i += 1 }
    }
    return n
}

/// Request lines over the full byte range; a parsed request must survive its own wire form.
func fuzzRequest(_ data: UnsafeRawBufferPointer) {
    let line = String(decoding: data, as: UTF8.self)
    guard let req = try? Request(parsing: Substring(line)) else { return }
    let again = try? Request(parsing: Substring(req.line))
    fuzzCheck(again == req, "re-parse of '\(req.line)' differs")
    if case .packet(let n) = req { fuzzCheck(n >= 0 && n <= 32767, "PACKET length \(n)") }
}

/// Subnet strings over the full byte range; a parsed subnet must re-parse to itself from its text.
func fuzzSubnet(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    guard let s = Subnet(parsing: text) else { return }
    let printed = s.description
    let again = Subnet(parsing: printed)
    fuzzCheck(again != nil, "'\(printed)' (from a parsed subnet) does not parse")
    if let a = again { fuzzCheck(a == s, "'\(printed)' re-parses differently") }
    _ = s.hostBitsClear
}

/// OpenSSL fetches and caches each algorithm on first use; doing that once up front keeps those
/// one-time allocations out of libFuzzer's per-input leak check.
func warmUpOpenSSL() {
    let key = [UInt8](repeating: 1, count: 128)
    for nid in Set(cipherNumbers + digestNumbers + streamSuites + packetSuites.map { $0.c } + (0 ..< 1300)) {
        if let c = CipherSuite(nid: nid), c.keyLength + c.ivLength <= key.count {
            _ = try? StreamCipher(suite: c, key: Array(key[0 ..< c.keyLength]), iv: Array(key[0 ..< c.ivLength]), encrypt: true)
            if let p = try? PacketCipher(cipher: c, digest: .none, macLength: 0, keyMaterial: Array(key[0 ..< c.keyLength + c.ivLength])) {
                _ = p.open(p.seal([1, 2, 3]))
            }
        }
        if let d = DigestSuite(nid: nid) {
            _ = Digest.hash(d, [1, 2, 3])
            if let p = try? PacketCipher(cipher: .none, digest: d, macLength: min(4, d.size), keyMaterial: [1]) { _ = p.open(p.seal([1])) }
        }
    }
}
