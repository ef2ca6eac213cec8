// The merged configuration of one node, ordered the way tinc 1.0 orders its config tree:
// by variable name (case-insensitive), then command-line `-o` options before file entries,
// then line number (whichever file the line is in), then file name.
// A single-valued variable takes the first entry in this order; a multi-valued one
// (ConnectTo, Address, Subnet, BindToAddress) takes all of them in this order.

import Foundation

public struct ConfigTree: Equatable, Sendable {
    private var byKey: [String: [ConfigEntry]] = [:]

    public init(entries: [ConfigEntry] = []) {
        add(contentsOf: entries)
    }

    /// tinc's ordering of two entries of the same variable.
    static func precedes(_ a: ConfigEntry, _ b: ConfigEntry) -> Bool {
        let aCmd = a.location.isCommandLine, bCmd = b.location.isCommandLine
        if aCmd != bCmd { return aCmd }
        if a.location.line != b.location.line { return a.location.line < b.location.line }
        return (a.location.file ?? "").utf8.lexicographicallyPrecedes((b.location.file ?? "").utf8)
    }

    public mutating func add(_ entry: ConfigEntry) {
        var list = byKey[entry.key, default: []]
        let index = list.firstIndex(where: { ConfigTree.precedes(entry, $0) }) ?? list.endIndex
        list.insert(entry, at: index)
        byKey[entry.key] = list
    }

    public mutating func add<S: Sequence>(contentsOf entries: S) where S.Element == ConfigEntry {
        for e in entries { add(e) }
    }

    /// The entry that wins for a single-valued variable, or nil.
    public func lookup(_ variable: String) -> ConfigEntry? {
        byKey[variable.lowercased()]?.first
    }

    /// All entries of a variable in precedence order (for multi-valued variables).
    public func lookupAll(_ variable: String) -> [ConfigEntry] {
        byKey[variable.lowercased()] ?? []
    }

    /// Every entry, sorted by variable name then precedence.
    public var entries: [ConfigEntry] {
        byKey.keys.sorted().flatMap { byKey[$0]! }
    }

    public var isEmpty: Bool { byKey.isEmpty }

    // MARK: typed access (errors carry the entry's file:line)

    public func string(_ variable: String) -> String? {
        lookup(variable)?.value
    }

    public func bool(_ variable: String) throws -> Bool? {
        guard let e = lookup(variable) else { return nil }
        return try e.boolValue()
    }

    public func int(_ variable: String) throws -> Int? {
        guard let e = lookup(variable) else { return nil }
        return try e.intValue()
    }
}

extension ConfigEntry {
    /// `yes` or `no`, case-insensitive; anything else is an error.
    public func boolValue() throws -> Bool {
        switch value.lowercased() {
        case "yes": return true
        case "no": return false
        default: throw ConfigError(self, "\"\(value)\" is not a boolean (expected yes or no)")
        }
    }

    /// A whole decimal integer in the range of a C int.
    /// Deviation from tinc: tinc uses sscanf("%d"), which accepts a leading integer and ignores
    /// the rest ("12abc" = 12). We reject such values, which is safer.
    public func intValue() throws -> Int {
        guard let n = ConfigEntry.strictInt(value) else {
            throw ConfigError(self, "\"\(value)\" is not an integer")
        }
        return n
    }

    /// Integer within `range`; the error names the range.
    public func intValue(in range: ClosedRange<Int>) throws -> Int {
        let n = try intValue()
        guard range.contains(n) else {
            let text: String
            if range.upperBound == Int(Int32.max) {
                text = range.lowerBound == 0 ? "must not be negative" : "must be at least \(range.lowerBound)"
            } else {
                text = "is out of range (\(range.lowerBound)-\(range.upperBound))"
            }
            throw ConfigError(self, "\"\(value)\" \(text)")
        }
        return n
    }

    static func strictInt(_ s: String) -> Int? {
        var digits = Substring(s)
        var negative = false
        if let f = digits.first, f == "+" || f == "-" {
            negative = f == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        guard let magnitude = Int(digits) else { return nil }
        let n = negative ? -magnitude : magnitude
        guard n >= Int(Int32.min), n <= Int(Int32.max) else { return nil }
        return n
    }
}
