// What `configure` has to do when bgp.conf changed: the old and the new configuration compared
// protocol by protocol, as BIRD's protos_commit does (nest/proto.c). A protocol whose definition is
// unchanged is left alone; a changed import or export policy only reloads that channel; anything
// else that a running protocol depends on restarts it.

/// What `configure` does to one protocol.
public enum ProtocolChange: Equatable, Sendable {
    /// The definition is the same (positions and descriptions aside).
    case unchanged
    /// Only channel policies changed: the families whose import or export must be re-evaluated.
    /// For a static protocol, `importChanged` also covers changed routes.
    case reload(importChanged: [IPPrefix.Family], exportChanged: [IPPrefix.Family])
    /// Session (or protocol) parameters changed: stop it and start it with the new definition.
    case restart(reason: String)
    /// `disabled` was switched on or off.
    case enable, disable
    case add, remove
}

public struct ProtocolDiff: Equatable, Sendable {
    public var name: String
    /// "BGP", "Static", "Kernel", "BFD", "Device", "Direct".
    public var kind: String
    public var change: ProtocolChange
}

public struct ConfigDiff: Equatable, Sendable {
    public var routerIDChanged = false
    /// In the order of the new configuration, then the removed ones.
    public var protocols: [ProtocolDiff] = []
    /// Names of `template bgp` definitions that were added, changed or removed.
    public var changedTemplates: [String] = []

    public var isEmpty: Bool {
        !routerIDChanged && changedTemplates.isEmpty && protocols.allSatisfy { $0.change == .unchanged }
    }

    public static func compute(old: BGPConfig, new: BGPConfig,
                               oldTemplates: [String: BGPProtocolConfig] = [:],
                               newTemplates: [String: BGPProtocolConfig] = [:]) -> ConfigDiff {
        var d = ConfigDiff()
        d.routerIDChanged = old.routerID != new.routerID
        let oldByName = Dictionary(old.protocols.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(new.protocols.map { $0.name })
        for p in new.protocols {
            guard let o = oldByName[p.name] else {
                d.protocols.append(ProtocolDiff(name: p.name, kind: p.kindName, change: .add))
                continue
            }
            if o.kindName != p.kindName {
                // Another protocol type under the same name: the old one goes, the new one comes.
                d.protocols.append(ProtocolDiff(name: o.name, kind: o.kindName, change: .remove))
                d.protocols.append(ProtocolDiff(name: p.name, kind: p.kindName, change: .add))
                continue
            }
            d.protocols.append(ProtocolDiff(name: p.name, kind: p.kindName, change: compare(o, p)))
        }
        for p in old.protocols where !newNames.contains(p.name) {
            d.protocols.append(ProtocolDiff(name: p.name, kind: p.kindName, change: .remove))
        }
        for name in Set(oldTemplates.keys).union(newTemplates.keys).sorted() {
            let a = oldTemplates[name].map { ConfigText.of($0, skipping: ["sourceLine"]) }
            let b = newTemplates[name].map { ConfigText.of($0, skipping: ["sourceLine"]) }
            if a != b { d.changedTemplates.append(name) }
        }
        return d
    }

    /// One protocol present in both configurations.
    static func compare(_ o: ProtocolConfig, _ n: ProtocolConfig) -> ProtocolChange {
        switch (o, n) {
        case (.bgp(let a), .bgp(let b)):
            return compareBGP(a, b)
        case (.static_(let a), .static_(let b)):
            if a.common.disabled != b.common.disabled { return b.common.disabled ? .disable : .enable }
            if a.family != b.family { return .restart(reason: "address family changed") }
            let same = ConfigText.of(a, skipping: ["sourceLine", "description"]) == ConfigText.of(b, skipping: ["sourceLine", "description"])
            return same ? .unchanged : .reload(importChanged: [b.family], exportChanged: [])
        case (.kernel(let a), .kernel(let b)):
            if a.common.disabled != b.common.disabled { return b.common.disabled ? .disable : .enable }
            let skip: Set<String> = ["sourceLine", "description", "channels"]
            if ConfigText.of(a, skipping: skip) != ConfigText.of(b, skipping: skip) {
                return .restart(reason: "kernel protocol options changed")
            }
            return compareChannels(a.channels, b.channels)
        default:
            let skip: Set<String> = ["sourceLine", "description"]
            return ConfigText.of(o, skipping: skip) == ConfigText.of(n, skipping: skip) ? .unchanged : .restart(reason: "options changed")
        }
    }

    /// BGP: everything but the channels' import/export policies (and the description) belongs to
    /// the session; a change there restarts it (BIRD bgp_reconfigure compares the same way).
    public static func compareBGP(_ a: BGPProtocolConfig, _ b: BGPProtocolConfig) -> ProtocolChange {
        if a.disabled != b.disabled { return b.disabled ? .disable : .enable }
        let skip: Set<String> = ["sourceLine", "description", "channels"]
        let sa = ConfigText.of(a, skipping: skip), sb = ConfigText.of(b, skipping: skip)
        if sa != sb { return .restart(reason: "session parameters changed (\(ConfigText.firstDifference(a, b, skipping: skip)))") }
        return compareChannels(a.channels, b.channels)
    }

    static func compareChannels(_ a: [ChannelConfig], _ b: [ChannelConfig]) -> ProtocolChange {
        if a.map({ $0.family }) != b.map({ $0.family }) { return .restart(reason: "channels added or removed") }
        var imp: [IPPrefix.Family] = [], exp: [IPPrefix.Family] = []
        let policies: Set<String> = ["importPolicy", "exportPolicy"]
        for (x, y) in zip(a, b) {
            if ConfigText.of(x, skipping: policies) != ConfigText.of(y, skipping: policies) {
                return .restart(reason: "channel \(y.family == .ipv4 ? "ipv4" : "ipv6") options changed")
            }
            if ConfigText.of(x.importPolicy as Any) != ConfigText.of(y.importPolicy as Any) { imp.append(y.family) }
            if ConfigText.of(x.exportPolicy as Any) != ConfigText.of(y.exportPolicy as Any) { exp.append(y.family) }
        }
        return imp.isEmpty && exp.isEmpty ? .unchanged : .reload(importChanged: imp, exportChanged: exp)
    }
}

extension ProtocolConfig {
    public var kindName: String {
        switch self {
        case .device: return "Device"
        case .direct: return "Direct"
        case .static_: return "Static"
        case .kernel: return "Kernel"
        case .bgp: return "BGP"
        case .bfd: return "BFD"
        }
    }
}

/// A configuration value as canonical text, walked by reflection so a field added to a config
/// struct later is compared without anyone remembering to list it here. Filters are compared by
/// their fingerprint (the code they run), not by identity.
enum ConfigText {
    static func of(_ value: Any, skipping skip: Set<String> = []) -> String {
        if let f = value as? Filter { return "filter(\(f.fingerprint))" }
        let m = Mirror(reflecting: value)
        if m.children.isEmpty { return String(describing: value) }
        var s = "\(m.subjectType)("
        for c in m.children {
            if let l = c.label, skip.contains(l) { continue }
            s += (c.label ?? "_") + ":" + of(c.value, skipping: skip) + ","
        }
        return s + ")"
    }

    /// The name of the first top-level field that differs (for the log line saying why).
    static func firstDifference(_ a: Any, _ b: Any, skipping skip: Set<String>) -> String {
        let ma = Mirror(reflecting: a), mb = Mirror(reflecting: b)
        for (x, y) in zip(ma.children, mb.children) {
            guard let l = x.label, !skip.contains(l) else { continue }
            if of(x.value, skipping: skip) != of(y.value, skipping: skip) { return l }
        }
        return "?"
    }
}
