/// tinc writes every binary field (METAKEY, CHALLENGE, ANS_KEY keys) as uppercase hex and
/// parses either case.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for odd length or any non-hex character (no whitespace allowed).
    public static func decode<S: StringProtocol>(_ s: S) -> [UInt8]? {
        let utf8 = s.utf8
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var high: UInt8 = 0
        var isHigh = true
        for c in utf8 {
            guard let v = value(c) else { return nil }
            if isHigh {
                high = v
            } else {
                out.append(high << 4 | v)
            }
            isHigh.toggle()
        }
        return out
    }

    @inline(__always)
    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
