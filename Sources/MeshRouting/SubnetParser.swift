// Subnet text parsing with the acceptance rules of tinc 1.0.36 str2net(): a peer must accept the
// same ADD_SUBNET strings tinc does (including one-digit MAC groups from old tinc versions) and
// reject the same ones, otherwise the mesh disagrees about who owns what.

private let colon = UInt8(ascii: ":")
private let dot = UInt8(ascii: ".")

extension Subnet {
    /// Parses "MAC", "a.b.c.d[/len]", or IPv6 (with "::" and trailing dotted quad) "[/len]",
    /// each with an optional "#weight". Returns nil where tinc's str2net fails.
    /// No mask check is done here: see `hostBitsClear` for config-file Subnets.
    public init?(parsing text: String) {
        // tinc copies into a 1024-byte C buffer: the text ends at a NUL or after 1023 bytes.
        var bytes = Array(text.utf8.prefix(1023))
        if let nul = bytes.firstIndex(of: 0) { bytes.removeSubrange(nul...) }

        var weight = Subnet.defaultWeight
        if let hash = bytes.firstIndex(of: UInt8(ascii: "#")) {
            var scanner = CScanner(bytes[(hash + 1)...])
            guard let w = scanner.int(), scanner.atEnd else { return nil }
            weight = Int(w)
            bytes.removeSubrange(hash...)
        }

        var prefix: Int? = nil
        if let slash = bytes.firstIndex(of: UInt8(ascii: "/")) {
            var scanner = CScanner(bytes[(slash + 1)...])
            guard let p = scanner.int(), scanner.atEnd, p >= 0 else { return nil }
            prefix = Int(p)
            bytes.removeSubrange(slash...)
        }

        // MAC first: a string that scans as six hex groups is a MAC, and then a prefix is an error.
        var scanner = CScanner(bytes)
        if let groups = scanner.unsignedShorts(6, separator: colon, hex: true), scanner.atEnd {
            guard prefix == nil else { return nil }
            self.init(address: .mac(groups.map { UInt8(truncatingIfNeeded: $0) }), weight: weight)
            return
        }

        scanner = CScanner(bytes)
        if let octets = scanner.unsignedShorts(4, separator: dot, hex: false), scanner.atEnd {
            let p = prefix ?? 32
            guard p <= 32, octets.allSatisfy({ $0 <= 255 }) else { return nil }
            self.init(address: .ipv4(octets.map { UInt8($0) }, prefix: p), weight: weight)
            return
        }

        guard let groups = Subnet.ipv6Groups(bytes) else { return nil }
        let p = prefix ?? 128
        guard p <= 128 else { return nil }
        self.init(address: .ipv6(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }, prefix: p),
                  weight: weight)
    }

    /// Rewrites the IPv6 text into eight plain hex groups the way tinc does (dotted quad tail to two
    /// hex groups, then "::" expanded to zero groups) and scans them.
    private static func ipv6Groups(_ input: [UInt8]) -> [UInt16]? {
        var text = input

        if let lastColon = text.lastIndex(of: colon) {
            var scanner = CScanner(text[lastColon...])
            if scanner.literal(colon),
               let quad = scanner.unsignedShorts(4, separator: dot, hex: false), scanner.atEnd {
                guard quad.allSatisfy({ $0 <= 255 }) else { return nil }
                let hex = quad.map { byte -> String in
                    let s = String(byte, radix: 16)
                    return s.count == 1 ? "0" + s : s
                }
                text.replaceSubrange(lastColon..., with: Array((":" + hex[0] + hex[1] + ":" + hex[2] + hex[3]).utf8))
            }
        }

        if let first = doubleColonIndex(text) {
            // Every run of non-colon characters counts as a group; "::" stands for the rest.
            var groupCount = 0
            var inGroup = false
            for c in text {
                if c == colon { inGroup = false } else if !inGroup { inGroup = true; groupCount += 1 }
            }
            let zeroGroups = 8 - groupCount
            guard zeroGroups >= 1 else { return nil }
            var expanded = Array(text[..<first])
            expanded.append(colon)
            for _ in 0..<zeroGroups { expanded.append(UInt8(ascii: "0")); expanded.append(colon) }
            expanded.append(contentsOf: text[(first + 2)...])
            // Only one colon is trimmed at each end, so ":::" style input still fails below.
            if expanded.first == colon { expanded.removeFirst() }
            if expanded.last == colon { expanded.removeLast() }
            text = expanded
        }

        var scanner = CScanner(text)
        guard let groups = scanner.unsignedShorts(8, separator: colon, hex: true), scanner.atEnd else { return nil }
        return groups
    }

    private static func doubleColonIndex(_ text: [UInt8]) -> Int? {
        guard text.count >= 2 else { return nil }
        for i in 0..<(text.count - 1) where text[i] == colon && text[i + 1] == colon { return i }
        return nil
    }
}
