import MeshCrypto

/// What a meta connection learns about its peer during authentication.
public struct PeerIdentity {
    public let key: RSAKey?          // nil only with --bypass-security
    public init(key: RSAKey?) { self.key = key }
}

public struct HandshakeError: Error, CustomStringConvertible {
    public let message: String
    public init(_ m: String) { message = m }
    public var description: String { message }
}

/// The tinc 1.0.36 authentication exchange for one meta connection, as a pure state machine:
/// ID, METAKEY, CHALLENGE, CHAL_REPLY, ACK in strict order, with the 1.0.35 anti-oracle rules
/// (the responder speaks only after the initiator's ID, and withholds its CHAL_REPLY until the
/// initiator's reply is verified). It owns no socket; the connection executes its actions.
public final class Handshake {
    public enum Role: Equatable {
        case initiator(expecting: String)
        case responder
    }

    public enum Action {
        case send(Request)
        /// Encrypt everything queued after the preceding `send`.
        case encryptOutbound(StreamCipher)
        /// Decrypt every inbound byte after the line just handled.
        case decryptInbound(StreamCipher)
        /// Authentication finished; the peer's ACK fields.
        case established(peer: String, port: String, weight: Int, options: UInt32)
    }

    public let role: Role
    public let myName: String
    private let myKey: RSAKey?
    private let metaCipher: CipherSuite
    private let bypassSecurity: Bool
    private let lookupPeer: (String) throws -> PeerIdentity
    private let makeAck: (String) -> Request

    public private(set) var allowed: RequestType = .id
    public private(set) var peerName: String?
    public private(set) var peerVersion = 0
    private var peerKey: RSAKey?
    private var myChallenge: [UInt8] = []
    private var peerChallenge: [UInt8] = []
    private var peerDigest: DigestSuite = .none   // digest the peer wants our CHAL_REPLY in
    private let myDigest = DigestSuite(nid: 672)! // sha256, as 1.0.36 announces
    public private(set) var isDone = false

    /// - Parameters:
    ///   - lookupPeer: resolves a claimed name to its public key (throws with a loggable reason for unknown names)
    ///   - makeAck: builds our ACK for the named peer at the moment it is sent (the weight is an RTT estimate)
    public init(role: Role, myName: String, myKey: RSAKey?, metaCipher: CipherSuite, bypassSecurity: Bool = false,
                lookupPeer: @escaping (String) throws -> PeerIdentity, makeAck: @escaping (String) -> Request) {
        self.role = role
        self.myName = myName
        self.myKey = myKey
        self.metaCipher = metaCipher
        self.bypassSecurity = bypassSecurity
        self.lookupPeer = lookupPeer
        self.makeAck = makeAck
    }

    /// Actions when the TCP connection is up: the initiator speaks first, the responder waits.
    public func start() -> [Action] {
        if case .initiator = role { return [.send(.id(name: myName, version: 17))] }
        return []
    }

    public func receive(_ request: Request) throws -> [Action] {
        guard !isDone else { return [] }
        guard request.type == allowed else {
            throw HandshakeError("Unauthorized request \(request.type.name) (expected \(allowed.name))")
        }
        switch request {
        case let .id(name, version): return try gotID(name, version)
        case let .metaKey(c, d, m, z, key): return try gotMetaKey(c, d, m, z, key)
        case let .challenge(hex): return try gotChallenge(hex)
        case let .chalReply(hex): return try gotChalReply(hex)
        case let .ack(port, weight, options):
            isDone = true
            return [.established(peer: peerName ?? "", port: port, weight: weight, options: options)]
        default:
            throw HandshakeError("Unexpected \(request.type.name) during authentication")
        }
    }

    private func gotID(_ name: String, _ version: Int) throws -> [Action] {
        guard isValidNodeName(name) else { throw HandshakeError("Got bad ID: invalid name \(name.prefix(64))") }
        guard name != myName else { throw HandshakeError("Peer \(name) uses our own name") }
        if case .initiator(let expected) = role, name != expected {
            throw HandshakeError("Peer is \(name) instead of \(expected)")
        }
        guard version == 17 else { throw HandshakeError("Peer \(name) uses incompatible version \(version)") }
        peerName = name
        peerVersion = version
        let identity = try lookupPeer(name)
        var out: [Action] = []
        if role == .responder { out.append(.send(.id(name: myName, version: 17))) }
        if bypassSecurity {
            allowed = .ack
            out.append(.send(makeAck(name)))
            return out
        }
        guard let key = identity.key else { throw HandshakeError("No public key known for \(name)") }
        peerKey = key
        out += try sendMetaKey()
        allowed = .metaKey
        return out
    }

    private func sendMetaKey() throws -> [Action] {
        guard let peerKey = peerKey else { throw HandshakeError("no peer key") }
        var k = SecureRandom.bytes(peerKey.size)
        k[0] &= 0x7F   // keep the plaintext below the modulus, as tinc does
        let encrypted = try peerKey.rawEncrypt(k)
        let out = try streamCipher(from: k, suite: metaCipher, encrypt: true)
        return [.send(.metaKey(cipher: metaCipher.nid, digest: myDigest.nid, macLength: 0, compression: 0, key: Hex.encode(encrypted))),
                .encryptOutbound(out)]
    }

    /// key = last keylen bytes of K, IV = the ivlen bytes just before them.
    private func streamCipher(from k: [UInt8], suite: CipherSuite, encrypt: Bool) throws -> StreamCipher {
        let kl = suite.keyLength, il = suite.ivLength
        guard k.count >= kl + il else { throw HandshakeError("key material too short for \(suite.name)") }
        let key = Array(k[(k.count - kl)...])
        let iv = Array(k[(k.count - kl - il) ..< (k.count - kl)])
        return try StreamCipher(suite: suite, key: key, iv: iv, encrypt: encrypt)
    }

    private func gotMetaKey(_ c: Int, _ d: Int, _ m: Int, _ z: Int, _ hex: String) throws -> [Action] {
        guard let myKey = myKey, let peer = peerName else { throw HandshakeError("no private key") }
        guard hex.utf8.count == 2 * myKey.size else {
            throw HandshakeError("Possible intruder \(peer): wrong keylength")
        }
        guard let encrypted = Hex.decode(hex) else { throw HandshakeError("Got bad METAKEY from \(peer): not hex") }
        let k: [UInt8]
        do { k = try myKey.rawDecrypt(encrypted) } catch {
            throw HandshakeError("Possible intruder \(peer): METAKEY does not decrypt with our private key (\(error))")
        }
        guard c != 0, let suite = CipherSuite(nid: c), !suite.isNone else {
            throw HandshakeError("\(peer) uses unknown or null meta cipher \(c)")
        }
        // A cipher number is the peer's choice: refuse what cannot run as a byte stream (XTS, AEAD,
        // block modes, key wrap) here, with the number, instead of failing later on the socket.
        guard suite.isUsableForMetaStream else {
            throw HandshakeError("\(peer) uses unusable meta cipher \(c): \(suite.unusableReason)")
        }
        guard d != 0, let digest = DigestSuite(nid: d), !digest.isNone else {
            throw HandshakeError("\(peer) uses unknown or null meta digest \(d)")
        }
        guard m >= 0 && m <= digest.size else { throw HandshakeError("\(peer) uses bogus MAC length \(m)") }
        // Meta connections are never compressed; tinc 1.0 ignores the field, but a value no tinc
        // could send marks a broken or hostile peer.
        guard (0...11).contains(z) else { throw HandshakeError("\(peer) uses bogus compression level \(z)") }
        peerDigest = digest
        guard let peerKey else { throw HandshakeError("no public key for \(peer)") }
        let inbound: StreamCipher
        do { inbound = try streamCipher(from: k, suite: suite, encrypt: false) } catch {
            throw HandshakeError("\(peer) uses meta cipher \(c) that cannot be keyed: \(error)")
        }
        allowed = .challenge
        myChallenge = SecureRandom.bytes(peerKey.size)
        return [.decryptInbound(inbound), .send(.challenge(Hex.encode(myChallenge)))]
    }

    private func gotChallenge(_ hex: String) throws -> [Action] {
        guard let myKey = myKey, let peer = peerName else { throw HandshakeError("no private key") }
        guard hex.utf8.count == 2 * myKey.size else { throw HandshakeError("Possible intruder \(peer): wrong challenge length") }
        guard let ch = Hex.decode(hex) else { throw HandshakeError("Got bad CHALLENGE from \(peer): not hex") }
        peerChallenge = ch
        allowed = .chalReply
        // Only the initiator answers at once; the responder waits for proof first (CVE-2018-16738).
        if case .initiator = role { return [.send(reply())] }
        return []
    }

    private func reply() -> Request {
        .chalReply(Hex.encode(Digest.hash(peerDigest, peerChallenge)))
    }

    private func gotChalReply(_ hex: String) throws -> [Action] {
        guard let peer = peerName else { throw HandshakeError("no peer") }
        guard hex.utf8.count == 2 * myDigest.size else { throw HandshakeError("Possible intruder \(peer): wrong challenge reply length") }
        guard let got = Hex.decode(hex) else { throw HandshakeError("Got bad CHAL_REPLY from \(peer): not hex") }
        let expected = Digest.hash(myDigest, myChallenge)
        var diff: UInt8 = 0
        for (a, b) in zip(got, expected) { diff |= a ^ b }
        guard diff == 0 else { throw HandshakeError("Possible intruder \(peer): wrong challenge reply") }
        allowed = .ack
        var out: [Action] = []
        if role == .responder { out.append(.send(reply())) }
        out.append(.send(makeAck(peer)))
        return out
    }
}
