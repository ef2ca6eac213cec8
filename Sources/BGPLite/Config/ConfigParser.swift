// Recursive-descent parser for bgp.conf, mirroring BIRD 2.0.12's grammar (conf/confbase.Y, nest/config.Y,
// proto/*/config.Y, sysdep/unix/*.Y) and post-config checks. Unsupported BIRD constructs are errors.

final class FunctionDef {
    let name: String
    var argTypes: [FType] = []
    var body: CStmt?
    var slotCount = 0
    init(name: String) { self.name = name }
}

enum Sym {
    case constant(FilterValue)
    case filter(Filter)
    case function(FunctionDef)
    case proto(String)          // protocol type
    case template(String)       // protocol type
    case table(String)
}

struct ConfigParser {
    var toks: [Token] = []
    var files: [String] = []
    var pos = 0
    let fileName: String
    let text: String
    let includeLoader: ((String) throws -> String)?
    var config = BGPConfig()
    var symbols: [String: Sym] = ["master4": .table("master4"), "master6": .table("master6")]
    var nameCounters: [String: Int] = [:]
    var bgpTemplates: [String: BGPProtocolConfig] = [:]
    var bgpByName: [String: BGPProtocolConfig] = [:]
    var hasDevice = false
    var kernelTables: [String: String] = [:]
    // Filter compilation state.
    var scopes: [[String: (slot: Int, type: FType)]] = []
    var slotCount = 0
    var currentFilterName = ""
    var caseDepth = 0
    var nesting = 0
    /// Per `define`/`function`/`filter` name: a digest of its fingerprint (see `fingerprint(from:)`).
    var symbolFingerprints: [String: String] = [:]

    init(text: String, fileName: String, includeLoader: ((String) throws -> String)?) {
        self.text = text; self.fileName = fileName; self.includeLoader = includeLoader
    }

    // MARK: - Token helpers

    var cur: Token { toks[pos] }
    func peek(_ k: Int = 1) -> Token { toks[min(pos + k, toks.count - 1)] }
    mutating func advance() { if pos < toks.count - 1 { pos += 1 } }

    func err(_ t: Token, _ msg: String) -> BGPConfigError {
        BGPConfigError(file: files[t.file], line: t.line, column: t.col, message: msg)
    }
    func err(_ msg: String) -> BGPConfigError { err(cur, msg) }

    func describe(_ t: Token) -> String {
        switch t.kind {
        case .num: return "NUM"
        case .ip4: return "IP4"
        case .ip6: return "IP6"
        case .text: return "TEXT"
        case .word(let w):
            if isKeywordWord(w) { return w.uppercased() }
            if birdEnums[w] != nil { return "ENUM" }
            return symbols[w] != nil ? "CF_SYM_KNOWN" : "CF_SYM_UNDEFINED"
        case .quotedSym(let w): return symbols[w] != nil ? "CF_SYM_KNOWN" : "CF_SYM_UNDEFINED"
        case .punct(let c): return "'\(Character(Unicode.Scalar(c)))'"
        case .ddot: return "DDOT"
        case .neq: return "NEQ"
        case .nma: return "NMA"
        case .leq: return "LEQ"
        case .geq: return "GEQ"
        case .and: return "AND"
        case .or: return "OR"
        case .po: return "PO"
        case .pc: return "PC"
        case .elsecol: return "ELSECOL"
        case .rd: return "VPN_RD"
        case .eof: return "END"
        }
    }

    func syntaxError(_ t: Token? = nil, expecting: String? = nil) -> BGPConfigError {
        let t = t ?? cur
        var m = "syntax error, unexpected \(describe(t))"
        if let e = expecting { m += ", expecting \(e)" }
        return err(t, m)
    }

    func isKeywordWord(_ w: String) -> Bool { birdKeywords.contains(w) && symbols[w] == nil }

    func isKW(_ w: String) -> Bool {
        if case .word(let x) = cur.kind, x == w, isKeywordWord(w) { return true }
        return false
    }
    func isKW(at t: Token, _ w: String) -> Bool {
        if case .word(let x) = t.kind, x == w, isKeywordWord(w) { return true }
        return false
    }
    mutating func acceptKW(_ w: String) -> Bool { if isKW(w) { advance(); return true }; return false }
    mutating func expectKW(_ w: String) throws(BGPConfigError) {
        if !acceptKW(w) { throw syntaxError(expecting: w.uppercased()) }
    }
    var curKeyword: String? {
        if case .word(let x) = cur.kind, isKeywordWord(x) { return x }
        return nil
    }

    func isP(_ c: Character) -> Bool {
        if case .punct(let x) = cur.kind, x == c.asciiValue! { return true }
        return false
    }
    func isP(at t: Token, _ c: Character) -> Bool {
        if case .punct(let x) = t.kind, x == c.asciiValue! { return true }
        return false
    }
    mutating func acceptP(_ c: Character) -> Bool { if isP(c) { advance(); return true }; return false }
    mutating func expectP(_ c: Character) throws(BGPConfigError) {
        if !acceptP(c) { throw syntaxError(expecting: "'\(c)'") }
    }

    /// A symbol token (non-keyword word or 'quoted'), defined or not.
    var curSymbolName: String? {
        switch cur.kind {
        case .word(let w): return (isKeywordWord(w) || birdEnums[w] != nil && symbols[w] == nil) ? nil : w
        case .quotedSym(let w): return w
        default: return nil
        }
    }

    /// BIRD's `symbol` nonterminal: also accepts the keywords ROLE, PEER, PROVIDER, CUSTOMER, RS_SERVER,
    /// RS_CLIENT (proto/bgp/config.Y workaround).
    var curDefinableSymbolName: String? {
        if let n = curSymbolName { return n }
        if case .word(let w) = cur.kind, ["role", "peer", "provider", "customer", "rs_server", "rs_client"].contains(w) { return w }
        return nil
    }

    mutating func expectSymbol() throws(BGPConfigError) -> (String, Token) {
        guard let n = curDefinableSymbolName else { throw syntaxError() }
        let t = cur
        advance()
        return (n, t)
    }

    mutating func defineSymbol(_ name: String, _ sym: Sym, at t: Token) throws(BGPConfigError) {
        if symbols[name] != nil { throw err(t, "Symbol '\(name)' already defined") }
        symbols[name] = sym
    }

    func unsupported(_ t: Token, _ what: String) -> BGPConfigError { err(t, "\(what) is not supported by BGPLite") }

    /// The tokens from `start` up to the current one as text, with the fingerprints of the defines
    /// and functions they name spliced in: two filters with equal fingerprints behave alike (BIRD's
    /// f_same), so `configure` re-evaluates routes only when this text changed. Positions are left
    /// out, so moving a filter or adding a comment changes nothing.
    /// Referenced definitions are spliced in as a digest (length and hash; one process compares
    /// configurations, so the per-process hash seed is the same), so a chain of functions calling
    /// each other does not grow the text exponentially.
    func fingerprint(from start: Int) -> String {
        var s = ""
        for t in toks[start..<max(start, pos)] {
            s += "\(t.kind) "
            switch t.kind {
            case .word(let w), .quotedSym(let w):
                if let f = symbolFingerprints[w] { s += "{\(f)} " }
            default:
                break
            }
        }
        return s
    }

    func digest(_ fingerprint: String) -> String {
        var h = Hasher()
        h.combine(fingerprint)
        return "\(fingerprint.utf8.count)#\(h.finalize())"
    }

    // MARK: - Basic values

    /// BIRD `expr`: NUM | '(' term ')' | integer constant symbol.
    mutating func parseExpr() throws(BGPConfigError) -> UInt32 {
        let t = cur
        switch cur.kind {
        case .num(let n): advance(); return n
        case .punct(40):
            advance()
            let e = try parseTerm()
            try expectP(")")
            guard let v = e.const else { throw err(t, "Constant expression expected") }
            guard case .int(let i) = v else { throw err(t, "Number constant expected") }
            return i
        default:
            if let n = curSymbolName, let s = symbols[n] {
                advance()
                if case .constant(.int(let i)) = s { return i }
                throw err(t, "Number constant expected")
            }
            throw syntaxError()
        }
    }

    mutating func parseExprInt() throws(BGPConfigError) -> Int { Int(try parseExpr()) }

    /// BIRD `bool`: expr | on | yes | off | no | (empty = yes).
    mutating func parseBool() throws(BGPConfigError) -> Bool {
        if acceptKW("on") || acceptKW("yes") { return true }
        if acceptKW("off") || acceptKW("no") { return false }
        if isP(";") { return true }
        return try parseExpr() != 0
    }

    /// expr_us: expr (s|ms|us) → microseconds.
    mutating func parseTimeUS() throws(BGPConfigError) -> Int {
        let v = try parseExprInt()
        if acceptKW("s") { return v * 1_000_000 }
        if acceptKW("ms") { return v * 1_000 }
        if acceptKW("us") { return v }
        throw syntaxError()
    }

    mutating func parseText() throws(BGPConfigError) -> String {
        if case .text(let s) = cur.kind { advance(); return s }
        if let n = curSymbolName, let s = symbols[n] {
            let t = cur
            advance()
            if case .constant(.string(let str)) = s { return str }
            throw err(t, "String constant expected")
        }
        throw syntaxError(expecting: "TEXT")
    }

    /// ipa: IP4 | IP6 | IP constant. Returns a host prefix.
    mutating func parseIPA() throws(BGPConfigError) -> IPPrefix {
        switch cur.kind {
        case .ip4(let a): advance(); return IPPrefix(ipv4: a, length: 32)
        case .ip6(let h, let l): advance(); return IPPrefix(family: .ipv6, hi: h, lo: l, length: 128)
        default:
            if let n = curSymbolName, let s = symbols[n] {
                let t = cur
                advance()
                if case .constant(.ip(let a)) = s { return a }
                throw err(t, "IP address constant expected")
            }
            throw syntaxError()
        }
    }

    /// ipa_scope: optional '%' symbol (interface).
    mutating func parseIPAScope() throws(BGPConfigError) -> String? {
        if acceptP("%") {
            guard case .word(let w) = cur.kind else {
                if case .quotedSym(let q) = cur.kind { advance(); return q }
                throw syntaxError()
            }
            advance()
            return w
        }
        return nil
    }

    /// Prefix literal after an address: '/' NUM with BIRD's validation.
    mutating func finishPrefix(_ addr: TokKind, at t: Token) throws(BGPConfigError) -> IPPrefix {
        try expectP("/")
        let lt = cur
        guard case .num(let len) = cur.kind else { throw syntaxError(expecting: "NUM") }
        advance()
        switch addr {
        case .ip4(let a):
            if len > 32 { throw err(lt, "Invalid prefix length \(len)") }
            let p = IPPrefix(ipv4: a, length: Int(len))
            if p.ipv4Address != a {
                let s = IPPrefix(ipv4: a, length: 32).addressString
                throw err(lt, "Invalid IPv4 prefix \(s)/\(len), maybe you wanted \(p.addressString)/\(len)")
            }
            return p
        case .ip6(let h, let l):
            if len > 128 { throw err(lt, "Invalid prefix length \(len)") }
            let p = IPPrefix(family: .ipv6, hi: h, lo: l, length: Int(len))
            if p.hi != h || p.lo != l {
                let s = IPPrefix(family: .ipv6, hi: h, lo: l, length: 128).addressString
                throw err(lt, "Invalid IPv6 prefix \(s)/\(len), maybe you wanted \(p.addressString)/\(len)")
            }
            return p
        default:
            throw syntaxError(t)
        }
    }

    /// net_any restricted to IP networks (literal or constant).
    mutating func parseNet() throws(BGPConfigError) -> IPPrefix {
        let t = cur
        switch cur.kind {
        case .ip4, .ip6:
            let k = cur.kind
            advance()
            return try finishPrefix(k, at: t)
        case .rd: throw unsupported(t, "VPN network")
        default:
            if let n = curSymbolName, let s = symbols[n] {
                advance()
                if case .constant(.net(let p)) = s { return p }
                throw err(t, "Network constant expected")
            }
            throw syntaxError()
        }
    }

    // MARK: - Top level

    mutating func parseConfig() throws(BGPConfigError) -> BGPConfig {
        var lx = Lexer(includeLoader: includeLoader)
        do {
            try lx.tokenize(text: text, fileName: fileName)
        } catch {
            throw error
        }
        toks = lx.tokens
        files = lx.files
        while true {
            if case .eof = cur.kind { break }
            try parseTopLevel()
        }
        if config.protocols.isEmpty {
            throw BGPConfigError(file: files[cur.file], line: cur.line, column: 0, message: "No protocol is specified in the config file")
        }
        for (k, v) in symbols { if case .constant(let c) = v { config.defines[k] = c } }
        return config
    }

    mutating func parseTopLevel() throws(BGPConfigError) {
        let t = cur
        if acceptP(";") { return }
        guard let kw = curKeyword else { throw syntaxError() }
        switch kw {
        case "define":
            advance()
            let (name, st) = try expectSymbol()
            try expectP("=")
            let start = pos
            let e = try parseTerm()
            guard let v = e.const else { throw err(st, "Constant expression expected in define") }
            let fp = fingerprint(from: start)
            try expectP(";")
            try defineSymbol(name, .constant(v), at: st)
            symbolFingerprints[name] = digest(fp)
        case "router":
            advance()
            try expectKW("id")
            if isKW("from") { throw unsupported(cur, "router id from") }
            config.routerID = try parseIDVal()
            try expectP(";")
        case "log":
            advance()
            var target: String
            if acceptKW("syslog") {
                target = "syslog"
                if acceptKW("name") { _ = try parseText() }
            } else if acceptKW("stderr") {
                target = "stderr"
            } else {
                target = try parseText()
                if case .text = cur.kind {} else if !isKW("all") && !isP("{") {
                    _ = try parseExpr(); _ = try parseText()
                }
            }
            if acceptKW("all") {
            } else if acceptP("{") {
                repeat {
                    guard let c = curKeyword, ["debug", "trace", "info", "remote", "warning", "error", "auth", "fatal", "bug"].contains(c) else { throw syntaxError() }
                    advance()
                } while acceptP(",")
                try expectP("}")
            } else { throw syntaxError() }
            try expectP(";")
            config.logTargets.append(target)
            config.logLines.append(t.line)
        case "debug":
            advance()
            if acceptKW("protocols") {
                config.debugProtocols = try parseDebugMask()
            } else if acceptKW("channels") {
                _ = try parseDebugMask()
            } else if acceptKW("commands") {
                _ = try parseExpr()
            } else if isKW("latency") {
                throw unsupported(cur, "debug latency")
            } else { throw syntaxError() }
            try expectP(";")
        case "graceful":
            advance()
            try expectKW("restart"); try expectKW("wait")
            config.gracefulRestartWait = try parseExprInt()
            try expectP(";")
        case "protocol", "template":
            try parseProtocol()
        case "filter":
            advance()
            let (name, st) = try expectSymbol()
            if symbols[name] != nil { throw err(st, "Symbol '\(name)' already defined") }
            let f = try parseFilterBody(name: name, line: st.line)
            symbols[name] = .filter(f)
            symbolFingerprints[name] = digest(f.fingerprint)
            config.filters[name] = f
        case "function":
            try parseFunction()
        case "ipv4", "ipv6", "vpn4", "vpn6", "roa4", "roa6", "flow4", "flow6", "mpls":
            throw unsupported(t, "Routing table definition (only master4/master6 exist)")
        default:
            throw unsupported(t, "Global option '\(kw)'")
        }
    }

    mutating func parseIDVal() throws(BGPConfigError) -> UInt32 {
        let t = cur
        switch cur.kind {
        case .num(let n): advance(); return n
        case .ip4(let a): advance(); return a
        case .punct(40): return try parseExpr()
        default:
            if let n = curSymbolName, let s = symbols[n] {
                advance()
                switch s {
                case .constant(.int(let i)), .constant(.quad(let i)): return i
                case .constant(.ip(let a)) where a.family == .ipv4: return a.ipv4Address
                default: throw err(t, "Number or IPv4 address constant expected")
                }
            }
            throw syntaxError()
        }
    }

    static let debugClasses: Set<String> = ["states", "routes", "filters", "interfaces", "events", "packets"]

    /// `all | off | { class, ... }` -> the set of classes.
    mutating func parseDebugMask() throws(BGPConfigError) -> Set<String> {
        if acceptKW("all") { return ConfigParser.debugClasses }
        if acceptKW("off") { return [] }
        try expectP("{")
        var set: Set<String> = []
        repeat {
            guard let c = curKeyword, ConfigParser.debugClasses.contains(c) else { throw syntaxError() }
            set.insert(c)
            advance()
        } while acceptP(",")
        try expectP("}")
        return set
    }

    // MARK: - Protocols

    /// Common proto_item. Returns false if the current token does not start one.
    mutating func parseProtoItem(_ c: inout CommonProtocolOptions) throws(BGPConfigError) -> Bool {
        if acceptKW("disabled") { c.disabled = try parseBool(); return true }
        if acceptKW("debug") { c.debugClasses = try parseDebugMask(); c.debug = true; return true }
        if acceptKW("description") { c.description = try parseText(); return true }
        if isKW("router") && isKW(at: peek(), "id") { advance(); advance(); _ = try parseIDVal(); return true }
        if isKW("mrtdump") { throw unsupported(cur, "mrtdump") }
        if isKW("vrf") { throw unsupported(cur, "vrf") }
        return false
    }

    mutating func autoName(_ type: String) -> String {
        while true {
            let n = (nameCounters[type] ?? 0) + 1
            nameCounters[type] = n
            let name = "\(type)\(n)"
            if symbols[name] == nil { return name }
        }
    }

    mutating func parseProtocol() throws(BGPConfigError) {
        let startTok = cur
        let isTemplate = isKW("template")
        advance()
        guard let type = curKeyword else { throw syntaxError() }
        let typeTok = cur
        let supported = ["device", "direct", "static", "kernel", "bgp", "bfd"]
        if !supported.contains(type) {
            if ["ospf", "rip", "pipe", "babel", "rpki", "radv", "mrt", "perf"].contains(type) {
                throw unsupported(typeTok, "protocol \(type)")
            }
            throw syntaxError()
        }
        advance()
        if isTemplate && type != "bgp" { throw unsupported(typeTok, "template \(type) (only bgp templates)") }
        // proto_name
        var name: String
        var fromName: String? = nil
        var fromTok = cur
        if isKW("from") {
            advance()
            fromTok = cur
            let (n, _) = try expectSymbol()
            fromName = n
            name = autoName(type)
        } else if let n = curDefinableSymbolName {
            let nt = cur
            advance()
            if symbols[n] != nil { throw err(nt, "Symbol '\(n)' already defined") }
            name = n
            if acceptKW("from") {
                fromTok = cur
                let (f, _) = try expectSymbol()
                fromName = f
            }
        } else {
            name = autoName(type)
        }
        symbols[name] = isTemplate ? .template(type) : .proto(type)
        var common = CommonProtocolOptions()
        common.sourceLine = startTok.line
        if let f = fromName {
            guard let s = symbols[f] else { throw syntaxError(fromTok) }
            switch s {
            case .template(let t), .proto(let t):
                if t != type { throw err(fromTok, "Can't copy configuration from a different protocol type") }
            default: throw err(fromTok, "Template or protocol name expected")
            }
            if type != "bgp" { throw unsupported(fromTok, "'from' for protocol \(type)") }
        }
        try expectP("{")
        switch type {
        case "device":
            if hasDevice && !isTemplate { /* reported at end like BIRD */ }
            var d = DeviceProtocolConfig(name: name, common: common)
            while !isP("}") {
                if try parseProtoItem(&d.common) {
                } else if acceptKW("scan") {
                    try expectKW("time"); d.scanTime = try parseExprInt()
                } else if acceptKW("interface") {
                    repeat { d.interfaces.append(try parseText()) } while acceptP(",")
                    if isP("{") { throw unsupported(cur, "device interface options") }
                } else if !isP(";") { throw syntaxError() }
                try expectP(";")
            }
            let end = cur
            advance()
            if hasDevice { throw err(end, "Kernel device protocol already defined") }
            hasDevice = true
            config.protocols.append(.device(d))
        case "direct":
            var d = DirectProtocolConfig(name: name, common: common)
            while !isP("}") {
                if try parseProtoItem(&d.common) {
                } else if let fam = try parseChannelStart() {
                    if d.channels.contains(where: { $0.family == fam.0 }) { throw err(fam.1, "Multiple \(fam.0 == .ipv4 ? "ipv4" : "ipv6") channels") }
                    var ch = ChannelConfig(family: fam.0)
                    try parseChannelBody(&ch, bgp: false)
                    d.channels.append(ch)
                } else if acceptKW("interface") {
                    repeat {
                        let neg = acceptP("-")
                        guard case .text(let s) = cur.kind else { throw unsupported(cur, "interface prefix patterns") }
                        advance()
                        if case .ip4 = cur.kind { throw unsupported(cur, "interface prefix patterns") }
                        if case .ip6 = cur.kind { throw unsupported(cur, "interface prefix patterns") }
                        d.interfaces.append(neg ? "-" + s : s)
                    } while acceptP(",")
                } else if acceptKW("check") {
                    try expectKW("link"); d.checkLink = try parseBool()
                } else if !isP(";") { throw syntaxError() }
                try expectP(";")
            }
            advance()
            config.protocols.append(.direct(d))
        case "static":
            try parseStatic(name: name, common: common)
        case "kernel":
            try parseKernel(name: name, common: common)
        case "bfd":
            try parseBFD(name: name, common: common)
        case "bgp":
            var b: BGPProtocolConfig
            var inherited: Set<UInt8> = []
            if let f = fromName {
                if let tb = bgpTemplates[f] ?? bgpByName[f] { b = tb } else { b = BGPProtocolConfig(name: name) }
                b.name = name
                inherited = Set(b.channels.map { $0.family.rawValue })
            } else {
                b = BGPProtocolConfig(name: name)
            }
            b.isTemplate = isTemplate
            b.sourceLine = startTok.line
            try parseBGP(&b, common: &common, inherited: inherited)
            if isTemplate { bgpTemplates[name] = b } else {
                bgpByName[name] = b
                config.protocols.append(.bgp(b))
            }
        default:
            throw syntaxError(typeTok)
        }
    }

    /// channel_start: ipv4 | ipv6; other net types are errors. Returns nil if not a channel.
    mutating func parseChannelStart() throws(BGPConfigError) -> (IPPrefix.Family, Token)? {
        let t = cur
        if acceptKW("ipv4") {
            if isKW("multicast") || isKW("mpls") { throw unsupported(cur, "ipv4 \(curKeyword!) channel") }
            return (.ipv4, t)
        }
        if acceptKW("ipv6") {
            if isKW("multicast") || isKW("mpls") || isKW("sadr") { throw unsupported(cur, "ipv6 \(curKeyword!) channel") }
            return (.ipv6, t)
        }
        if let k = curKeyword, ["vpn4", "vpn6", "roa4", "roa6", "flow4", "flow6", "mpls"].contains(k) {
            throw unsupported(t, "\(k) channel")
        }
        return nil
    }

    mutating func parseLimit() throws(BGPConfigError) -> Limit? {
        if acceptKW("off") { return nil }
        let n = try parseExprInt()
        var action = LimitAction.disable
        if acceptKW("action") {
            if acceptKW("warn") { action = .warn }
            else if acceptKW("block") { action = .block }
            else if acceptKW("restart") { action = .restart }
            else if acceptKW("disable") { action = .disable }
            else { throw syntaxError() }
        }
        return Limit(count: n, action: action)
    }

    mutating func parseImExport() throws(BGPConfigError) -> Policy {
        if acceptKW("all") { return .all }
        if acceptKW("none") { return .none }
        if isKW("where") {
            let t = cur
            advance()
            let start = pos
            let e = try parseTerm()
            try checkStatic(e, "CONDITION", 1, .bool)
            let r = e.run
            let body: CStmt = { (f: inout FilterFrame) throws(FilterRuntimeError) -> Flow in
                let v = try r(&f)
                guard case .bool(let b) = v else { throw rtErr("Argument 1 of CONDITION must be of type bool, got type \(v.type.name)") }
                return b ? .accept : .reject
            }
            let f = Filter(name: "(unnamed)", body: body, slotCount: 0, sourceLine: t.line)
            f.fingerprint = "where " + fingerprint(from: start)
            return .filter(f)
        }
        if acceptKW("filter") {
            if let n = curSymbolName, let s = symbols[n] {
                let t = cur
                advance()
                if case .filter(let f) = s { return .filter(f) }
                throw err(t, "Filter name required")
            }
            if isP("{") || isTypeKeyword() {
                return .filter(try parseFilterBody(name: "(unnamed)", line: cur.line))
            }
            throw syntaxError()
        }
        throw syntaxError()
    }

    /// Generic + (optionally) BGP channel options, `[{ ... }]`.
    mutating func parseChannelBody(_ ch: inout ChannelConfig, bgp: Bool) throws(BGPConfigError) {
        guard acceptP("{") else { return }
        while !acceptP("}") {
            let t = cur
            if acceptKW("table") {
                let (n, nt) = try expectSymbol()
                guard let s = symbols[n], case .table(let tn) = s else { throw err(nt, "Table name required") }
                if (tn == "master4") != (ch.family == .ipv4) { throw err(nt, "Incompatible table type") }
                ch.table = tn
            } else if acceptKW("import") {
                if acceptKW("limit") { ch.importLimit = try parseLimit() }
                else if acceptKW("keep") { try expectKW("filtered"); ch.importKeepFiltered = try parseBool() }
                else if bgp && acceptKW("table") {
                    if try parseBool() { throw unsupported(t, "import table") }
                } else { ch.importPolicy = try parseImExport() }
            } else if acceptKW("export") {
                if acceptKW("limit") { ch.exportLimit = try parseLimit() }
                else if bgp && acceptKW("table") {
                    if try parseBool() { throw unsupported(t, "export table") }
                } else { ch.exportPolicy = try parseImExport() }
            } else if acceptKW("receive") {
                try expectKW("limit"); ch.receiveLimit = try parseLimit()
            } else if acceptKW("preference") {
                let v = try parseExprInt()
                if v > 0xFFFF { throw err(t, "Value \(v) out of range (0-65535)") }
                ch.preference = v
            } else if acceptKW("debug") {
                _ = try parseDebugMask()   // channel debugging: BGPLite has no per-channel messages
            } else if isKW("rpki") {
                throw unsupported(t, "rpki reload")
            } else if bgp && acceptKW("next") {
                try expectKW("hop")
                if acceptKW("address") { ch.nextHopAddress = try parseIPA() }
                else if acceptKW("self") { ch.nextHopSelf = try parseNH() }
                else if acceptKW("keep") { ch.nextHopKeep = try parseNH() }
                else if isKW("prefer") { throw unsupported(t, "next hop prefer") }
                else { throw syntaxError() }
            } else if bgp && acceptKW("gateway") {
                if acceptKW("direct") { ch.gateway = .direct }
                else if acceptKW("recursive") { ch.gateway = .recursive }
                else { throw syntaxError() }
            } else if bgp && acceptKW("graceful") {
                try expectKW("restart"); ch.gracefulRestart = try parseBool()
            } else if bgp && acceptKW("mandatory") {
                _ = try parseBool()
            } else if bgp && acceptKW("missing") {
                try expectKW("lladdr")
                if !(acceptKW("self") || acceptKW("drop") || acceptKW("ignore")) { throw syntaxError() }
            } else if bgp && isKW("add") {
                throw unsupported(t, "add paths (ADD-PATH)")
            } else if bgp, let k = curKeyword, ["secondary", "validate", "long", "extended", "aigp", "cost", "igp", "base"].contains(k) {
                throw unsupported(t, "channel option '\(k)'")
            } else if isP(";") {
            } else {
                throw syntaxError()
            }
            try expectP(";")
        }
    }

    mutating func parseNH() throws(BGPConfigError) -> NextHopSelf {
        if acceptKW("ibgp") { return .ibgp }
        if acceptKW("ebgp") { return .ebgp }
        return try parseBool() ? .on : .off
    }

    mutating func parseStatic(name: String, common: CommonProtocolOptions) throws(BGPConfigError) {
        var c = common
        var channel: ChannelConfig? = nil
        var routes: [(prefix: IPPrefix, kind: StaticRouteKind, tok: Token)] = []
        while !isP("}") {
            let t = cur
            if try parseProtoItem(&c) {
            } else if let fam = try parseChannelStart() {
                if let ch = channel {
                    throw err(fam.1, ch.family == fam.0 ? "Multiple \(fam.0 == .ipv4 ? "ipv4" : "ipv6") channels" : "Different channel type")
                }
                var ch = ChannelConfig(family: fam.0)
                try parseChannelBody(&ch, bgp: false)
                channel = ch
            } else if acceptKW("check") {
                try expectKW("link"); _ = try parseBool()
            } else if isKW("igp") {
                throw unsupported(t, "igp table")
            } else if acceptKW("route") {
                let net = try parseNet()
                var kind: StaticRouteKind
                if acceptKW("via") {
                    if case .text(let s) = cur.kind { advance(); kind = .viaInterface(s) }
                    else {
                        let a = try parseIPA()
                        if let _ = try parseIPAScope() { throw unsupported(t, "via address%iface") }
                        kind = .via(a)
                    }
                    if isKW("via") { throw unsupported(cur, "multipath static routes") }
                    if let k = curKeyword, ["mpls", "onlink", "weight", "bfd"].contains(k) { throw unsupported(cur, "next hop option '\(k)'") }
                } else if acceptKW("blackhole") || acceptKW("drop") { kind = .blackhole }
                else if acceptKW("unreachable") || acceptKW("reject") { kind = .unreachable }
                else if acceptKW("prohibit") { kind = .prohibit }
                else if isKW("recursive") { throw unsupported(cur, "recursive static routes") }
                else if isP(";") || isP("{") { throw err(cur, "Unexpected or missing nexthop/type") }
                else { throw syntaxError() }
                if isP("{") { throw unsupported(cur, "static route attribute block") }
                routes.append((net, kind, t))
            } else if !isP(";") { throw syntaxError() }
            try expectP(";")
        }
        let end = cur
        advance()
        guard let ch = channel else { throw err(end, "Channel not specified") }
        for r in routes where r.prefix.family != ch.family {
            throw err(end, "Route \(r.prefix) incompatible with channel type")
        }
        var s = StaticProtocolConfig(name: name, common: c, family: ch.family, channel: ch)
        s.routes = routes.map { ($0.prefix, $0.kind) }
        config.protocols.append(.static_(s))
    }

    mutating func parseKernel(name: String, common: CommonProtocolOptions) throws(BGPConfigError) {
        var k = KernelProtocolConfig(name: name, common: common)
        while !isP("}") {
            let t = cur
            if try parseProtoItem(&k.common) {
            } else if let fam = try parseChannelStart() {
                if let ch = k.channels.first {
                    throw err(fam.1, ch.family == fam.0 ? "Multiple \(fam.0 == .ipv4 ? "ipv4" : "ipv6") channels" : "Different channel type")
                }
                var ch = ChannelConfig(family: fam.0)
                try parseChannelBody(&ch, bgp: false)
                k.channels.append(ch)
            } else if acceptKW("persist") { k.persist = try parseBool() }
            else if acceptKW("scan") { try expectKW("time"); k.scanTime = try parseExprInt() }
            else if acceptKW("learn") { k.learn = try parseBool() }
            else if acceptKW("graceful") { try expectKW("restart"); k.gracefulRestart = try parseBool() }
            else if acceptKW("merge") {
                try expectKW("paths")
                let on = try parseBool()
                var lim = 16
                if acceptKW("limit") {
                    lim = try parseExprInt()
                    if lim <= 0 || lim > 255 { throw err(t, "Merge paths limit must be in range 1-255") }
                }
                k.mergePaths = on ? lim : nil
            } else if acceptKW("kernel") { try expectKW("table"); k.kernelTable = try parseExprInt() }
            else if acceptKW("metric") { _ = try parseExpr() }
            else if isKW("netlink") { throw unsupported(t, "netlink rx buffer") }
            else if !isP(";") { throw syntaxError() }
            try expectP(";")
        }
        let end = cur
        advance()
        guard let ch = k.channels.first else { throw err(end, "Channel not specified") }
        if let other = kernelTables[ch.table] {
            throw err(end, "Kernel syncer (\(other)) already attached to table \(ch.table)")
        }
        kernelTables[ch.table] = name
        config.protocols.append(.kernel(k))
    }

    mutating func parseBFDOptionItem(_ o: inout BFDOptions) throws(BGPConfigError) {
        let t = cur
        if acceptKW("interval") { let v = try parseTimeUS(); o.minRxInterval = v; o.minTxInterval = v }
        else if acceptKW("min") {
            if acceptKW("rx") { try expectKW("interval"); o.minRxInterval = try parseTimeUS() }
            else if acceptKW("tx") { try expectKW("interval"); o.minTxInterval = try parseTimeUS() }
            else { throw syntaxError() }
        } else if acceptKW("idle") { try expectKW("tx"); try expectKW("interval"); o.idleTxInterval = try parseTimeUS() }
        else if acceptKW("multiplier") { o.multiplier = try parseExprInt() }
        else if acceptKW("passive") { o.passive = try parseBool() }
        else if isKW("authentication") || isKW("password") || isKW("passwords") { throw unsupported(t, "BFD authentication") }
        else if !isP(";") { throw syntaxError() }
        try expectP(";")
    }

    mutating func parseBFD(name: String, common: CommonProtocolOptions) throws(BGPConfigError) {
        var b = BFDProtocolConfig(name: name, common: common)
        while !isP("}") {
            let t = cur
            if try parseProtoItem(&b.common) {
            } else if acceptKW("interface") {
                var pats: [String] = []
                repeat {
                    let neg = acceptP("-")
                    guard case .text(let s) = cur.kind else { throw err(cur, "Interface name/mask expected, not IP prefix") }
                    advance()
                    pats.append(neg ? "-" + s : s)
                } while acceptP(",")
                var o = BFDOptions()
                if acceptP("{") { while !acceptP("}") { try parseBFDOptionItem(&o) } }
                for p in pats { b.interfaces.append((p, o)) }
            } else if acceptKW("multihop") {
                var o = BFDOptions()
                if acceptP("{") { while !acceptP("}") { try parseBFDOptionItem(&o) } }
                b.multihop = o
            } else if acceptKW("neighbor") {
                let a = try parseIPA()
                var iface = try parseIPAScope()
                if acceptKW("dev") { iface = try parseText() }
                var local: IPPrefix? = nil
                if acceptKW("local") { local = try parseIPA() }
                var mh = false
                if acceptKW("multihop") { mh = try parseBool() }
                if mh && iface != nil { throw err(t, "Neighbor cannot set both interface and multihop") }
                if mh && local == nil { throw err(t, "Multihop neighbor requires specified local address") }
                b.neighbors.append(BFDNeighbor(address: a, interface: iface, local: local, multihop: mh))
            } else if acceptKW("accept") {
                while let k = curKeyword, ["ipv4", "ipv6", "direct", "multihop"].contains(k) { advance() }
            } else if acceptKW("strict") {
                try expectKW("bind"); _ = try parseBool()
            } else if !isP(";") { throw syntaxError() }
            try expectP(";")
        }
        advance()
        config.protocols.append(.bfd(b))
    }

    static func isLinkLocal(_ a: IPPrefix?) -> Bool {
        guard let a = a, a.family == .ipv6 else { return false }
        return a.hi >> 54 == 0x3fa   // fe80::/10
    }

    mutating func parseBGP(_ b: inout BGPProtocolConfig, common: inout CommonProtocolOptions, inherited: Set<UInt8>) throws(BGPConfigError) {
        var definedHere: Set<UInt8> = []
        var checkLink: Bool? = nil
        var disableAfterError = false
        while !isP("}") {
            let t = cur
            if try parseProtoItem(&common) {
                b.description = common.description
                b.disabled = common.disabled
                if let d = common.debugClasses { b.debugClasses = d }
            } else if let fam = try parseChannelStart() {
                let fname = fam.0 == .ipv4 ? "ipv4" : "ipv6"
                if definedHere.contains(fam.0.rawValue) { throw err(fam.1, "Multiple \(fname) channels") }
                definedHere.insert(fam.0.rawValue)
                var ch: ChannelConfig
                if let i = b.channels.firstIndex(where: { $0.family == fam.0 }) { ch = b.channels[i] } else { ch = ChannelConfig(family: fam.0) }
                try parseChannelBody(&ch, bgp: true)
                if let i = b.channels.firstIndex(where: { $0.family == fam.0 }) { b.channels[i] = ch } else { b.channels.append(ch) }
            } else if acceptKW("local") {
                if isKW("role") { throw unsupported(t, "BGP roles") }
                if case .ip4 = cur.kind { b.localAddress = try parseIPA(); if let i = try parseIPAScope() { b.interface = i } }
                else if case .ip6 = cur.kind { b.localAddress = try parseIPA(); if let i = try parseIPAScope() { b.interface = i } }
                while true {
                    if acceptKW("port") {
                        let p = try parseExprInt()
                        if p < 1 || p > 65535 { throw err(t, "Invalid port number") }
                        b.localPort = p
                    } else if acceptKW("as") { b.localAS = try parseExpr() }
                    else { break }
                }
            } else if acceptKW("neighbor") {
                if isKW("range") { throw unsupported(t, "neighbor range (dynamic BGP)") }
                switch cur.kind {
                case .ip4, .ip6:
                    if b.neighborAddress != nil { throw err(t, "Only one neighbor per BGP instance is allowed") }
                    b.neighborAddress = try parseIPA()
                    if let i = try parseIPAScope() { b.interface = i }
                default:
                    if let n = curSymbolName, let s = symbols[n], case .constant(.ip) = s {
                        if b.neighborAddress != nil { throw err(t, "Only one neighbor per BGP instance is allowed") }
                        b.neighborAddress = try parseIPA()
                    }
                }
                while true {
                    if acceptKW("port") {
                        let p = try parseExprInt()
                        if p < 1 || p > 65535 { throw err(t, "Invalid port number") }
                        b.neighborPort = p
                    } else if acceptKW("as") { b.neighborAS = try parseExpr() }
                    else if acceptKW("internal") { b.forcedPeerType = true }
                    else if acceptKW("external") { b.forcedPeerType = false }
                    else { break }
                }
            } else if acceptKW("interface") {
                guard case .text(let s) = cur.kind else { throw syntaxError(expecting: "TEXT") }
                advance(); b.interface = s
            } else if acceptKW("rr") {
                if acceptKW("client") { b.rrClient = try parseBool() }
                else if acceptKW("cluster") { try expectKW("id"); _ = try parseIDVal() }
                else { throw syntaxError() }
            } else if acceptKW("rs") {
                try expectKW("client"); b.rsClient = try parseBool()
            } else if acceptKW("hold") {
                try expectKW("time")
                let v = try parseExprInt()
                if (v != 0 && v < 3) || v > 65535 { throw err(t, "Hold time must be in range 3-65535 or zero") }
                b.holdTime = v
            } else if acceptKW("min") {
                if acceptKW("hold") { try expectKW("time"); b.minHoldTime = try parseExprInt() }
                else if acceptKW("keepalive") { throw unsupported(t, "min keepalive time") }
                else { throw syntaxError() }
            } else if acceptKW("startup") {
                try expectKW("hold"); try expectKW("time"); b.startupHoldTime = try parseExprInt()
            } else if acceptKW("direct") {
                b.multihop = 0; b.multihopExplicit = true
            } else if acceptKW("multihop") {
                if isP(";") { b.multihop = 64 } else {
                    let v = try parseExprInt()
                    if v < 1 || v > 255 { throw err(t, "Multihop must be in range 1-255") }
                    b.multihop = v
                }
                b.multihopExplicit = true
            } else if acceptKW("default") {
                if acceptKW("bgp_med") { b.defaultMED = try parseExpr() }
                else if acceptKW("bgp_local_pref") { b.defaultLocalPref = try parseExpr() }
                else { throw syntaxError() }
            } else if acceptKW("source") {
                try expectKW("address"); b.localAddress = try parseIPA()
            } else if acceptKW("start") {
                try expectKW("delay"); try expectKW("time"); b.connectDelayTime = try parseExprInt()
            } else if acceptKW("connect") {
                if acceptKW("delay") { try expectKW("time"); b.connectDelayTime = try parseExprInt() }
                else if acceptKW("retry") { try expectKW("time"); b.connectRetryTime = try parseExprInt() }
                else { throw syntaxError() }
            } else if acceptKW("keepalive") {
                try expectKW("time")
                let v = try parseExprInt()
                if v < 1 || v > 65535 { throw err(t, "Keepalive time must be in range 1-65535") }
                b.keepaliveTime = v
            } else if acceptKW("error") {
                if acceptKW("forget") { try expectKW("time"); b.errorForgetTime = try parseExprInt() }
                else if acceptKW("wait") {
                    try expectKW("time")
                    let a = try parseExprInt(); try expectP(","); let c = try parseExprInt()
                    b.errorWaitTime = (a, c)
                } else { throw syntaxError() }
            } else if acceptKW("disable") {
                try expectKW("after")
                if acceptKW("error") { disableAfterError = try parseBool() }
                else if isKW("cease") { throw unsupported(t, "disable after cease") }
                else { throw syntaxError() }
            } else if acceptKW("enable") {
                if acceptKW("route") { try expectKW("refresh"); b.enableRouteRefresh = try parseBool() }
                else if acceptKW("as4") { b.enableAS4 = try parseBool() }
                else if acceptKW("extended") { try expectKW("messages"); b.enableExtendedMessages = try parseBool() }
                else { throw syntaxError() }
            } else if acceptKW("password") {
                b.password = try parseText()
            } else if acceptKW("passive") {
                b.passive = try parseBool()
            } else if acceptKW("interpret") {
                try expectKW("communities"); b.interpretCommunities = try parseBool()
            } else if acceptKW("allow") {
                if acceptKW("local") {
                    try expectKW("as")
                    b.allowLocalAS = isP(";") ? -1 : try parseExprInt()
                } else if let k = curKeyword { throw unsupported(t, "allow \(k)") }
                else { throw syntaxError() }
            } else if acceptKW("graceful") {
                try expectKW("restart")
                if acceptKW("aware") { b.gracefulRestart = .aware }
                else if acceptKW("time") { b.gracefulRestartTime = try parseExprInt() }
                else { b.gracefulRestart = try parseBool() ? .on : .off }
            } else if acceptKW("ttl") {
                try expectKW("security"); b.ttlSecurity = try parseBool()
            } else if acceptKW("check") {
                try expectKW("link"); checkLink = try parseBool()
            } else if acceptKW("bfd") {
                if isKW("graceful") { throw unsupported(cur, "bfd graceful") }
                if isP("{") { throw unsupported(cur, "per-session BFD options") }
                b.bfd = try parseBool()
            } else if let k = curKeyword, ["capabilities", "setkey", "strict", "free", "path", "med", "igp", "prefer",
                                          "deterministic", "dynamic", "confederation", "advertise", "long", "enforce",
                                          "require"].contains(k) {
                throw unsupported(t, "BGP option '\(k)'")
            } else if !isP(";") {
                throw syntaxError()
            }
            try expectP(";")
        }
        let end = cur
        advance()
        if b.isTemplate { return }
        try bgpPostconfig(&b, end: end, checkLink: checkLink, disableAfterError: disableAfterError)
    }

    /// bgp_postconfig (proto/bgp/bgp.c, BIRD 2.0.12), errors reported at the closing brace like BIRD.
    func bgpPostconfig(_ b: inout BGPProtocolConfig, end: Token, checkLink: Bool?, disableAfterError: Bool) throws(BGPConfigError) {
        if b.neighborAS == 0 && b.forcedPeerType == true { b.neighborAS = b.localAS }
        let isIBGP = b.localAS == b.neighborAS
        let mh = b.multihop ?? (isIBGP ? 64 : 0)
        b.multihop = mh
        let link = checkLink ?? (mh == 0)
        if b.localAS == 0 { throw err(end, "Local AS number must be set") }
        if b.neighborAddress == nil { throw err(end, "Neighbor must be configured") }
        if b.neighborAS == 0 && b.forcedPeerType == nil { throw err(end, "Remote AS number (or peer type) must be set") }
        if b.forcedPeerType == true && !isIBGP { throw err(end, "IBGP cannot have different ASNs") }
        if b.forcedPeerType == false && isIBGP { throw err(end, "EBGP cannot have the same ASNs") }
        if b.interface == nil && (ConfigParser.isLinkLocal(b.localAddress) || ConfigParser.isLinkLocal(b.neighborAddress)) {
            throw err(end, "Link-local addresses require defined interface")
        }
        if !b.enableAS4 && b.neighborAS > 0xFFFF { throw err(end, "Neighbor AS number out of range (AS4 not available)") }
        if !isIBGP && b.rrClient { throw err(end, "Only isIBGP neighbor can be RR client") }
        if isIBGP && b.rsClient { throw err(end, "Only external neighbor can be RS client") }
        if mh != 0 && (ConfigParser.isLinkLocal(b.localAddress) || ConfigParser.isLinkLocal(b.neighborAddress)) {
            throw err(end, "Multihop BGP cannot be used with link-local addresses")
        }
        if mh != 0 && b.interface != nil { throw err(end, "Multihop BGP cannot be bound to interface") }
        if mh != 0 && link { throw err(end, "Multihop BGP cannot depend on link state") }
        if mh != 0 && b.bfd && b.localAddress == nil { throw err(end, "Multihop BGP with BFD requires specified local address") }
        if let k = b.keepaliveTime, k > b.holdTime { throw err(end, "Keepalive time must be at most hold time") }
        if let m = b.minHoldTime, m > b.holdTime { throw err(end, "Min hold time (\(m)) exceeds hold time (\(b.holdTime))") }
        for i in b.channels.indices {
            if b.channels[i].importPolicy == nil && !isIBGP { throw err(end, "EBGP requires explicit import policy") }
            if b.channels[i].exportPolicy == nil && !isIBGP { throw err(end, "EBGP requires explicit export policy") }
            if disableAfterError, let l = b.channels[i].importLimit, l.action == .restart {
                b.channels[i].importLimit = Limit(count: l.count, action: .disable)
            }
            if mh != 0 && b.channels[i].gateway == .direct { throw err(end, "Multihop BGP cannot use direct gateway mode") }
        }
    }
}
