// Tokenizer for bgp.conf, following BIRD 2.0.12 conf/cf-lex.l (longest match, `include` at line start).
#if canImport(Glibc)
import Glibc
#endif

enum TokKind: Equatable {
    case num(UInt32)
    case ip4(UInt32)
    case ip6(UInt64, UInt64)
    case text(String)
    case word(String)          // identifier or keyword
    case quotedSym(String)     // 'symbol'
    case punct(UInt8)          // one of = { } : ; , . ( ) + * / % < > ~ [ ] ? ! | -
    case ddot, neq, nma, leq, geq, and, or, po, pc, elsecol
    case rd                    // route distinguisher (unsupported)
    case eof
}

struct Token {
    var kind: TokKind
    var file: Int
    var line: Int
    var col: Int
}

struct Lexer {
    var files: [String] = []
    var tokens: [Token] = []
    let includeLoader: ((String) throws -> String)?
    static let maxIncludeDepth = 8

    init(includeLoader: ((String) throws -> String)?) { self.includeLoader = includeLoader }

    func err(_ file: Int, _ line: Int, _ col: Int, _ msg: String) -> BGPConfigError {
        BGPConfigError(file: files[file], line: line, column: col, message: msg)
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isXigit(_ c: UInt8) -> Bool { isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) }
    static func isAlpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
    static func isAlnum(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) }

    mutating func tokenize(text: String, fileName: String, depth: Int = 0) throws(BGPConfigError) {
        let fid = files.count
        files.append(fileName)
        let b = Array(text.utf8)
        var i = 0, line = 1, lineStart = 0
        var atLineStart = true
        let n = b.count
        func col(_ p: Int) -> Int { p - lineStart + 1 }
        while i < n {
            let c = b[i]
            if atLineStart {
                // ^{WHITE}*include{WHITE}*"
                var j = i
                while j < n && (b[j] == 32 || b[j] == 9) { j += 1 }
                if j + 7 <= n && Array(b[j..<j+7]) == Array("include".utf8) {
                    var k = j + 7
                    while k < n && (b[k] == 32 || b[k] == 9) { k += 1 }
                    if k < n && b[k] == 34 {
                        let startCol = col(j)
                        k += 1
                        let s = k
                        while k < n && b[k] != 34 && b[k] != 10 { k += 1 }
                        if k >= n || b[k] != 34 { throw err(fid, line, startCol, "Unterminated include") }
                        if k == s { throw err(fid, line, startCol, "Include with empty argument") }
                        let arg = String(decoding: b[s..<k], as: UTF8.self)
                        k += 1
                        while k < n && (b[k] == 32 || b[k] == 9) { k += 1 }
                        if k >= n || b[k] != 59 { throw err(fid, line, startCol, "Unterminated include") }
                        k += 1
                        try include(arg, from: fid, line: line, col: startCol, depth: depth)
                        i = k
                        atLineStart = false
                        continue
                    }
                }
                atLineStart = false
            }
            switch c {
            case 10:
                line += 1; i += 1; lineStart = i; atLineStart = true
            case 32, 9, 13:
                i += 1
            case 35: // '#'
                while i < n && b[i] != 10 { i += 1 }
            case 47 where i + 1 < n && b[i + 1] == 42: // /*
                let sl = line, sc = col(i)
                i += 2
                var closed = false
                while i < n {
                    if b[i] == 42 && i + 1 < n && b[i + 1] == 47 { i += 2; closed = true; break }
                    if b[i] == 47 && i + 1 < n && b[i + 1] == 42 { throw err(fid, line, col(i), "Comment nesting not supported") }
                    if b[i] == 10 { line += 1; lineStart = i + 1 }
                    i += 1
                }
                if !closed { throw err(fid, sl, sc, "Unterminated comment") }
            case 34: // "
                let sc = col(i)
                var j = i + 1
                while j < n && b[j] != 34 && b[j] != 10 { j += 1 }
                if j >= n || b[j] != 34 { throw err(fid, line, sc, "Unterminated string") }
                tokens.append(Token(kind: .text(String(decoding: b[(i + 1)..<j], as: UTF8.self)), file: fid, line: line, col: sc))
                i = j + 1
            case 39: // '
                let sc = col(i)
                var j = i + 1
                while j < n && b[j] != 39 {
                    let d = b[j]
                    if d == 10 { throw err(fid, line, sc, "Unterminated symbol") }
                    if !(Lexer.isAlnum(d) || d == 45 || d == 46 || d == 58) { throw err(fid, line, col(j), "Invalid character in apostrophed symbol") }
                    j += 1
                }
                if j >= n { throw err(fid, line, sc, "Unterminated symbol") }
                tokens.append(Token(kind: .quotedSym(String(decoding: b[(i + 1)..<j], as: UTF8.self)), file: fid, line: line, col: sc))
                i = j + 1
            default:
                if Lexer.isAlnum(c) {
                    let (kind, len) = try lexAtom(b, i, fid, line, col(i))
                    tokens.append(Token(kind: kind, file: fid, line: line, col: col(i)))
                    i += len
                    continue
                }
                let sc = col(i)
                let next: UInt8 = i + 1 < n ? b[i + 1] : 0
                var kind: TokKind? = nil
                var len = 2
                switch (c, next) {
                case (46, 46): kind = .ddot
                case (33, 61): kind = .neq
                case (33, 126): kind = .nma
                case (60, 61): kind = .leq
                case (62, 61): kind = .geq
                case (38, 38): kind = .and
                case (124, 124): kind = .or
                case (91, 61): kind = .po
                case (61, 93): kind = .pc
                default: break
                }
                if kind == nil {
                    len = 1
                    if Array("={}:;,.()+*/%<>~[]?!|-".utf8).contains(c) { kind = .punct(c) }
                }
                guard let k = kind else { throw err(fid, line, sc, "Unknown character") }
                tokens.append(Token(kind: k, file: fid, line: line, col: sc))
                i += len
            }
        }
        if depth == 0 {
            tokens.append(Token(kind: .eof, file: fid, line: line, col: col(i)))
        }
    }

    mutating func include(_ arg: String, from fid: Int, line: Int, col: Int, depth: Int) throws(BGPConfigError) {
        if depth + 1 > Lexer.maxIncludeDepth { throw err(fid, line, col, "Max include depth reached") }
        if arg.contains("*") || arg.contains("?") || arg.contains("[") {
            throw err(fid, line, col, "include with wildcards is not supported")
        }
        guard let loader = includeLoader else { throw err(fid, line, col, "Unable to open included file \(arg): includes are not available") }
        var path = arg
        if !arg.hasPrefix("/") {
            let cur = files[fid]
            if let slash = cur.lastIndex(of: "/") { path = String(cur[...slash]) + arg }
        }
        let text: String
        do { text = try loader(path) } catch { throw err(fid, line, col, "Unable to open included file \(path): \(error)") }
        try tokenize(text: text, fileName: path, depth: depth + 1)
    }

    /// Longest match among NUM, hex NUM, IP4, IP6, RD, word and `else:` at position i.
    func lexAtom(_ b: [UInt8], _ i: Int, _ fid: Int, _ line: Int, _ col: Int) throws(BGPConfigError) -> (TokKind, Int) {
        let n = b.count
        // Maximal run of characters that can appear in any of these tokens.
        var e = i
        while e < n && (Lexer.isAlnum(b[e]) || b[e] == 58 || b[e] == 46) { e += 1 }
        let run = Array(b[i..<e])
        // word
        var wlen = 0
        if Lexer.isAlpha(run[0]) { wlen = 1; while wlen < run.count && Lexer.isAlnum(run[wlen]) { wlen += 1 } }
        var declen = 0
        while declen < run.count && Lexer.isDigit(run[declen]) { declen += 1 }
        var hexlen = 0
        if run.count > 2 && run[0] == 48 && run[1] == 120 && Lexer.isXigit(run[2]) {
            hexlen = 3; while hexlen < run.count && Lexer.isXigit(run[hexlen]) { hexlen += 1 }
        }
        var ip6len = 0, ip4len = 0, rdlen = 0
        var L = run.count
        while L > 0 {
            let s = run[0..<L]
            if ip6len == 0 && Lexer.matchesIP6(s) { ip6len = L }
            if ip4len == 0 && Lexer.matchesDottedQuad(s) { ip4len = L }
            if rdlen == 0 && Lexer.matchesRD(s) { rdlen = L }
            L -= 1
        }
        var elselen = 0
        if run.count >= 5 && Array(run.prefix(5)) == Array("else:".utf8) { elselen = 5 }
        // Pick the longest; ties resolved in cf-lex.l rule order: RD, IP4, IP6, hex, dec, else:, word.
        let best = max(rdlen, ip4len, ip6len, hexlen, declen, elselen, wlen)
        let text = String(decoding: run[0..<best], as: UTF8.self)
        if best == rdlen && rdlen > 0 { return (.rd, best) }
        if best == ip4len && ip4len > 0 {
            guard let a = IPPrefix.parseIPv4(text) else { throw err(fid, line, col, "Invalid IPv4 address \(text)") }
            return (.ip4(a), best)
        }
        if best == ip6len && ip6len > 0 {
            guard let (h, l) = IPPrefix.parseIPv6(text) else { throw err(fid, line, col, "Invalid IPv6 address \(text)") }
            return (.ip6(h, l), best)
        }
        if best == hexlen && hexlen > 0 {
            guard let v = UInt64(text.dropFirst(2), radix: 16), v <= UInt64(UInt32.max) else { throw err(fid, line, col, "Number out of range") }
            return (.num(UInt32(v)), best)
        }
        if best == declen && declen > 0 {
            guard let v = UInt64(text), v <= UInt64(UInt32.max) else { throw err(fid, line, col, "Number out of range") }
            return (.num(UInt32(v)), best)
        }
        if best == elselen && elselen > 0 { return (.elsecol, 5) }
        if wlen > 0 { return (.word(text), best) }
        throw err(fid, line, col, "Unknown character")
    }

    static func allDigits<C: Collection>(_ s: C) -> Bool where C.Element == UInt8 { !s.isEmpty && s.allSatisfy(isDigit) }

    static func matchesDottedQuad(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: 46, omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { allDigits($0) }
    }

    static func matchesRD(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: 58, omittingEmptySubsequences: false)
        if parts.count == 2 {
            if allDigits(parts[0]) && allDigits(parts[1]) { return true }
            if matchesDottedQuad(parts[0]) && allDigits(parts[1]) { return true }
        }
        if parts.count == 3, parts[0].count == 1, parts[0].first == 48 || parts[0].first == 50,
           allDigits(parts[1]), allDigits(parts[2]) { return true }
        return false
    }

    /// ({XIGIT}*::|({XIGIT}*:){3,})({XIGIT}*|{DIGIT}+\.{DIGIT}+\.{DIGIT}+\.{DIGIT}+)
    static func matchesIP6(_ s: ArraySlice<UInt8>) -> Bool {
        guard let lastColon = s.lastIndex(of: 58) else { return false }
        let tail = s[(lastColon + 1)...]
        let tailOK = tail.allSatisfy(isXigit) || matchesDottedQuad(tail)
        if !tailOK { return false }
        let head = s[..<(lastColon + 1)]   // ends with ':'
        // Form A: {XIGIT}*::
        if head.count >= 2 && head[head.endIndex - 2] == 58 {
            let pre = head[..<(head.endIndex - 2)]
            if pre.allSatisfy(isXigit) { return true }
        }
        // Form B: ({XIGIT}*:){3,}
        let groups = head.dropLast().split(separator: 58, omittingEmptySubsequences: false)
        return groups.count >= 3 && groups.allSatisfy { $0.allSatisfy(isXigit) }
    }
}

func readConfigFile(_ path: String) throws -> String {
    guard let f = fopen(path, "r") else { throw ConfigFileError(path: path, errno: errno) }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let r = fread(&buf, 1, buf.count, f)
        if r > 0 { bytes.append(contentsOf: buf[0..<r]) }
        if r < buf.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}
