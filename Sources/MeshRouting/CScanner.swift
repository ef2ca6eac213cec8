// tinc parses subnets with glibc sscanf(), so which strings are accepted (and what odd inputs
// such as "0x1f", " 7" or "65537" turn into) is defined by glibc's conversion rules. This scanner
// reproduces just the conversions str2net depends on (%hx, %hu, %d, literal characters), so our
// parser accepts and rejects exactly what a tinc 1.0.36 peer does.

struct CScanner {
    let bytes: [UInt8]
    private(set) var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }
    init<S: Sequence>(_ bytes: S) where S.Element == UInt8 { self.bytes = Array(bytes) }

    var atEnd: Bool { position == bytes.count }

    /// C isspace() in the "C" locale.
    private static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || (c >= 0x09 && c <= 0x0D)
    }

    private static func digitValue(_ c: UInt8, hex: Bool) -> UInt64? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where hex: return UInt64(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F") where hex: return UInt64(c - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// A non-space format character must match exactly (no whitespace skipping).
    mutating func literal(_ c: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == c else { return false }
        position += 1
        return true
    }

    /// Reads sign and digits the way glibc does before handing them to strtol/strtoul:
    /// leading whitespace, one optional sign, for hex an optional 0x (which glibc consumes
    /// even when no hex digit follows, yielding 0). Returns the magnitude saturated at
    /// UInt64.max together with the sign, or nil when no number is there.
    private mutating func number(hex: Bool) -> (magnitude: UInt64, overflow: Bool, negative: Bool)? {
        var p = position
        while p < bytes.count, CScanner.isSpace(bytes[p]) { p += 1 }
        var negative = false
        if p < bytes.count, bytes[p] == UInt8(ascii: "+") || bytes[p] == UInt8(ascii: "-") {
            negative = bytes[p] == UInt8(ascii: "-")
            p += 1
        }
        var sawDigit = false
        if hex, p + 1 < bytes.count, bytes[p] == UInt8(ascii: "0"),
           bytes[p + 1] == UInt8(ascii: "x") || bytes[p + 1] == UInt8(ascii: "X") {
            p += 2
            sawDigit = true
        }
        let base: UInt64 = hex ? 16 : 10
        var value: UInt64 = 0
        var overflow = false
        while p < bytes.count, let d = CScanner.digitValue(bytes[p], hex: hex) {
            sawDigit = true
            let (m, o1) = value.multipliedReportingOverflow(by: base)
            let (s, o2) = m.addingReportingOverflow(d)
            if o1 || o2 { overflow = true }
            value = s
            p += 1
        }
        guard sawDigit else { return nil }
        position = p
        return (value, overflow, negative)
    }

    /// `%hx` / `%hu`: strtoul semantics (negation wraps, overflow saturates), then truncated to 16 bits.
    mutating func unsignedShort(hex: Bool) -> UInt16? {
        guard let n = number(hex: hex) else { return nil }
        let wide: UInt64 = n.overflow ? .max : (n.negative ? 0 &- n.magnitude : n.magnitude)
        return UInt16(truncatingIfNeeded: wide)
    }

    /// `%d`: strtol semantics (saturating at the 64-bit long range), then truncated to int.
    mutating func int() -> Int32? {
        guard let n = number(hex: false) else { return nil }
        let wide: Int64
        if n.negative {
            wide = (n.overflow || n.magnitude > UInt64(Int64.max) + 1) ? .min : Int64(bitPattern: 0 &- n.magnitude)
        } else {
            wide = (n.overflow || n.magnitude > UInt64(Int64.max)) ? .max : Int64(n.magnitude)
        }
        return Int32(truncatingIfNeeded: wide)
    }

    /// Reads `count` values separated by `separator`, as a format like "%hx:%hx:%hx" would.
    mutating func unsignedShorts(_ count: Int, separator: UInt8, hex: Bool) -> [UInt16]? {
        var out: [UInt16] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            if i > 0, !literal(separator) { return nil }
            guard let v = unsignedShort(hex: hex) else { return nil }
            out.append(v)
        }
        return out
    }
}
