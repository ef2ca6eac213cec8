// UPDATE message (RFC 4271 4.3) with RFC 7606 revised error handling, End-of-RIB
// (RFC 4724 2) and NLRI packing.

/// The RFC 7606 outcome of decoding an UPDATE, most severe first in this order:
/// session reset > AFI/SAFI disable > treat-as-withdraw > attribute discard.
public enum UpdateErrorAction: Equatable, Sendable {
    case none
    /// Some attributes were malformed and dropped; the routes are otherwise usable.
    case attributeDiscard([String])
    /// Every prefix in the message (NLRI field and MP_REACH_NLRI) must be withdrawn.
    case treatAsWithdraw([String])
    /// Reserved: BGPLite escalates MP_REACH/MP_UNREACH errors to a session reset instead.
    case afiSafiDisable
    /// Send this NOTIFICATION and close the session.
    case sessionReset(NotificationMessage)

    public var reasons: [String] {
        switch self {
        case .attributeDiscard(let r), .treatAsWithdraw(let r): return r
        default: return []
        }
    }
}

public struct DecodedUpdate: Equatable, Sendable {
    public var update: UpdateMessage
    public var action: UpdateErrorAction
    /// Every problem found, also for a session reset.
    public var reasons: [String]
}

public struct UpdateMessage: Equatable, Sendable {
    /// IPv4 unicast withdrawals (Withdrawn Routes field).
    public var withdrawn: [IPPrefix]
    public var attributes: PathAttributes
    /// IPv4 unicast announcements (NLRI field).
    public var nlri: [IPPrefix]
    /// Path identifiers parallel to `withdrawn` / `nlri` when ADD-PATH is used for IPv4 unicast.
    public var withdrawnPathIDs: [UInt32]
    public var nlriPathIDs: [UInt32]

    public init(withdrawn: [IPPrefix] = [], attributes: PathAttributes = PathAttributes(), nlri: [IPPrefix] = [],
                withdrawnPathIDs: [UInt32] = [], nlriPathIDs: [UInt32] = []) {
        self.withdrawn = withdrawn
        self.attributes = attributes
        self.nlri = nlri
        self.withdrawnPathIDs = withdrawnPathIDs
        self.nlriPathIDs = nlriPathIDs
    }

    /// The End-of-RIB marker (RFC 4724 2): an empty UPDATE for IPv4 unicast, an UPDATE
    /// with only an empty MP_UNREACH_NLRI for any other family.
    public static func endOfRIB(_ f: AFISAFI) -> UpdateMessage {
        if f == .ipv4Unicast { return UpdateMessage() }
        return UpdateMessage(attributes: PathAttributes(mpUnreach: MPUnreach(afiSafi: f, withdrawn: [])))
    }

    public func isEndOfRIB(for f: AFISAFI) -> Bool {
        guard withdrawn.isEmpty, nlri.isEmpty else { return false }
        if f == .ipv4Unicast { return attributes.isEmpty }
        return attributes == PathAttributes(mpUnreach: MPUnreach(afiSafi: f, withdrawn: []))
    }

    /// The family this message is an End-of-RIB for, if it is one.
    public var endOfRIBFamily: AFISAFI? {
        guard withdrawn.isEmpty, nlri.isEmpty else { return nil }
        if attributes.isEmpty { return .ipv4Unicast }
        if let u = attributes.mpUnreach, isEndOfRIB(for: u.afiSafi) { return u.afiSafi }
        return nil
    }

    /// All announced prefixes: NLRI field plus MP_REACH_NLRI.
    public var announcedPrefixes: [IPPrefix] {
        guard let r = attributes.mpReach, !r.nlri.isEmpty else { return nlri }
        return nlri + r.nlri
    }

    /// All withdrawn prefixes: Withdrawn Routes field plus MP_UNREACH_NLRI.
    public var withdrawnPrefixes: [IPPrefix] {
        guard let u = attributes.mpUnreach, !u.withdrawn.isEmpty else { return withdrawn }
        return withdrawn + u.withdrawn
    }

    // MARK: Decode

    /// Decodes an UPDATE body (after the 19-byte header). Never traps; problems are
    /// reported as an RFC 7606 action. With `.treatAsWithdraw` (and `.sessionReset`) the
    /// returned message still holds every prefix that could be parsed.
    public static func decode(body p: UnsafeRawBufferPointer, options: CodecOptions) -> DecodedUpdate {
        var u = UpdateMessage()
        var e = UpdateErrorCollector()
        func done() -> DecodedUpdate { DecodedUpdate(update: u, action: e.action, reasons: e.reasons) }
        let n = p.count
        guard n >= 4 else {
            e.reset(NotificationMessage(code: 3, subcode: 1), "UPDATE shorter than 23 bytes")
            return done()
        }
        let wlen = p.wireU16(at: 0)
        guard 2 + wlen + 2 <= n else {
            e.reset(NotificationMessage(code: 3, subcode: 1), "withdrawn routes length \(wlen) exceeds the message")
            return done()
        }
        let v4AddPath = options.receivesPathID(.ipv4Unicast)
        if !NLRICodec.parse(p, 2, 2 + wlen, family: .ipv4, addPath: v4AddPath, into: &u.withdrawn, pathIDs: &u.withdrawnPathIDs) {
            e.reset(NotificationMessage(code: 3, subcode: 10), "malformed withdrawn routes field")
            return done()
        }
        let alen = p.wireU16(at: 2 + wlen)
        let aStart = 4 + wlen
        let aEnd = aStart + alen
        guard aEnd <= n else {
            e.reset(NotificationMessage(code: 3, subcode: 1), "total path attribute length \(alen) exceeds the message")
            return done()
        }
        let present = PathAttributes.decode(p, aStart, aEnd, options: options, into: &u.attributes, errors: &e)
        if e.level >= 4 { return done() }
        if !NLRICodec.parse(p, aEnd, n, family: .ipv4, addPath: v4AddPath, into: &u.nlri, pathIDs: &u.nlriPathIDs) {
            e.reset(NotificationMessage(code: 3, subcode: 10), "malformed NLRI field")
            return done()
        }
        // Well-known mandatory attributes when there is reachability (RFC 4271 5, RFC 7606 3 d,
        // RFC 4760 3: NEXT_HOP only for the NLRI field).
        let mpNLRI = !(u.attributes.mpReach?.nlri.isEmpty ?? true)
        if !u.nlri.isEmpty || mpNLRI {
            if !present.origin { e.withdraw("missing mandatory attribute ORIGIN") }
            if !present.asPath { e.withdraw("missing mandatory attribute AS_PATH") }
            if !u.nlri.isEmpty && !present.nextHop { e.withdraw("missing mandatory attribute NEXT_HOP") }
        }
        return done()
    }

    // MARK: Encode

    /// Writes the UPDATE body. The caller keeps the message within the size limit (or
    /// uses `packUpdates`).
    func encodeBody(into w: inout WireWriter, options: CodecOptions) {
        let v4AddPath = options.sendsPathID(.ipv4Unicast)
        let wpos = w.count
        w.u16(0)
        NLRICodec.write(withdrawn, pathIDs: withdrawnPathIDs, addPath: v4AddPath, into: &w)
        w.patchU16(at: wpos, UInt16(truncatingIfNeeded: w.count - wpos - 2))
        let apos = w.count
        w.u16(0)
        // RFC 7606 5.1: MP_REACH_NLRI / MP_UNREACH_NLRI go first.
        if let u = attributes.mpUnreach { PathAttributes.encodeMPUnreach(u, into: &w, options: options) }
        if let r = attributes.mpReach { PathAttributes.encodeMPReach(r, into: &w, options: options) }
        attributes.encodeAttributes(into: &w, options: options)
        w.patchU16(at: apos, UInt16(truncatingIfNeeded: w.count - apos - 2))
        NLRICodec.write(nlri, pathIDs: nlriPathIDs, addPath: v4AddPath, into: &w)
    }

    /// Encodes a complete UPDATE message.
    public func encode(options: CodecOptions) -> [UInt8] { BGPMessage.update(self).encode(options: options) }

    // MARK: Packing

    /// Encodes announcements of `prefixes` with `attributes` into as few UPDATE messages as
    /// possible, each at most 4096 bytes (65535 with extended messages). IPv4 prefixes go
    /// into the NLRI field (with `attributes.nextHop`); IPv6 prefixes go into MP_REACH_NLRI
    /// using `attributes.mpReach`'s AFI/SAFI and next hop (IPv6 prefixes are skipped when
    /// `attributes.mpReach` is nil). `pathIDs`, when given, is parallel to `prefixes`.
    public static func packUpdates(attributes: PathAttributes, prefixes: [IPPrefix], options: CodecOptions,
                                   pathIDs: [UInt32] = []) -> [[UInt8]] {
        let maxLen = options.maxLength(for: .update)
        var out: [[UInt8]] = []
        var base = attributes
        base.mpReach = nil
        base.mpUnreach = nil

        var hasV4 = false, hasV6 = false
        for p in prefixes {
            if p.family == .ipv4 { hasV4 = true } else { hasV6 = true }
            if hasV4 && hasV6 { break }
        }

        if hasV4 {
            var aw = WireWriter(capacity: 128)
            base.encodeAttributes(into: &aw, options: options)
            let attrs = aw.bytes
            let addPath = options.sendsPathID(.ipv4Unicast)
            let fixed = BGPWire.headerLength + 4 + attrs.count
            var w = WireWriter()
            var open = false
            func finish() {
                w.patchU16(at: 16, UInt16(truncatingIfNeeded: w.count))
                out.append(w.bytes)
                open = false
            }
            for (i, p) in prefixes.enumerated() where p.family == .ipv4 {
                let sz = NLRICodec.encodedSize(p, addPath: addPath)
                if open && w.count + sz > maxLen { finish() }
                if !open {
                    guard fixed + sz <= maxLen else { break } // attributes alone too large
                    w = WireWriter(capacity: maxLen)
                    BGPWire.writeHeader(&w, type: .update)
                    w.u16(0)
                    w.u16(UInt16(attrs.count))
                    w.append(contentsOf: attrs)
                    open = true
                }
                NLRICodec.write(p, pathID: addPath ? (i < pathIDs.count ? pathIDs[i] : 0) : nil, into: &w)
            }
            if open { finish() }
        }

        if hasV6, let reach = attributes.mpReach {
            var v6base = base
            v6base.nextHop = nil // RFC 4760 3: not used with MP_REACH_NLRI only
            var aw = WireWriter(capacity: 128)
            v6base.encodeAttributes(into: &aw, options: options)
            let attrs = aw.bytes
            let addPath = options.sendsPathID(reach.afiSafi)
            let nh = reach.nextHop.count <= 255 ? reach.nextHop : Array(reach.nextHop[..<255])
            let mpFixed = 4 + 4 + nh.count + 1
            let fixed = BGPWire.headerLength + 4 + mpFixed + attrs.count
            let limit = maxLen - attrs.count // where MP NLRI must end
            var w = WireWriter()
            var open = false
            var mpStart = 0
            func finish() {
                // MP_REACH_NLRI uses the extended length form: length at mpStart + 2.
                w.patchU16(at: mpStart + 2, UInt16(truncatingIfNeeded: w.count - mpStart - 4))
                w.append(contentsOf: attrs)
                w.patchU16(at: BGPWire.headerLength + 2, UInt16(truncatingIfNeeded: w.count - BGPWire.headerLength - 4))
                w.patchU16(at: 16, UInt16(truncatingIfNeeded: w.count))
                out.append(w.bytes)
                open = false
            }
            for (i, p) in prefixes.enumerated() where p.family == .ipv6 {
                let sz = NLRICodec.encodedSize(p, addPath: addPath)
                if open && w.count + sz > limit { finish() }
                if !open {
                    guard fixed + sz <= maxLen else { break }
                    w = WireWriter(capacity: maxLen)
                    BGPWire.writeHeader(&w, type: .update)
                    w.u16(0)
                    w.u16(0) // total attribute length, patched
                    mpStart = w.count
                    w.u8(PathAttributes.Flag.optional | PathAttributes.Flag.extendedLength)
                    w.u8(PathAttributes.Code.mpReach)
                    w.u16(0)
                    w.u16(reach.afiSafi.afi)
                    w.u8(reach.afiSafi.safi)
                    w.u8(UInt8(nh.count))
                    w.append(contentsOf: nh)
                    w.u8(0)
                    open = true
                }
                NLRICodec.write(p, pathID: addPath ? (i < pathIDs.count ? pathIDs[i] : 0) : nil, into: &w)
            }
            if open { finish() }
        }
        return out
    }

    /// Encodes withdrawals of `prefixes` into as few UPDATEs as possible: IPv4 in the
    /// Withdrawn Routes field, IPv6 in MP_UNREACH_NLRI (IPv6 unicast).
    public static func packWithdrawals(prefixes: [IPPrefix], options: CodecOptions, pathIDs: [UInt32] = []) -> [[UInt8]] {
        let maxLen = options.maxLength(for: .update)
        var out: [[UInt8]] = []
        for family in [IPPrefix.Family.ipv4, .ipv6] {
            let f: AFISAFI = family == .ipv4 ? .ipv4Unicast : .ipv6Unicast
            let addPath = options.sendsPathID(f)
            var w = WireWriter()
            var open = false
            var lenPos = 0
            func finish() {
                if family == .ipv4 {
                    w.patchU16(at: lenPos, UInt16(truncatingIfNeeded: w.count - lenPos - 2))
                    w.u16(0)
                } else {
                    w.patchU16(at: lenPos, UInt16(truncatingIfNeeded: w.count - lenPos - 2))
                    w.patchU16(at: BGPWire.headerLength + 2, UInt16(truncatingIfNeeded: w.count - BGPWire.headerLength - 4))
                }
                w.patchU16(at: 16, UInt16(truncatingIfNeeded: w.count))
                out.append(w.bytes)
                open = false
            }
            // IPv4 reserves 2 bytes for the trailing total attribute length.
            let limit = family == .ipv4 ? maxLen - 2 : maxLen
            for (i, p) in prefixes.enumerated() where p.family == family {
                let sz = NLRICodec.encodedSize(p, addPath: addPath)
                if open && w.count + sz > limit { finish() }
                if !open {
                    w = WireWriter(capacity: maxLen)
                    BGPWire.writeHeader(&w, type: .update)
                    if family == .ipv4 {
                        lenPos = w.count
                        w.u16(0)
                    } else {
                        w.u16(0)
                        w.u16(0)
                        w.u8(PathAttributes.Flag.optional | PathAttributes.Flag.extendedLength)
                        w.u8(PathAttributes.Code.mpUnreach)
                        lenPos = w.count
                        w.u16(0)
                        w.u16(f.afi)
                        w.u8(f.safi)
                    }
                    open = true
                }
                NLRICodec.write(p, pathID: addPath ? (i < pathIDs.count ? pathIDs[i] : 0) : nil, into: &w)
            }
            if open { finish() }
        }
        return out
    }
}
