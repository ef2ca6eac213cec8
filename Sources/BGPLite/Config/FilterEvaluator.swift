// Runtime side of filters: route context, compiled closures, and Filter.run.

public enum RouteSourceKind: UInt32 {
    case static_ = 1, inherit = 2, device = 3, staticDevice = 4, redirect = 5, rip = 6, ospf = 7
    case ospfIA = 8, ospfExt1 = 9, ospfExt2 = 10, bgp = 11, pipe = 12, babel = 13
}

public enum RouteDest: UInt32 { case unicast = 1, blackhole = 2, unreachable = 3, prohibit = 4 }

/// The route a filter sees (BIRD's rte + rta + BGP extended attributes). Absent BGP attributes are nil
/// (an empty `bgpPath`/`bgpCommunities` means the attribute is absent, as in BIRD).
public struct FilterRouteContext {
    public var net: IPPrefix
    public var proto: String
    public var source: RouteSourceKind
    public var fromAddress: IPPrefix?
    public var gateway: IPPrefix?
    public var ifname: String?
    public var preference: UInt32
    public var dest: RouteDest
    public var bgpPath: [UInt32]
    public var bgpLocalPref: UInt32?
    public var bgpMED: UInt32?
    /// 0 = IGP, 1 = EGP, 2 = INCOMPLETE.
    public var bgpOrigin: UInt8?
    /// Standard communities, (asn << 16 | value).
    public var bgpCommunities: [UInt32]
    public var bgpNextHop: IPPrefix?

    public init(net: IPPrefix, proto: String, source: RouteSourceKind, fromAddress: IPPrefix? = nil,
                gateway: IPPrefix? = nil, ifname: String? = nil, preference: UInt32 = 100,
                dest: RouteDest = .unicast, bgpPath: [UInt32] = [], bgpLocalPref: UInt32? = nil,
                bgpMED: UInt32? = nil, bgpOrigin: UInt8? = nil, bgpCommunities: [UInt32] = [],
                bgpNextHop: IPPrefix? = nil) {
        self.net = net; self.proto = proto; self.source = source; self.fromAddress = fromAddress
        self.gateway = gateway; self.ifname = ifname; self.preference = preference; self.dest = dest
        self.bgpPath = bgpPath; self.bgpLocalPref = bgpLocalPref; self.bgpMED = bgpMED
        self.bgpOrigin = bgpOrigin; self.bgpCommunities = bgpCommunities; self.bgpNextHop = bgpNextHop
    }
}

public enum FilterVerdict: Equatable { case accept, reject }

struct FilterRuntimeError: Error { var message: String }

enum Flow { case next, accept, reject, error, ret(FilterValue) }

struct FilterFrame {
    var route: FilterRouteContext
    var vars: [FilterValue]
    var buf: String = ""
    let sink: (String) -> Void
}

typealias CExpr = (inout FilterFrame) throws(FilterRuntimeError) -> FilterValue
typealias CStmt = (inout FilterFrame) throws(FilterRuntimeError) -> Flow

/// A compiled filter. `where EXPR` policies become anonymous filters named "(unnamed)".
public final class Filter {
    public let name: String
    let body: CStmt
    let slotCount: Int
    /// Source line of the definition.
    public let sourceLine: Int
    /// What the filter does, as text (ConfigParser.fingerprint): equal for filters that behave alike.
    public internal(set) var fingerprint = ""
    init(name: String, body: @escaping CStmt, slotCount: Int, sourceLine: Int) {
        self.name = name; self.body = body; self.slotCount = slotCount; self.sourceLine = sourceLine
    }

    /// Runs the filter on `route` (attributes may be modified). A filter that ends without accept/reject,
    /// or hits a runtime error, rejects the route and reports why (BIRD logs the same and rejects).
    public func run(_ route: inout FilterRouteContext, print: (String) -> Void) -> (FilterVerdict, runtimeError: String?) {
        return withoutActuallyEscaping(print) { sink in
            var frame = FilterFrame(route: route, vars: slotCount == 0 ? [] : [FilterValue](repeating: .void, count: slotCount), sink: sink)
            let flow: Flow
            do throws(FilterRuntimeError) {
                flow = try body(&frame)
            } catch {
                if !frame.buf.isEmpty { sink(frame.buf) }
                return (.reject, "filters, line ?: \(error.message) (filter \(name))")
            }
            if !frame.buf.isEmpty { sink(frame.buf) }
            switch flow {
            case .accept:
                route = frame.route
                return (.accept, nil)
            case .reject:
                return (.reject, nil)
            case .error:
                return (.reject, "Filter \(name) returned error")
            case .next, .ret:
                return (.reject, "Filter \(name) did not return accept nor reject. Make up your mind")
            }
        }
    }

    /// Convenience without print output.
    public func run(_ route: inout FilterRouteContext) -> (FilterVerdict, runtimeError: String?) {
        run(&route, print: { _ in })
    }
}

extension Policy {
    /// Applies the policy to a route: `all` accepts, `none` rejects, a filter runs.
    public func evaluate(_ route: inout FilterRouteContext, print: (String) -> Void = { _ in }) -> (FilterVerdict, runtimeError: String?) {
        switch self {
        case .all: return (.accept, nil)
        case .none: return (.reject, nil)
        case .filter(let f): return f.run(&route, print: print)
        }
    }
}

// MARK: - Attribute access

let zeroAddress = IPPrefix(family: .ipv6, hi: 0, lo: 0, length: 128)

enum StaticAttr: String {
    case from, gw, net, proto, source, scope, dest, ifname, ifindex, weight, preference, gw_mpls, onlink
    var type: FType {
        switch self {
        case .from, .gw: return .ip
        case .net: return .net
        case .proto, .ifname: return .string
        case .source: return .enumRTS
        case .scope: return .enumScope
        case .dest: return .enumRTD
        case .ifindex, .weight, .preference, .gw_mpls: return .int
        case .onlink: return .bool
        }
    }
    var readonly: Bool { self == .net || self == .proto || self == .source || self == .ifindex }

    func get(_ r: FilterRouteContext) -> FilterValue {
        switch self {
        case .from: return .ip(r.fromAddress ?? zeroAddress)
        case .gw: return .ip(r.gateway ?? zeroAddress)
        case .net: return .net(r.net)
        case .proto: return .string(r.proto)
        case .source: return .enumeration(.enumRTS, r.source.rawValue)
        case .scope: return .enumeration(.enumScope, 4)
        case .dest: return .enumeration(.enumRTD, r.dest.rawValue)
        case .ifname: return .string(r.ifname ?? "")
        case .ifindex: return .int(0)
        case .weight: return .int(0)
        case .preference: return .int(r.preference)
        case .gw_mpls: return .int(0)
        case .onlink: return .bool(false)
        }
    }
}

enum DynAttr: String {
    case bgp_origin, bgp_path, bgp_next_hop, bgp_med, bgp_local_pref, bgp_community
    var type: FType {
        switch self {
        case .bgp_origin: return .enumOrigin
        case .bgp_path: return .path
        case .bgp_next_hop: return .ip
        case .bgp_med, .bgp_local_pref: return .int
        case .bgp_community: return .clist
        }
    }
    func get(_ r: FilterRouteContext) -> FilterValue {
        switch self {
        case .bgp_origin: if let o = r.bgpOrigin { return .enumeration(.enumOrigin, UInt32(o)) } else { return .void }
        case .bgp_path: return .path(r.bgpPath)
        case .bgp_next_hop: if let a = r.bgpNextHop { return .ip(a) } else { return .void }
        case .bgp_med: if let m = r.bgpMED { return .int(m) } else { return .void }
        case .bgp_local_pref: if let m = r.bgpLocalPref { return .int(m) } else { return .void }
        case .bgp_community: return .clist(r.bgpCommunities)
        }
    }
    func set(_ r: inout FilterRouteContext, _ v: FilterValue) throws(FilterRuntimeError) {
        guard v.type == type else {
            throw FilterRuntimeError(message: "Argument 1 of EA_SET must be of type \(type.name), got type \(v.type.name)")
        }
        switch (self, v) {
        case (.bgp_origin, .enumeration(_, let o)): r.bgpOrigin = UInt8(truncatingIfNeeded: o)
        case (.bgp_path, .path(let p)): r.bgpPath = p
        case (.bgp_next_hop, .ip(let a)): r.bgpNextHop = a
        case (.bgp_med, .int(let m)): r.bgpMED = m
        case (.bgp_local_pref, .int(let m)): r.bgpLocalPref = m
        case (.bgp_community, .clist(let c)): r.bgpCommunities = c
        default: break
        }
    }
    func unset(_ r: inout FilterRouteContext) {
        switch self {
        case .bgp_origin: r.bgpOrigin = nil
        case .bgp_path: r.bgpPath = []
        case .bgp_next_hop: r.bgpNextHop = nil
        case .bgp_med: r.bgpMED = nil
        case .bgp_local_pref: r.bgpLocalPref = nil
        case .bgp_community: r.bgpCommunities = []
        }
    }
}

// MARK: - Operations (BIRD filter/f-inst.c semantics)

@inline(__always) func rtErr(_ m: String) -> FilterRuntimeError { FilterRuntimeError(message: m) }

func argType(_ inst: String, _ n: Int, _ want: FType, _ v: FilterValue) throws(FilterRuntimeError) {
    if v.type != want { throw rtErr("Argument \(n) of \(inst) must be of type \(want.name), got type \(v.type.name)") }
}

/// val_in_range (the `~` operator). nil = "~ applied on unknown type pair".
func valueInRange(_ a: FilterValue, _ b: FilterValue) -> Bool? {
    switch (a, b) {
    case (.path(let p), .pathMask(let m)): return m.matches(p)
    case (.int(let i), .path(let p)): return p.contains(i)
    case (.pair(let c), .clist(let l)), (.quad(let c), .clist(let l)): return l.contains(c)
    case (.ip(let ip), .clist(let l)) where ip.family == .ipv4: return l.contains(ip.ipv4Address)
    case (.string(let s), .string(let pat)): return patternMatch(pat, s)
    case (.ip(let ip), .net(let n)): return n.contains(IPPrefix(family: ip.family, hi: ip.hi, lo: ip.lo, length: ip.family == .ipv4 ? 32 : 128))
    case (.net(let x), .net(let n)): return n.contains(x)
    case (.net(let x), .prefixSet(let s)): return s.matches(x)
    case (_, .set(let s)):
        if s.isEmpty { return false }
        if a.type == s.elementType { return s.contains(a) }
        if case .quad(let q) = a, s.elementType == .ip {
            return s.contains(.ip(IPPrefix(ipv4: q, length: 32)))
        }
        if case .clist(let l) = a {
            for c in l where s.containsKey(c) { return true }
            return false
        }
        if case .path(let p) = a {
            for asn in p where s.containsKey(asn) { return true }
            return false
        }
        return nil
    default:
        return nil
    }
}

/// BIRD patmatch: shell-style `*` and `?`.
func patternMatch(_ pattern: String, _ s: String) -> Bool {
    let p = Array(pattern.utf8), t = Array(s.utf8)
    func m(_ i: Int, _ j: Int) -> Bool {
        var i = i, j = j
        while i < p.count {
            if p[i] == 42 { // *
                if i + 1 == p.count { return true }
                var k = j
                while k <= t.count { if m(i + 1, k) { return true }; k += 1 }
                return false
            }
            if j >= t.count { return false }
            if p[i] != 63 && p[i] != t[j] { return false }
            i += 1; j += 1
        }
        return j == t.count
    }
    return m(0, 0)
}
