// Filter language parser + compiler (BIRD 2.0.12 filter/config.Y), producing closures.
// Static type checks mirror BIRD's ARG()/ARG_SAME_TYPE compile-time checks; constant subexpressions are
// folded at parse time (BIRD "filter preevaluation").

struct CE {
    var run: CExpr
    var type: FType?
    var const: FilterValue?
    var staticAttr: StaticAttr? = nil
}

func constCE(_ v: FilterValue) -> CE {
    CE(run: { (_: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in v }, type: v.type, const: v)
}

private let typeKeywords: [String: FType] = [
    "int": .int, "bool": .bool, "ip": .ip, "prefix": .net, "pair": .pair, "quad": .quad, "string": .string,
    "bgpmask": .pathMask, "bgppath": .path, "clist": .clist,
]
private let unsupportedTypeKeywords: Set<String> = ["rd", "ec", "lc", "eclist", "lclist"]

extension ConfigParser {
    func isTypeKeyword() -> Bool {
        guard let k = curKeyword else { return false }
        return typeKeywords[k] != nil || unsupportedTypeKeywords.contains(k)
    }

    // MARK: - Static checks and folding

    func checkStatic(_ e: CE, _ inst: String, _ n: Int, _ want: FType, at t: Token? = nil) throws(BGPConfigError) {
        if let ty = e.type, ty != want, !(want == .quad && (ty == .int || (ty == .ip && e.const != nil))) {
            throw err(t ?? toks[max(pos - 1, 0)], "Argument \(n) of \(inst) must be of type \(want.name), got type \(ty.name)")
        }
    }

    /// Folds `e` if it is constant (runs it at parse time), turning runtime errors into config errors.
    func fold(_ e: CE, _ foldable: Bool, at t: Token) throws(BGPConfigError) -> CE {
        guard foldable else { return e }
        var frame = FilterFrame(route: FilterRouteContext(net: IPPrefix(ipv4: 0, length: 0), proto: "", source: .static_), vars: [], sink: { _ in })
        do {
            let v = try e.run(&frame)
            return CE(run: { (_: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in v }, type: e.type ?? v.type, const: v)
        } catch {
            throw err(t, "filter preevaluation, line \(t.line): \(error.message)")
        }
    }

    func binary(_ a: CE, _ b: CE, type: FType?, at t: Token,
                _ op: @escaping (FilterValue, FilterValue) throws(FilterRuntimeError) -> FilterValue) throws(BGPConfigError) -> CE {
        let ra = a.run, rb = b.run
        let e = CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in
            let x = try ra(&f)
            let y = try rb(&f)
            return try op(x, y)
        }, type: type, const: nil)
        return try fold(e, a.const != nil && b.const != nil, at: t)
    }

    func unary(_ a: CE, type: FType?, at t: Token,
               _ op: @escaping (FilterValue) throws(FilterRuntimeError) -> FilterValue) throws(BGPConfigError) -> CE {
        let ra = a.run
        let e = CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in try op(try ra(&f)) }, type: type, const: nil)
        return try fold(e, a.const != nil, at: t)
    }

    // MARK: - Terms

    static let maxNesting = 40

    mutating func parseTerm() throws(BGPConfigError) -> CE {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > ConfigParser.maxNesting { throw err("Expression or block nested too deeply (limit \(ConfigParser.maxNesting))") }
        var lhs = try parseComparison()
        while true {
            let t = cur
            let isAnd: Bool
            if case .and = cur.kind { isAnd = true } else if case .or = cur.kind { isAnd = false } else { break }
            advance()
            let rhs = try parseComparison()
            let name = isAnd ? "AND" : "OR"
            try checkStatic(lhs, name, 1, .bool, at: t)
            try checkStatic(rhs, name, 2, .bool, at: t)
            let ra = lhs.run, rb = rhs.run
            let e = CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in
                let x = try ra(&f)
                guard case .bool(let bx) = x else { throw rtErr("Argument 1 of \(name) must be of type bool, got type \(x.type.name)") }
                if bx == isAnd { return try rb(&f) }
                return x
            }, type: .bool, const: nil)
            lhs = try fold(e, lhs.const != nil && rhs.const != nil, at: t)
        }
        return lhs
    }

    enum CmpOp { case eq, neq, lt, gt, le, ge, match, nmatch }

    var curCmpOp: CmpOp? {
        switch cur.kind {
        case .punct(61): return .eq
        case .neq: return .neq
        case .punct(60): return .lt
        case .punct(62): return .gt
        case .leq: return .le
        case .geq: return .ge
        case .punct(126): return .match
        case .nma: return .nmatch
        default: return nil
        }
    }

    mutating func parseComparison() throws(BGPConfigError) -> CE {
        let lhs = try parseAdditive()
        guard let op = curCmpOp else { return lhs }
        let t = cur
        advance()
        let rhs = try parseAdditive()
        if curCmpOp != nil { throw syntaxError() }   // %nonassoc
        switch op {
        case .eq, .neq:
            let neg = op == .neq
            if lhs.staticAttr == .proto, case .string(let s)? = rhs.const {
                return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in .bool((f.route.proto == s) != neg) }, type: .bool, const: nil)
            }
            return try binary(lhs, rhs, type: .bool, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in .bool(sameValues(x, y) != neg) }
        case .lt, .gt, .le, .ge:
            let name = (op == .lt || op == .gt) ? "LT" : "LTE"
            if let a = lhs.type, let b = rhs.type, a != b,
               !((a == .quad && b == .ip) || (a == .ip && b == .quad) || (a == .quad && b == .int) || (a == .int && b == .quad)) {
                throw err(t, "Arguments 1 and 2 of \(name) must be of the same type")
            }
            return try binary(lhs, rhs, type: .bool, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                guard let c = compareValues(x, y) else { throw rtErr("Can't compare values of incompatible types") }
                switch op {
                case .lt: return .bool(c == -1)
                case .gt: return .bool(c == 1)
                case .le: return .bool(c != 1)
                default: return .bool(c != -1)
                }
            }
        case .match, .nmatch:
            let neg = op == .nmatch
            if lhs.staticAttr == .net, case .prefixSet(let set)? = rhs.const {
                return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in .bool(set.matches(f.route.net) != neg) }, type: .bool, const: nil)
            }
            return try binary(lhs, rhs, type: .bool, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                guard let r = valueInRange(x, y) else { throw rtErr(neg ? "!~ applied on unknown type pair" : "~ applied on unknown type pair") }
                return .bool(r != neg)
            }
        }
    }

    mutating func parseAdditive() throws(BGPConfigError) -> CE {
        var lhs = try parseMultiplicative()
        while isP("+") || isP("-") {
            let t = cur
            let plus = isP("+")
            advance()
            let rhs = try parseMultiplicative()
            lhs = try arith(lhs, rhs, plus ? "ADD" : "SUBTRACT", at: t)
        }
        return lhs
    }

    mutating func parseMultiplicative() throws(BGPConfigError) -> CE {
        var lhs = try parseUnary()
        while isP("*") || isP("/") {
            let t = cur
            let mul = isP("*")
            advance()
            let rhs = try parseUnary()
            lhs = try arith(lhs, rhs, mul ? "MULTIPLY" : "DIVIDE", at: t)
        }
        if isP("%") { throw syntaxError() }
        return lhs
    }

    func arith(_ a: CE, _ b: CE, _ name: String, at t: Token) throws(BGPConfigError) -> CE {
        try checkStatic(a, name, 1, .int, at: t)
        try checkStatic(b, name, 2, .int, at: t)
        return try binary(a, b, type: .int, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
            guard case .int(let i) = x else { throw rtErr("Argument 1 of \(name) must be of type int, got type \(x.type.name)") }
            guard case .int(let j) = y else { throw rtErr("Argument 2 of \(name) must be of type int, got type \(y.type.name)") }
            switch name {
            case "ADD": return .int(i &+ j)
            case "SUBTRACT": return .int(i &- j)
            case "MULTIPLY": return .int(i &* j)
            default:
                if j == 0 { throw rtErr("Mother told me not to divide by 0") }
                return .int(i / j)
            }
        }
    }

    mutating func parseUnary() throws(BGPConfigError) -> CE {
        if isP("!") {
            nesting += 1
            defer { nesting -= 1 }
            if nesting > ConfigParser.maxNesting { throw err("Expression or block nested too deeply (limit \(ConfigParser.maxNesting))") }
            let t = cur
            advance()
            let a = try parseUnary()
            try checkStatic(a, "NOT", 1, .bool, at: t)
            return try unary(a, type: .bool, at: t) { (x) throws(FilterRuntimeError) -> FilterValue in
                guard case .bool(let b) = x else { throw rtErr("Argument 1 of NOT must be of type bool, got type \(x.type.name)") }
                return .bool(!b)
            }
        }
        return try parsePostfix()
    }

    mutating func parsePostfix() throws(BGPConfigError) -> CE {
        var e = try parsePrimary()
        while isP(".") {
            let dot = cur
            guard let m = curKeywordAt(peek()) else { throw syntaxError(peek()) }
            // Statement forms (bgp_path.prepend(..)) are handled by the statement parser.
            if ["prepend", "add", "delete", "filter", "empty"].contains(m) { throw syntaxError(peek()) }
            advance(); advance()
            switch m {
            case "len":
                if e.staticAttr == .net {
                    e = CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in .int(UInt32(f.route.net.length)) }, type: .int, const: nil)
                    continue
                }
                e = try unary(e, type: .int, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    switch x {
                    case .net(let n): return .int(UInt32(n.length))
                    case .path(let p): return .int(UInt32(p.count))
                    case .clist(let c): return .int(UInt32(c.count))
                    default: throw rtErr("Prefix, path, clist or eclist expected")
                    }
                }
            case "ip":
                try checkStatic(e, "IP", 1, .net, at: dot)
                e = try unary(e, type: .ip, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    guard case .net(let n) = x else { throw rtErr("Argument 1 of IP must be of type prefix, got type \(x.type.name)") }
                    return .ip(IPPrefix(family: n.family, hi: n.hi, lo: n.lo, length: n.maxLength))
                }
            case "type":
                e = try unary(e, type: .enumNetType, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    guard case .net(let n) = x else { throw rtErr("Can't determine type of this item") }
                    return .enumeration(.enumNetType, n.family == .ipv4 ? 1 : 2)
                }
            case "is_v4":
                try checkStatic(e, "IS_V4", 1, .ip, at: dot)
                e = try unary(e, type: .bool, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    guard case .ip(let a) = x else { throw rtErr("Argument 1 of IS_V4 must be of type ip, got type \(x.type.name)") }
                    return .bool(a.family == .ipv4)
                }
            case "first", "last":
                let first = m == "first"
                let name = first ? "AS_PATH_FIRST" : "AS_PATH_LAST"
                try checkStatic(e, name, 1, .path, at: dot)
                e = try unary(e, type: .int, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    guard case .path(let p) = x else { throw rtErr("Argument 1 of \(name) must be of type bgppath, got type \(x.type.name)") }
                    return .int((first ? p.first : p.last) ?? 0)
                }
            case "data":
                try checkStatic(e, "PAIR_DATA", 1, .pair, at: dot)
                e = try unary(e, type: .int, at: dot) { (x) throws(FilterRuntimeError) -> FilterValue in
                    guard case .pair(let p) = x else { throw rtErr("Argument 1 of PAIR_DATA must be of type pair, got type \(x.type.name)") }
                    return .int(p & 0xffff)
                }
            case "mask":
                try expectP("(")
                let arg = try parseTerm()
                try expectP(")")
                try checkStatic(e, "IP_MASK", 1, .ip, at: dot)
                try checkStatic(arg, "IP_MASK", 2, .int, at: dot)
                e = try binary(e, arg, type: .ip, at: dot) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                    guard case .ip(let a) = x, case .int(let l) = y else { throw rtErr("Argument of IP_MASK has wrong type") }
                    let len = min(Int(l), a.maxLength)
                    let masked = IPPrefix(family: a.family, hi: a.hi, lo: a.lo, length: len)
                    return .ip(IPPrefix(family: a.family, hi: masked.hi, lo: masked.lo, length: a.maxLength))
                }
            default:
                throw unsupported(peek(-1), "'.\(m)'")
            }
        }
        return e
    }

    func curKeywordAt(_ t: Token) -> String? {
        if case .word(let x) = t.kind, isKeywordWord(x) { return x }
        return nil
    }

    mutating func parsePrimary() throws(BGPConfigError) -> CE {
        let t = cur
        switch cur.kind {
        case .num(let n):
            advance(); return constCE(.int(n))
        case .text(let s):
            advance(); return constCE(.string(s))
        case .ip4(let a):
            advance()
            if isP("/") { return constCE(.net(try finishPrefix(.ip4(a), at: t))) }
            return constCE(.ip(IPPrefix(ipv4: a, length: 32)))
        case .ip6(let h, let l):
            advance()
            if isP("/") { return constCE(.net(try finishPrefix(.ip6(h, l), at: t))) }
            return constCE(.ip(IPPrefix(family: .ipv6, hi: h, lo: l, length: 128)))
        case .rd:
            throw unsupported(t, "Route distinguisher")
        case .punct(40): // (
            advance()
            if let k = curKeyword, ["rt", "ro", "unknown", "generic"].contains(k) { throw unsupported(cur, "Extended community") }
            let a = try parseTerm()
            if acceptP(",") {
                let b = try parseTerm()
                if isP(",") { throw unsupported(cur, "Large community") }
                try expectP(")")
                try checkStatic(a, "PAIR_CONSTRUCT", 1, .int, at: t)
                try checkStatic(b, "PAIR_CONSTRUCT", 2, .int, at: t)
                return try binary(a, b, type: .pair, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                    guard case .int(let i) = x else { throw rtErr("Argument 1 of PAIR_CONSTRUCT must be of type int, got type \(x.type.name)") }
                    guard case .int(let j) = y else { throw rtErr("Argument 2 of PAIR_CONSTRUCT must be of type int, got type \(y.type.name)") }
                    if i > 0xFFFF || j > 0xFFFF { throw rtErr("Can't operate with value out of bounds in pair constructor") }
                    return .pair(i << 16 | j)
                }
            }
            try expectP(")")
            var r = a
            r.staticAttr = nil
            return r
        case .punct(91): // [
            return constCE(try parseSetConstant())
        case .po:
            return constCE(.pathMask(try parsePathMask()))
        case .punct(43): // + empty +
            advance()
            try expectKW("empty"); try expectP("+")
            return constCE(.path([]))
        case .punct(45): // - empty -
            advance()
            if isP("-") { throw unsupported(cur, "eclist/lclist constants") }
            try expectKW("empty"); try expectP("-")
            return constCE(.clist([]))
        case .word(let w), .quotedSym(let w):
            var isQuoted = false
            if case .quotedSym = cur.kind { isQuoted = true }
            if !isQuoted && isKeywordWord(w) {
                return try parseKeywordPrimary(w, t)
            }
            if !isQuoted, symbols[w] == nil, let (ty, v) = birdEnums[w] {
                advance()
                return constCE(.enumeration(ty, v))
            }
            // symbol
            if let (slot, ty) = lookupVar(w) {
                advance()
                return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in f.vars[slot] }, type: ty, const: nil)
            }
            guard let s = symbols[w] else { throw syntaxError() }
            advance()
            switch s {
            case .constant(let v):
                return constCE(v)
            case .function(let fd):
                guard isP("(") else { throw err(t, "Can't get value of symbol \(w)") }
                return try parseCall(fd, at: t)
            default:
                if isP("(") { throw err(t, "You can't call something which is not a function. Really.") }
                throw err(t, "Can't get value of symbol \(w)")
            }
        default:
            throw syntaxError()
        }
    }

    mutating func parseKeywordPrimary(_ w: String, _ t: Token) throws(BGPConfigError) -> CE {
        switch w {
        case "true": advance(); return constCE(.bool(true))
        case "false": advance(); return constCE(.bool(false))
        case "defined":
            advance()
            try expectP("(")
            let a = try parseTerm()
            try expectP(")")
            let ra = a.run
            return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in
                switch try ra(&f) {
                case .void: return .bool(false)
                case .path(let p): return .bool(!p.isEmpty)
                case .clist(let c): return .bool(!c.isEmpty)
                default: return .bool(true)
                }
            }, type: .bool, const: nil)
        case "prepend", "add", "delete", "filter":
            advance()
            try expectP("(")
            let a = try parseTerm()
            try expectP(",")
            let b = try parseTerm()
            try expectP(")")
            return try listOp(w, a, b, at: t)
        default:
            break
        }
        if let sa = StaticAttr(rawValue: w) {
            advance()
            if sa == .scope || sa == .weight || sa == .gw_mpls || sa == .onlink || sa == .ifindex {
                // Accessible in BIRD; BGPLite routes carry no such data, values are fixed defaults.
            }
            return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in sa.get(f.route) }, type: sa.type, const: nil, staticAttr: sa)
        }
        if let da = DynAttr(rawValue: w) {
            advance()
            return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in da.get(f.route) }, type: da.type, const: nil)
        }
        if w.hasPrefix("bgp_") || w.hasPrefix("krt_") || w.hasPrefix("ospf_") || w.hasPrefix("babel_") || w == "igp_metric" {
            throw unsupported(t, "Attribute \(w)")
        }
        if ["roa_check", "format", "bt_assert"].contains(w) { throw unsupported(t, w) }
        throw syntaxError()
    }

    func listOp(_ op: String, _ a: CE, _ b: CE, at t: Token) throws(BGPConfigError) -> CE {
        switch op {
        case "prepend":
            try checkStatic(a, "PATH_PREPEND", 1, .path, at: t)
            try checkStatic(b, "PATH_PREPEND", 2, .int, at: t)
            return try binary(a, b, type: .path, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                guard case .path(let p) = x else { throw rtErr("Argument 1 of PATH_PREPEND must be of type bgppath, got type \(x.type.name)") }
                guard case .int(let asn) = y else { throw rtErr("Argument 2 of PATH_PREPEND must be of type int, got type \(y.type.name)") }
                return .path([asn] + p)
            }
        case "add":
            return try binary(a, b, type: a.type, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                switch x {
                case .path: throw rtErr("Can't add to path")
                case .clist(var c):
                    switch y {
                    case .pair(let v), .quad(let v): if !c.contains(v) { c.append(v) }
                    case .ip(let ip) where ip.family == .ipv4: if !c.contains(ip.ipv4Address) { c.append(ip.ipv4Address) }
                    case .set: throw rtErr("Can't add set")
                    case .clist(let o): for v in o where !c.contains(v) { c.append(v) }
                    default: throw rtErr("Can't add non-pair")
                    }
                    return .clist(c)
                default: throw rtErr("Can't add to non-[e|l]clist")
                }
            }
        case "delete", "filter":
            let keep = op == "filter"
            return try binary(a, b, type: a.type, at: t) { (x, y) throws(FilterRuntimeError) -> FilterValue in
                func hit(_ v: UInt32) throws(FilterRuntimeError) -> Bool {
                    switch y {
                    case .int(let i), .pair(let i), .quad(let i): return v == i
                    case .ip(let ip) where ip.family == .ipv4: return v == ip.ipv4Address
                    case .set(let s): return s.containsKey(v)
                    case .clist(let o): return o.contains(v)
                    default: throw rtErr(keep ? "Can't filter non-[e|l]clist" : "Can't delete non-pair")
                    }
                }
                switch x {
                case .path(let p):
                    switch y { case .int, .set: break; default: throw rtErr("Can't delete non-integer (set)") }
                    var out: [UInt32] = []
                    for v in p where try hit(v) == keep { out.append(v) }
                    return .path(out)
                case .clist(let c):
                    var out: [UInt32] = []
                    for v in c where try hit(v) == keep { out.append(v) }
                    return .clist(out)
                default: throw rtErr("Can't \(keep ? "filter" : "delete") from non-[e|l]clist")
                }
            }
        default:
            throw err(t, "internal error")
        }
    }

    // MARK: - Sets and path masks

    /// `[ ]`, `[ set_items ]` or `[ prefix patterns ]`.
    mutating func parseSetConstant() throws(BGPConfigError) -> FilterValue {
        let open = cur
        advance() // [
        if acceptP("]") { return .set(FilterSet(elementType: .void, ranges: [])) }
        // Prefix set if it starts with an address followed by '/'.
        var isPrefixSet = false
        switch cur.kind {
        case .ip4, .ip6: isPrefixSet = isP(at: peek(), "/")
        default: break
        }
        if isPrefixSet {
            var pats: [PrefixSet.Pattern] = []
            var family: IPPrefix.Family? = nil
            repeat {
                let t = cur
                let k = cur.kind
                switch k {
                case .ip4, .ip6: advance()
                default: throw syntaxError(expecting: "IP4 or IP6")
                }
                let net = try finishPrefix(k, at: t)
                var lo = net.length, hi = net.length
                if acceptP("+") { hi = UInt8(net.maxLength) }
                else if acceptP("-") { lo = 0 }
                else if acceptP("{") {
                    guard case .num(let a) = cur.kind else { throw syntaxError(expecting: "NUM") }
                    advance()
                    try expectP(",")
                    guard case .num(let b) = cur.kind else { throw syntaxError(expecting: "NUM") }
                    advance()
                    let close = cur
                    try expectP("}")
                    if a > b || b > UInt32(net.maxLength) { throw err(close, "Invalid prefix pattern range: {\(a), \(b)}") }
                    lo = UInt8(a); hi = UInt8(b)
                }
                if let f = family, f != net.family { throw err(toks[pos - 1], "Mixed IPv4/IPv6 prefixes in prefix set") }
                family = net.family
                pats.append(PrefixSet.Pattern(prefix: net, low: lo, high: hi))
            } while acceptP(",")
            try expectP("]")
            return .prefixSet(PrefixSet(family: family!, patterns: pats))
        }
        var ranges: [(from: FilterValue, to: FilterValue)] = []
        var rects: [(UInt32, UInt32, UInt32, UInt32)] = []
        repeat {
            try parseSetItem(&ranges, &rects)
        } while acceptP(",")
        try expectP("]")
        let elType: FType = ranges.first?.from.type ?? .pair
        _ = open
        return .set(FilterSet(elementType: elType, ranges: ranges, rects: rects))
    }

    mutating func constInt(_ e: CE, at t: Token) throws(BGPConfigError) -> UInt32 {
        guard let v = e.const else { throw err(t, "Constant expression expected") }
        guard case .int(let i) = v else { throw err(t, "Integer expression expected") }
        return i
    }

    /// cnum [DDOT cnum] | '*' inside a pair item; returns a range.
    mutating func parsePairComponent(allowStar: Bool) throws(BGPConfigError) -> (UInt32, UInt32, Bool) {
        if allowStar && acceptP("*") { return (0, 0xFFFF, true) }
        let t = cur
        let a = try constInt(try parseTerm(), at: t)
        if case .ddot = cur.kind {
            advance()
            let t2 = cur
            let b = try constInt(try parseTerm(), at: t2)
            return (a, b, false)
        }
        return (a, a, false)
    }

    mutating func parseSetItem(_ ranges: inout [(from: FilterValue, to: FilterValue)], _ rects: inout [(UInt32, UInt32, UInt32, UInt32)]) throws(BGPConfigError) {
        let t = cur
        if isP("(") {
            // pair_item or '(' term ')' set_atom
            let save = pos
            advance()
            if let k = curKeyword, ["rt", "ro", "unknown", "generic"].contains(k) { throw unsupported(cur, "Extended community sets") }
            let (fa, ta, aStar) = try parsePairComponent(allowStar: true)
            if acceptP(",") {
                let (fb, tb, _) = try parsePairComponent(allowStar: true)
                if isP(",") { throw unsupported(cur, "Large community sets") }
                try expectP(")")
                for v in [fa, ta, fb, tb] where v > 0xFFFF { throw err(t, "Value \(v) out of range (0-65535)") }
                if ta < fa || tb < fb { throw err(t, "From value cannot be higher that To value in pair sets") }
                if case .ddot = cur.kind {
                    // (a,b)..(c,d)
                    advance()
                    try expectP("(")
                    let c = try constInt(try parseTerm(), at: cur); try expectP(",")
                    let d = try constInt(try parseTerm(), at: cur); try expectP(")")
                    ranges.append((.pair(fa << 16 | fb), .pair(c << 16 | d)))
                    return
                }
                if fa == ta || (fb == 0 && tb == 0xFFFF) {
                    // f_new_pair_item: one lexicographic interval
                    ranges.append((.pair(fa << 16 | fb), .pair(ta << 16 | tb)))
                } else {
                    _ = aStar
                    rects.append((fa, ta, fb, tb))   // f_new_pair_set
                }
                return
            }
            // Not a pair: re-parse as a set_atom '(' term ')'.
            pos = save
        }
        let a = try parseSetAtom()
        if case .ddot = cur.kind {
            advance()
            let b = try parseSetAtom()
            ranges.append((a, b))
        } else {
            ranges.append((a, a))
        }
    }

    mutating func parseSetAtom() throws(BGPConfigError) -> FilterValue {
        let t = cur
        switch cur.kind {
        case .num(let n): advance(); return .int(n)
        case .ip4(let a): advance(); return .ip(IPPrefix(ipv4: a, length: 32))
        case .ip6(let h, let l): advance(); return .ip(IPPrefix(family: .ipv6, hi: h, lo: l, length: 128))
        case .rd: throw unsupported(t, "Route distinguisher")
        case .punct(40):
            advance()
            let e = try parseTerm()
            try expectP(")")
            guard let v = e.const else { throw err(t, "Constant expression expected") }
            switch v.type {
            case .int, .pair, .quad, .ip: return v
            default: if v.type.isEnum { return v }; throw err(t, "Set-incompatible type")
            }
        case .word(let w), .quotedSym(let w):
            if symbols[w] == nil, let (ty, v) = birdEnums[w] { advance(); return .enumeration(ty, v) }
            if let s = symbols[w] {
                advance()
                guard case .constant(let v) = s else { throw err(t, "Constant name required") }
                switch v.type {
                case .int, .pair, .quad, .ip: return v
                default: if v.type.isEnum { return v }; throw err(t, "\(w): set-incompatible type")
                }
            }
            throw syntaxError()
        default:
            throw syntaxError()
        }
    }

    mutating func parsePathMask() throws(BGPConfigError) -> PathMask {
        advance() // [=
        var items: [PathMask.Item] = []
        while true {
            let t = cur
            switch cur.kind {
            case .pc:
                advance()
                return PathMask(items: items)
            case .num(let n):
                advance()
                if case .ddot = cur.kind {
                    advance()
                    guard case .num(let m) = cur.kind else { throw syntaxError(expecting: "NUM") }
                    advance()
                    items.append(.range(n, m))
                } else { items.append(.asn(n)) }
            case .punct(42): advance(); items.append(.asterisk)
            case .punct(63): advance(); items.append(.question)
            case .punct(43): throw unsupported(t, "'+' in path masks")
            case .punct(91):
                advance()
                if acceptP("]") { items.append(.set(nil)); continue }
                var ranges: [(from: FilterValue, to: FilterValue)] = []
                var rects: [(UInt32, UInt32, UInt32, UInt32)] = []
                repeat { try parseSetItem(&ranges, &rects) } while acceptP(",")
                try expectP("]")
                if !rects.isEmpty || ranges.contains(where: { $0.from.type != .int }) { throw err(t, "Only integer sets allowed in path mask") }
                items.append(.set(FilterSet(elementType: .int, ranges: ranges)))
            default:
                let e: CE
                if isP("(") { advance(); e = try parseTerm(); try expectP(")") }
                else if let n = curSymbolName, symbols[n] != nil || lookupVar(n) != nil { e = try parsePrimary() }
                else { throw syntaxError() }
                guard let v = e.const, case .int(let asn) = v else { throw unsupported(t, "Non-constant path mask items") }
                items.append(.asn(asn))
            }
        }
    }

    // MARK: - Variables, functions

    func lookupVar(_ name: String) -> (Int, FType)? {
        for s in scopes.reversed() { if let v = s[name] { return (v.slot, v.type) } }
        return nil
    }

    mutating func declareVar(_ name: String, _ type: FType, at t: Token) throws(BGPConfigError) -> Int {
        if scopes.last?[name] != nil { throw err(t, "Variable '\(name)' already defined") }
        if scopes.isEmpty == false, symbols[name] != nil, case .constant? = symbols[name] {}
        let slot = slotCount
        slotCount += 1
        if slotCount >= 0xff { throw err(t, "Too many variables, at most 255 allowed") }
        scopes[scopes.count - 1][name] = (slot, type)
        return slot
    }

    mutating func parseType() throws(BGPConfigError) -> FType {
        let t = cur
        guard let k = curKeyword else { throw syntaxError() }
        if unsupportedTypeKeywords.contains(k) { throw unsupported(t, "Type '\(k)'") }
        guard var ty = typeKeywords[k] else { throw syntaxError() }
        advance()
        if acceptKW("set") {
            switch ty {
            case .int, .pair, .quad, .ip: ty = .set
            case .net: ty = .prefixSet
            default: throw err(t, "You can't create sets of this type.")
            }
        }
        return ty
    }

    mutating func parseFunction() throws(BGPConfigError) {
        advance() // function
        let (name, st) = try expectSymbol()
        if symbols[name] != nil { throw err(st, "Symbol '\(name)' already defined") }
        let fd = FunctionDef(name: name)
        symbols[name] = .function(fd)
        let start = pos
        scopes = [[:]]
        slotCount = 0
        try expectP("(")
        if !acceptP(")") {
            repeat {
                let ty = try parseType()
                let (an, at) = try expectSymbol()
                _ = try declareVar(an, ty, at: at)
                fd.argTypes.append(ty)
            } while acceptP(";")
            try expectP(")")
        }
        let saveName = currentFilterName
        currentFilterName = name
        let body = try parseFunctionBody()
        currentFilterName = saveName
        fd.body = body
        fd.slotCount = slotCount
        symbolFingerprints[name] = digest(fingerprint(from: start))
        scopes = []
    }

    mutating func parseCall(_ fd: FunctionDef, at t: Token) throws(BGPConfigError) -> CE {
        try expectP("(")
        var args: [CE] = []
        if !acceptP(")") {
            repeat { args.append(try parseTerm()) } while acceptP(",")
            try expectP(")")
        }
        if args.count != fd.argTypes.count {
            throw err(t, "Function \(fd.name) takes \(fd.argTypes.count) arguments, got \(args.count)")
        }
        for (i, a) in args.enumerated() { try checkStatic(a, "CALL", i + 1, fd.argTypes[i], at: t) }
        let runs = args.map { $0.run }
        let types = fd.argTypes
        let name = fd.name
        return CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in
            guard let body = fd.body else { throw rtErr("Function \(name) called before it is defined") }
            var newVars = [FilterValue](repeating: .void, count: max(fd.slotCount, runs.count))
            for i in 0..<runs.count {
                let v = try runs[i](&f)
                if v.type != types[i] { throw rtErr("Argument \(i + 1) of CALL must be of type \(types[i].name), got type \(v.type.name)") }
                newVars[i] = v
            }
            swap(&f.vars, &newVars)
            defer { swap(&f.vars, &newVars) }
            switch try body(&f) {
            case .ret(let v): return v
            case .next: return .void
            case .accept: throw FilterRuntimeError(message: "\u{0}accept")
            case .reject: throw FilterRuntimeError(message: "\u{0}reject")
            case .error: throw FilterRuntimeError(message: "\u{0}error")
            }
        }, type: nil, const: nil)
    }

    /// function_body: function_vars '{' cmds '}' (uses current scope/slot state).
    mutating func parseFunctionBody() throws(BGPConfigError) -> CStmt {
        var stmts: [CStmt] = []
        while isTypeKeyword() {
            let ty = try parseType()
            let (n, t) = try expectSymbol()
            let slot = try declareVar(n, ty, at: t)
            try expectP(";")
            stmts.append(initVar(slot, ty))
        }
        try expectP("{")
        stmts.append(contentsOf: try parseCmds())
        try expectP("}")
        return seq(stmts)
    }

    func initVar(_ slot: Int, _ ty: FType) -> CStmt {
        let v = defaultValue(ty)
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in f.vars[slot] = v; return .next }
    }

    func defaultValue(_ ty: FType) -> FilterValue {
        // BIRD initialises variables to an empty f_val (void), except that typed slots compare as such.
        return .void
    }

    mutating func parseFilterBody(name: String, line: Int) throws(BGPConfigError) -> Filter {
        let saveScopes = scopes, saveSlots = slotCount, saveName = currentFilterName
        scopes = [[:]]
        slotCount = 0
        currentFilterName = name
        let start = pos
        let body = try parseFunctionBody()
        let f = Filter(name: name, body: wrapFunctionSignals(body), slotCount: slotCount, sourceLine: line)
        f.fingerprint = fingerprint(from: start)
        scopes = saveScopes; slotCount = saveSlots; currentFilterName = saveName
        return f
    }

    /// accept/reject executed inside a called function terminate the whole filter.
    func wrapFunctionSignals(_ body: @escaping CStmt) -> CStmt {
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
            do throws(FilterRuntimeError) {
                return try body(&f)
            } catch {
                switch error.message {
                case "\u{0}accept": return .accept
                case "\u{0}reject": return .reject
                case "\u{0}error": return .error
                default: throw error
                }
            }
        }
    }

    func seq(_ stmts: [CStmt]) -> CStmt {
        if stmts.count == 1 { return stmts[0] }
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
            for s in stmts {
                let r = try s(&f)
                if case .next = r { continue }
                return r
            }
            return .next
        }
    }

    // MARK: - Statements

    mutating func parseCmds() throws(BGPConfigError) -> [CStmt] {
        var out: [CStmt] = []
        while !isP("}") {
            if case .eof = cur.kind { throw syntaxError() }
            if case .elsecol = cur.kind { break }
            if let s = try parseCmd() { out.append(s) }
            if isCaseItemStart() { break }
        }
        return out
    }

    /// Inside `case`, a statement list ends where the next `item:` starts; we detect NUM/ENUM/'(' followed
    /// eventually by ':' only in the case parser, so here nothing to do except for ELSECOL.
    func isCaseItemStart() -> Bool { inCaseDepth > 0 && looksLikeCaseLabel() }

    var inCaseDepth: Int { caseDepth }

    func looksLikeCaseLabel() -> Bool {
        // label: switch_items ':'  — scan ahead to ':' or ';' on this nesting level.
        var i = pos
        var depth = 0
        while i < toks.count {
            switch toks[i].kind {
            case .punct(40), .punct(91): depth += 1
            case .punct(41), .punct(93): depth -= 1
            case .punct(58): if depth == 0 { return i > pos }
            case .punct(59), .punct(123), .punct(125), .eof: return false
            case .word(let w): if i == pos, isKeywordWord(w), w != "true", w != "false" { return false }
            default: break
            }
            i += 1
        }
        return false
    }

    mutating func parseCmd() throws(BGPConfigError) -> CStmt? {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > ConfigParser.maxNesting { throw err("Expression or block nested too deeply (limit \(ConfigParser.maxNesting))") }
        let t = cur
        if acceptP("{") {
            scopes.append([:])
            let body = try parseCmds()
            scopes.removeLast()
            try expectP("}")
            return seq(body)
        }
        if acceptP(";") { throw syntaxError(t) }
        if isTypeKeyword() {
            let ty = try parseType()
            let (n, nt) = try expectSymbol()
            var initE: CE? = nil
            if acceptP("=") { initE = try parseTerm() }
            try expectP(";")
            let slot = try declareVar(n, ty, at: nt)
            if let e = initE {
                try checkStatic(e, "VAR_INIT", 1, ty, at: nt)
                return assignVar(slot, ty, e, inst: "VAR_INIT")
            }
            return initVar(slot, ty)
        }
        if let kw = curKeyword {
            switch kw {
            case "if":
                advance()
                let c = try parseTerm()
                try checkStatic(c, "CONDITION", 1, .bool, at: cur)
                try expectKW("then")
                guard let thenS = try parseCmd() else { throw syntaxError() }
                var elseS: CStmt? = nil
                if acceptKW("else") { elseS = try parseCmd() }
                let rc = c.run
                return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                    let v = try rc(&f)
                    guard case .bool(let b) = v else { throw rtErr("Argument 1 of CONDITION must be of type bool, got type \(v.type.name)") }
                    if b { return try thenS(&f) }
                    if let e = elseS { return try e(&f) }
                    return .next
                }
            case "accept", "reject", "error":
                advance()
                let prints = try parsePrintList()
                try expectP(";")
                let result: Flow = kw == "accept" ? .accept : (kw == "reject" ? .reject : .error)
                if prints.isEmpty { return { (_: inout FilterFrame) throws(FilterRuntimeError) -> Flow in result } }
                return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                    for p in prints { f.buf += try p(&f).formatted }
                    f.sink(f.buf); f.buf = ""
                    return result
                }
            case "print", "printn":
                advance()
                let prints = try parsePrintList()
                try expectP(";")
                let flush = kw == "print"
                return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                    for p in prints { f.buf += try p(&f).formatted }
                    if flush { f.sink(f.buf); f.buf = "" }
                    return .next
                }
            case "return":
                advance()
                let e = try parseTerm()
                try expectP(";")
                let r = e.run
                return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in .ret(try r(&f)) }
            case "unset":
                advance()
                try expectP("(")
                guard let k = curKeyword, let da = DynAttr(rawValue: k) else { throw syntaxError() }
                advance()
                try expectP(")"); try expectP(";")
                return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in da.unset(&f.route); return .next }
            case "case":
                return try parseCase()
            case "for":
                throw unsupported(t, "for loops")
            case "bt_assert", "bt_check_assign", "bt_test_suite", "bt_test_same":
                throw unsupported(t, kw)
            default:
                if let da = DynAttr(rawValue: kw) { return try parseDynAttrCmd(da, t) }
                if let sa = StaticAttr(rawValue: kw) {
                    advance()
                    guard acceptP("=") else { throw syntaxError() }
                    let e = try parseTerm()
                    try expectP(";")
                    if sa.readonly { throw err(toks[pos - 1], "This static attribute is read-only.") }
                    try checkStatic(e, "RTA_SET", 1, sa.type, at: t)
                    let r = e.run
                    switch sa {
                    case .preference:
                        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                            let v = try r(&f)
                            guard case .int(let p) = v else { throw rtErr("Argument 1 of RTA_SET must be of type int, got type \(v.type.name)") }
                            f.route.preference = p & 0xffff
                            return .next
                        }
                    case .dest:
                        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                            let v = try r(&f)
                            guard case .enumeration(.enumRTD, let d) = v else { throw rtErr("Argument 1 of RTA_SET must be of type enum rtd, got type \(v.type.name)") }
                            guard d >= 2, let rd = RouteDest(rawValue: d) else { throw rtErr("Destination can be changed only to blackhole, unreachable or prohibit") }
                            f.route.dest = rd
                            return .next
                        }
                    default:
                        throw unsupported(t, "Assignment to '\(kw)'")
                    }
                }
                if kw.hasPrefix("bgp_") || kw.hasPrefix("krt_") || kw.hasPrefix("ospf_") || kw.hasPrefix("babel_") || kw == "igp_metric" {
                    throw unsupported(t, "Attribute \(kw)")
                }
                throw syntaxError()
            }
        }
        if let name = curSymbolName {
            if let (slot, ty) = lookupVar(name) {
                advance()
                guard acceptP("=") else { throw syntaxError() }
                let e = try parseTerm()
                try expectP(";")
                try checkStatic(e, "VAR_SET", 1, ty, at: t)
                return assignVar(slot, ty, e, inst: "VAR_SET")
            }
            if let s = symbols[name] {
                advance()
                if case .function(let fd) = s, isP("(") {
                    let call = try parseCall(fd, at: t)
                    try expectP(";")
                    let r = call.run
                    return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in _ = try r(&f); return .next }
                }
                if isP("=") { throw err(t, "Can't assign to symbol \(name)") }
                throw syntaxError()
            }
            throw syntaxError()
        }
        throw syntaxError()
    }

    func assignVar(_ slot: Int, _ ty: FType, _ e: CE, inst: String) -> CStmt {
        let r = e.run
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
            let v = try r(&f)
            if v.type != ty && !(ty == .set && v.type == .set) {
                throw rtErr("Argument 1 of \(inst) must be of type \(ty.name), got type \(v.type.name)")
            }
            f.vars[slot] = v
            return .next
        }
    }

    mutating func parsePrintList() throws(BGPConfigError) -> [CExpr] {
        var out: [CExpr] = []
        while !isP(";") {
            out.append(try parseTerm().run)
            if !acceptP(",") { break }
        }
        return out
    }

    mutating func parseDynAttrCmd(_ da: DynAttr, _ t: Token) throws(BGPConfigError) -> CStmt {
        advance()
        if acceptP("=") {
            let e = try parseTerm()
            try expectP(";")
            try checkStatic(e, "EA_SET", 1, da.type, at: toks[pos - 1])
            let r = e.run
            return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                try da.set(&f.route, try r(&f))
                return .next
            }
        }
        try expectP(".")
        guard let m = curKeyword else { throw syntaxError() }
        advance()
        if m == "empty" {
            try expectP(";")
            let v: FilterValue
            switch da.type {
            case .path: v = .path([])
            case .clist: v = .clist([])
            default: throw err(t, "Can't empty that attribute")
            }
            return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in try da.set(&f.route, v); return .next }
        }
        guard ["prepend", "add", "delete", "filter"].contains(m) else { throw syntaxError(toks[pos - 1]) }
        try expectP("(")
        let arg = try parseTerm()
        try expectP(")")
        try expectP(";")
        let getter = CE(run: { (f: inout FilterFrame) throws(FilterRuntimeError) -> FilterValue in da.get(f.route) }, type: da.type, const: nil)
        let op = try listOp(m, getter, arg, at: t)
        let r = op.run
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
            try da.set(&f.route, try r(&f))
            return .next
        }
    }

    mutating func parseCase() throws(BGPConfigError) -> CStmt {
        advance() // case
        let subject = try parseTerm()
        try expectP("{")
        var arms: [(ranges: [(FilterValue, FilterValue)], rects: [(UInt32, UInt32, UInt32, UInt32)], body: CStmt)] = []
        var elseBody: CStmt? = nil
        caseDepth += 1
        defer { caseDepth -= 1 }
        while !acceptP("}") {
            if case .elsecol = cur.kind {
                advance()
                scopes.append([:])
                elseBody = seq(try parseCmds())
                scopes.removeLast()
                continue
            }
            var ranges: [(from: FilterValue, to: FilterValue)] = []
            var rects: [(UInt32, UInt32, UInt32, UInt32)] = []
            repeat { try parseSetItem(&ranges, &rects) } while acceptP(",")
            try expectP(":")
            scopes.append([:])
            let body = seq(try parseCmds())
            scopes.removeLast()
            arms.append((ranges.map { ($0.from, $0.to) }, rects, body))
        }
        let r = subject.run
        let sets = arms.map { FilterSet(elementType: $0.ranges.first?.0.type ?? .pair, ranges: $0.ranges.map { (from: $0.0, to: $0.1) }, rects: $0.rects) }
        let bodies = arms.map { $0.body }
        return { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
            let v = try r(&f)
            for i in 0..<sets.count where sets[i].contains(v) { return try bodies[i](&f) }
            if let e = elseBody { return try e(&f) }
            return .next
        }
    }
}

