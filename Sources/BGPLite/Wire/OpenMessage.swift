// OPEN message (RFC 4271 4.2, 6.2; RFC 5492 capabilities parameter; RFC 6793 AS_TRANS;
// RFC 9072 extended optional parameters length).

public struct OpenMessage: Equatable, Sendable {
    public var version: UInt8
    /// The speaker's AS number, 4-byte. Decoding prefers the four-octet AS capability
    /// over the 2-byte field; encoding writes AS_TRANS into the 2-byte field when > 65535.
    public var myAS: UInt32
    public var holdTime: UInt16
    public var bgpIdentifier: UInt32
    public var capabilities: [Capability]

    public init(version: UInt8 = 4, myAS: UInt32, holdTime: UInt16, bgpIdentifier: UInt32, capabilities: [Capability]) {
        self.version = version
        self.myAS = myAS
        self.holdTime = holdTime
        self.bgpIdentifier = bgpIdentifier
        self.capabilities = capabilities
    }

    /// The value the 2-byte My Autonomous System field carries.
    public var twoOctetAS: UInt16 { myAS > 0xFFFF ? UInt16(BGPWire.asTrans) : UInt16(myAS) }

    // Capability queries.
    public var fourOctetASCapability: UInt32? {
        for c in capabilities { if case .fourOctetAS(let a) = c { return a } }
        return nil
    }
    public var multiprotocolFamilies: [AFISAFI] {
        capabilities.compactMap { if case .multiprotocol(let f) = $0 { return f } else { return nil } }
    }
    public var supportsRouteRefresh: Bool { capabilities.contains(.routeRefresh) }
    public var supportsEnhancedRouteRefresh: Bool { capabilities.contains(.enhancedRouteRefresh) }
    public var supportsExtendedMessages: Bool { capabilities.contains(.extendedMessage) }
    public var gracefulRestart: GracefulRestartCapability? {
        for c in capabilities { if case .gracefulRestart(let g) = c { return g } }
        return nil
    }
    public var addPath: [AddPathEntry] {
        capabilities.flatMap { c -> [AddPathEntry] in if case .addPath(let e) = c { return e } else { return [] } }
    }

    /// Optional parameter type carrying capabilities (RFC 5492).
    static let capabilitiesParameter: UInt8 = 2

    func encodeBody(into w: inout WireWriter) {
        w.u8(version)
        w.u16(twoOctetAS)
        w.u16(holdTime)
        w.u32(bgpIdentifier)
        var caps = WireWriter(capacity: 64)
        for c in capabilities { c.encode(into: &caps) }
        if caps.count == 0 {
            w.u8(0)
        } else if caps.count + 2 <= 255 {
            // One Capabilities parameter holding every capability, as BIRD does.
            w.u8(UInt8(caps.count + 2))
            w.u8(OpenMessage.capabilitiesParameter)
            w.u8(UInt8(caps.count))
            w.append(contentsOf: caps.bytes)
        } else {
            // RFC 9072: non-ext length 255, type 255, 2-byte total length, params with 2-byte lengths.
            w.u8(255)
            w.u8(255)
            w.u16(UInt16(truncatingIfNeeded: caps.count + 3))
            w.u8(OpenMessage.capabilitiesParameter)
            w.u16(UInt16(truncatingIfNeeded: caps.count))
            w.append(contentsOf: caps.bytes)
        }
    }

    static func decode(body p: UnsafeRawBufferPointer) throws(BGPError) -> OpenMessage {
        // Header validation guarantees body.count >= 10.
        let n = p.count
        let version = p[0]
        guard version == 4 else {
            throw BGPError(code: 2, subcode: 1, data: [0, 4], reason: "unsupported BGP version \(version)")
        }
        let as2 = UInt32(p.wireU16(at: 1))
        let hold = UInt16(p.wireU16(at: 3))
        let id = p.wireU32(at: 5)
        var optLen = Int(p[9])
        var pos = 10
        var extended = false
        if optLen == 255, n >= 11, p[10] == 255 {
            // RFC 9072 extended optional parameters.
            guard n >= 13 else {
                throw BGPError(code: 2, subcode: 0, reason: "truncated extended optional parameters length")
            }
            extended = true
            optLen = p.wireU16(at: 11)
            pos = 13
        }
        guard pos + optLen == n else {
            throw BGPError(code: 1, subcode: 2, data: lengthField(n),
                           reason: "optional parameters length \(optLen) inconsistent with OPEN length")
        }
        var caps: [Capability] = []
        let end = pos + optLen
        while pos < end {
            let hdr = extended ? 3 : 2
            guard end - pos >= hdr else {
                throw BGPError(code: 2, subcode: 0, reason: "truncated optional parameter")
            }
            let ptype = p[pos]
            let plen = extended ? p.wireU16(at: pos + 1) : Int(p[pos + 1])
            pos += hdr
            guard end - pos >= plen else {
                throw BGPError(code: 2, subcode: 0, reason: "optional parameter overruns OPEN message")
            }
            guard ptype == capabilitiesParameter else {
                throw BGPError(code: 2, subcode: 4, reason: "unsupported optional parameter type \(ptype)")
            }
            var c = pos
            let cend = pos + plen
            while c < cend {
                guard cend - c >= 2 else {
                    throw BGPError(code: 2, subcode: 0, reason: "truncated capability header")
                }
                let code = p[c]
                let clen = Int(p[c + 1])
                c += 2
                guard cend - c >= clen else {
                    throw BGPError(code: 2, subcode: 0, reason: "capability \(code) overruns its parameter")
                }
                caps.append(try Capability.decode(code: code, value: UnsafeRawBufferPointer(rebasing: p[c..<(c + clen)])))
                c += clen
            }
            pos = cend
        }
        var m = OpenMessage(version: version, myAS: as2, holdTime: hold, bgpIdentifier: id, capabilities: caps)
        if let as4 = m.fourOctetASCapability { m.myAS = as4 }
        guard hold == 0 || hold >= 3 else {
            throw BGPError(code: 2, subcode: 6, reason: "unacceptable hold time \(hold)")
        }
        guard id != 0 else {
            throw BGPError(code: 2, subcode: 3, reason: "BGP identifier 0.0.0.0")
        }
        guard m.myAS != 0 else {
            // RFC 7607: AS 0 in OPEN is a Bad Peer AS.
            throw BGPError(code: 2, subcode: 2, data: [p[1], p[2]], reason: "peer AS 0")
        }
        return m
    }

    private static func lengthField(_ bodyCount: Int) -> [UInt8] {
        let l = bodyCount + BGPWire.headerLength
        return [UInt8(truncatingIfNeeded: l >> 8), UInt8(truncatingIfNeeded: l)]
    }
}
