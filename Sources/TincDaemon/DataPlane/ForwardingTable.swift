import MeshIO
import MeshRouting
import TincConfig

/// An immutable snapshot of everything the frame path needs to decide where a frame goes.
/// The control thread builds a new one after every graph run, subnet change or PMTU change and
/// publishes it; the TX and RX threads read the current one once per batch. Nothing in here
/// refers to a mutable control-plane object, so no locks are needed on the hot path.
final class ForwardingTable {
    struct Route {
        var reachable = false
        var via: Int32 = -1
        var nexthop: Int32 = -1
        var options: UInt32 = 0
        var udp: SocketAddress?
        var minMTU = 0
        var mtu = 1518
        var directUDP = false      // Broadcast = direct targets
    }

    enum Decision: Equatable {
        case drop
        /// Router mode: no subnet matches (ICMP net unknown) or its owner is unreachable.
        case unknownDestination
        case unreachableDestination
        case device
        case node(Int32)
        case broadcast
    }

    static let unreachable: Int32 = -2

    let myID: Int32
    let mode: RoutingMode
    let broadcastMode: BroadcastMode
    let forwardingOff: Bool
    let tunnelServer: Bool
    let myTCPOnly: Bool
    /// Our own ClampMSS (applies to frames delivered to our device) and our own path MTU.
    let directOnly: Bool
    let forwardingKernel: Bool
    let decrementTTL: Bool
    let myClampMSS: Bool
    let myMTU: Int
    let routes: [Route]
    let names: [String]
    /// Node ids of active connections on the MST, for broadcasts.
    let mstTargets: [Int32]
    let nodeByAddress: [SocketAddress: Int32]

    private let mac: [UInt64: Int32]
    private let v4: [UInt64: Int32]          // prefix << 32 | masked address
    private let v4Lengths: [Int]
    private let v6: [V6Key: Int32]
    private let v6Lengths: [Int]

    struct V6Key: Hashable { var hi: UInt64; var lo: UInt64; var prefix: UInt8 }

    init(graph: MeshGraph, settings: DaemonSettings, mstNeighbors: Set<String>, pmtu: (Node) -> (min: Int, mtu: Int),
         udpAddress: (Node) -> SocketAddress?) {
        myID = Int32(graph.myself.id)
        mode = settings.mode
        broadcastMode = settings.broadcast
        forwardingOff = settings.forwarding == .off
        tunnelServer = settings.tunnelServer
        myTCPOnly = settings.tcpOnly
        directOnly = settings.directOnly
        forwardingKernel = settings.forwarding == .kernel
        decrementTTL = settings.decrementTTL
        myClampMSS = settings.clampMSS
        myMTU = min(settings.pmtu ?? 1518, 1518)
        var routes = [Route](repeating: Route(), count: graph.nodeIDCapacity)
        var names = [String](repeating: "", count: graph.nodeIDCapacity)
        var byAddr: [SocketAddress: Int32] = [:]
        var mst: [Int32] = []
        let me = graph.myself
        for n in graph.nodesByName {
            var r = Route()
            r.reachable = n.reachable
            r.via = Int32(n.via?.id ?? -1)
            r.nexthop = Int32(n.nexthop?.id ?? -1)
            r.options = n.options
            if n === me { r.mtu = min(settings.pmtu ?? 1518, 1518) }
            if n !== me {
                r.udp = udpAddress(n)
                let p = pmtu(n)
                r.minMTU = p.min
                r.mtu = p.mtu
                r.directUDP = n.reachable && ((n.via === me && n.nexthop === n) || n.via === n)
                if n.reachable, let a = r.udp { byAddr[a] = Int32(n.id) }
                if mstNeighbors.contains(n.name) { mst.append(Int32(n.id)) }
            }
            routes[n.id] = r
            names[n.id] = n.name
        }
        self.routes = routes
        self.names = names
        self.mstTargets = mst
        self.nodeByAddress = byAddr

        var mac: [UInt64: Int32] = [:]
        var v4: [UInt64: Int32] = [:]
        var v6: [V6Key: Int32] = [:]
        var v4Len = Set<Int>(), v6Len = Set<Int>()
        // allSubnets() is in tinc's order, so the first reachable owner per key is tinc's answer.
        for (s, owner) in graph.allSubnets() {
            let id: Int32 = owner.reachable ? Int32(owner.id) : ForwardingTable.unreachable
            switch s.address {
            case .mac(let b):
                let k = ForwardingTable.macKey(b)
                if mac[k] == nil || mac[k] == ForwardingTable.unreachable { mac[k] = id }
            case .ipv4(let b, let p):
                var a: UInt32 = 0
                for x in b { a = a << 8 | UInt32(x) }
                let masked: UInt32 = p == 0 ? 0 : (p == 32 ? a : a & ~(UInt32.max >> UInt32(p)))
                let k = UInt64(p) << 32 | UInt64(masked)
                if v4[k] == nil || v4[k] == ForwardingTable.unreachable { v4[k] = id }
                v4Len.insert(p)
            case .ipv6(let b, let p):
                let k = ForwardingTable.v6Key(b, prefix: p)
                if v6[k] == nil || v6[k] == ForwardingTable.unreachable { v6[k] = id }
                v6Len.insert(p)
            }
        }
        self.mac = mac
        self.v4 = v4
        self.v6 = v6
        v4Lengths = v4Len.sorted(by: >)
        v6Lengths = v6Len.sorted(by: >)
    }

    static func macKey<C: Collection>(_ b: C) -> UInt64 where C.Element == UInt8 {
        var k: UInt64 = 0
        for x in b.prefix(6) { k = k << 8 | UInt64(x) }
        return k
    }

    static func v6Key(_ b: [UInt8], prefix p: Int) -> V6Key {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(b[i]) }
        for i in 8..<16 { lo = lo << 8 | UInt64(b[i]) }
        return maskedV6(hi, lo, p)
    }

    @inline(__always)
    static func maskedV6(_ hi: UInt64, _ lo: UInt64, _ p: Int) -> V6Key {
        var h = hi, l = lo
        if p < 64 { h = p == 0 ? 0 : h & ~(UInt64.max >> UInt64(p)); l = 0 }
        else if p < 128 { l = p == 64 ? 0 : l & ~(UInt64.max >> UInt64(p - 64)) }
        return V6Key(hi: h, lo: l, prefix: UInt8(p))
    }

    // MARK: lookups (nil: no subnet; unreachable: only unreachable owners)

    @inline(__always)
    func lookupMAC(_ p: UnsafeRawPointer) -> Int32? {
        var k: UInt64 = 0
        for i in 0..<6 { k = k << 8 | UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        return mac[k]
    }

    @inline(__always)
    func lookupIPv4(_ p: UnsafeRawPointer) -> Int32? {
        var a: UInt32 = 0
        for i in 0..<4 { a = a << 8 | UInt32(p.load(fromByteOffset: i, as: UInt8.self)) }
        var sawUnreachable = false
        for len in v4Lengths {
            let m: UInt32 = len == 0 ? 0 : (len == 32 ? a : a & ~(UInt32.max >> UInt32(len)))
            if let id = v4[UInt64(len) << 32 | UInt64(m)] {
                if id >= 0 { return id }
                sawUnreachable = true
            }
        }
        return sawUnreachable ? ForwardingTable.unreachable : nil
    }

    @inline(__always)
    func lookupIPv6(_ p: UnsafeRawPointer) -> Int32? {
        var hi: UInt64 = 0, lo: UInt64 = 0
        for i in 0..<8 { hi = hi << 8 | UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        for i in 8..<16 { lo = lo << 8 | UInt64(p.load(fromByteOffset: i, as: UInt8.self)) }
        var sawUnreachable = false
        for len in v6Lengths {
            if let id = v6[ForwardingTable.maskedV6(hi, lo, len)] {
                if id >= 0 { return id }
                sawUnreachable = true
            }
        }
        return sawUnreachable ? ForwardingTable.unreachable : nil
    }

    /// tinc's route(): where does a frame from `source` go? Pure; both worker threads call it.
    func decide(_ f: UnsafeRawPointer, length: Int, source: Int32) -> Decision {
        guard length >= 14 else { return .drop }
        let fromMe = source == myID
        // Forwarding = kernel: everything from other nodes goes to our device; the kernel routes it.
        if forwardingKernel && !fromMe { return .device }
        switch mode {
        case .hub:
            return .broadcast
        case .switch:
            guard let owner = lookupMAC(f) else { return .broadcast }
            return unicast(owner, source: source, fromMe: fromMe)
        case .router:
            let type = UInt16(f.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(f.load(fromByteOffset: 13, as: UInt8.self))
            var owner: Int32?
            if type == 0x0800 {
                guard length >= 34 else { return .drop }
                let d0 = f.load(fromByteOffset: 30, as: UInt8.self)
                let bcast = d0 == 255 && f.load(fromByteOffset: 31, as: UInt8.self) == 255 && f.load(fromByteOffset: 32, as: UInt8.self) == 255 && f.load(fromByteOffset: 33, as: UInt8.self) == 255
                if (bcast || d0 & 0xF0 == 0xE0) && broadcastMode != .no { return .broadcast }
                owner = lookupIPv4(f + 30)
            } else if type == 0x86DD {
                guard length >= 54 else { return .drop }
                if f.load(fromByteOffset: 38, as: UInt8.self) == 0xFF { return .broadcast }
                owner = lookupIPv6(f + 38)
            } else {
                return .drop   // ARP/NDP are answered by the control thread; other types are not routable
            }
            guard let o = owner else { return .unknownDestination }
            if o == ForwardingTable.unreachable { return .unreachableDestination }
            return unicast(o, source: source, fromMe: fromMe)
        }
    }

    @inline(__always)
    private func unicast(_ owner: Int32, source: Int32, fromMe: Bool) -> Decision {
        if owner < 0 || owner == source { return .drop }
        if owner == myID { return fromMe ? .drop : .device }
        if forwardingOff && !fromMe { return .drop }
        return .node(owner)
    }
}
