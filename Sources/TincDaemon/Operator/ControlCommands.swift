import Foundation
import MeshIO
import MeshRouting
import MeshStatus

/// Commands served on the control socket: tinc-style dumps and birdc-style BGP views,
/// as aligned text for people or (`--json`) as JSON for scripts.
enum ControlCommands {
    static let help = """
        commands:
          dump nodes | edges | subnets | connections | graph
          info NODE
          stats
          show protocols [all] [NAME]     (BGP, as birdc)
          show route [all] [for ADDR|PREFIX] [protocol P] [export P] [filtered] [count]   (BGP)
          show bfd sessions               (BGP)
          enable|disable|restart NAME     (BGP protocols, as birdc)
          reload [in|out] NAME            (BGP: re-import / re-export one protocol, as birdc)
          configure [check]               (BGP: re-read bgp.conf and apply it, as birdc configure)
          reload | retry | purge | stop | debug LEVEL   (reload: tinc.conf, hosts/ and bgp.conf)
          log [LEVEL]                     (stream log lines up to LEVEL, default the daemon's level, as tinc log)
          top [-d SECONDS] [--once] [--iterations N] [--cumulative] [--sort name|in|out|total]
                                          (per-node packets and bytes per second, as tinc top)

        """
}

/// Formats rows into columns padded to the widest cell.
func alignedTable(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    var widths = [Int](repeating: 0, count: header.count)
    for r in all { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    return all.map { r in
        r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
    }.joined(separator: "\n") + "\n"
}

/// `--json` replies: typed values (numbers, booleans, arrays, null), keys sorted, slashes as is.
/// Everything beyond printable ASCII is written as a JSON `\uXXXX` escape, so the control
/// server's terminal escaping (which would turn a peer's bidi or C1 character into `\u{…}`/`\xNN`,
/// not JSON) finds nothing to change and the reply stays valid JSON.
func jsonText<T: Encodable>(_ value: T) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    guard let d = try? e.encode(value) else { return "ERROR could not encode the reply\n" }
    let text = String(decoding: d, as: UTF8.self)
    guard text.utf8.contains(where: { $0 >= 0x7F }) else { return text + "\n" }
    var out = ""
    out.reserveCapacity(text.utf8.count + 64)
    for u in text.unicodeScalars {
        if u.value < 0x7F { out.unicodeScalars.append(u); continue }
        // Only inside strings (JSON syntax is ASCII); UTF-16 units, surrogate pairs included.
        for unit in String(u).utf16 {
            let h = String(unit, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
        }
    }
    return out + "\n"
}

/// The `--json` form of commands that act instead of report (reload, retry, purge, stop, debug).
struct ActionReply: Codable, Sendable {
    var message: String
}

struct DebugLevelReply: Codable, Sendable {
    var message: String
    var oldLevel: Int
    var newLevel: Int
    enum CodingKeys: String, CodingKey { case message, oldLevel = "old_level", newLevel = "new_level" }
}

extension MeshDaemon {
    /// Handles one control line. Errors start with "ERROR " so the client can exit non-zero; they
    /// are the same text with `--json`.
    func controlCommand(_ line: String) -> String {
        loop.preconditionInLoop()
        var words = line.split(separator: " ").map(String.init)
        var json = false
        if words.first == "--json" { json = true; words.removeFirst() }
        guard let cmd = words.first else { return "ERROR empty command\n" + ControlCommands.help }
        let args = Array(words.dropFirst())
        func act(_ message: String) -> String { json ? jsonText(ActionReply(message: message)) : message + "\n" }
        /// A multi-line reply without its final newline, for `act`.
        func trimmedReply(_ r: String) -> String { r.hasSuffix("\n") ? String(r.dropLast()) : r }
        switch (cmd, args.first) {
        case ("dump", "nodes"):
            let nodes = snapshot(.nodes).nodes
            return json ? jsonText(nodes) : nodesText(nodes)
        case ("dump", "edges"):
            let edges = snapshot(.edges).edges
            return json ? jsonText(edges) : edgesText(edges)
        case ("dump", "subnets"):
            let subnets = snapshot(.subnets).subnets
            return json ? jsonText(subnets) : subnetsText(subnets)
        case ("dump", "connections"):
            let c = snapshot(.connections).connections
            return json ? jsonText(c) : connectionsText(c)
        case ("dump", "graph"):
            let m = snapshot([.nodes, .edges])
            return json ? jsonText(GraphSnapshot(nodes: m.nodes, edges: m.edges)) : graphDot(m)
        case ("info", let name?):
            guard let n = graph.node(named: name) else { return "ERROR Unknown node \(name).\n" }
            let node = nodeSnapshot(n)
            return json ? jsonText(node) : infoText(node, edges: edgeSnapshots().filter { $0.from == name })
        case ("stats", _):
            let st = statsSnapshot()
            return json ? jsonText(st) : statsText(st)
        case ("show", _):
            guard let bgp = bgpControl else { return "ERROR BGP is not running on this node (no bgp.conf).\n" }
            return bgp(words, json)
        case ("reload", let first?) where args.count >= 1 && (first != "in" && first != "out" || args.count == 2):
            // `reload [in|out] NAME`: birdc's protocol reload; plain `reload` is tinc's.
            guard let bgp = bgpControl else { return "ERROR BGP is not running on this node (no bgp.conf).\n" }
            return bgp(words, json)
        case ("enable", _), ("disable", _), ("restart", _):
            guard let bgp = bgpControl else { return "ERROR BGP is not running on this node (no bgp.conf).\n" }
            return bgp(words, json)
        case ("reload", _):
            // tinc.conf and hosts/ (tinc's reload), then bgp.conf as `configure` does. Logged as
            // tinc 1.1 logs it (and as SIGHUP's "Got HUP signal").
            Log.notice("Got 'reload' command")
            reload()
            guard bgp != nil || access(bgpConfigPath, F_OK) == 0 else { return act("Configuration reloaded.") }
            let r = configureBGP(checkOnly: false)
            if r.hasPrefix("ERROR ") {
                return "ERROR tinc.conf and hosts/ reloaded, but bgp.conf was refused:\n" + r.dropFirst(6)
            }
            return act("Configuration reloaded.\n" + trimmedReply(r))
        case ("configure", nil):
            let r = configureBGP(checkOnly: false)
            return r.hasPrefix("ERROR ") ? r : act(trimmedReply(r))
        case ("configure", "check"?):
            let r = configureBGP(checkOnly: true)
            return r.hasPrefix("ERROR ") ? r : act(trimmedReply(r))
        case ("configure", let sub?):
            return "ERROR configure \(sub) is not supported (configure | configure check)\n"
        case ("retry", _):
            retryNow()
            return act("Retrying outgoing conns.all.")
        case ("purge", _):
            purge()
            return act("Purged unreachable nodes.")
        case ("stop", _):
            loop.post { [weak self] in self?.loop.stop() }
            return act("Stopping.")
        case ("debug", let lvl?):
            guard let l = Int(lvl) else { return "ERROR debug needs a number\n" }
            let old = Log.level
            Log.level = l
            Log.info(0, "Changed debug level from \(old) to \(l)")   // as tinc 1.1
            let message = "Old level \(old), new level \(l)."
            return json ? jsonText(DebugLevelReply(message: message, oldLevel: old, newLevel: l)) : message + "\n"
        case ("log", _):
            // The control server turns the connection into a stream before the line gets here.
            return "ERROR log streams only over the control socket (tincd-swift ctl log)\n"
        default:
            return "ERROR Unknown command: \(line)\n" + ControlCommands.help
        }
    }

    // MARK: text, rendered from the snapshot

    func nodesText(_ nodes: [NodeSnapshot]) -> String {
        let rows = nodes.map { n -> [String] in
            let state = n.myself ? "myself" : n.reachable ? "reachable" : "unreachable"
            let addr = n.address.map { "\($0) port \(n.port ?? "")" } ?? "-"
            let pmtu = n.pmtu.map { "\($0) (\(n.minmtu ?? 0)-\(n.maxmtu ?? 0))" } ?? "-"
            return [n.name, state, addr, n.nexthop ?? "-", n.via ?? "-", String(n.options, radix: 16), pmtu,
                    n.validkey ? "yes" : "no"]
        }
        return alignedTable(["NODE", "STATE", "UDP ADDRESS", "NEXTHOP", "VIA", "OPTIONS", "PMTU (MIN-MAX)", "KEY"], rows)
    }

    /// `edges`: the node's own edges, in the graph's order.
    func infoText(_ n: NodeSnapshot, edges: [EdgeSnapshot]) -> String {
        var s = "Node:         \(n.name)\n"
        s += "Status:       \(n.myself ? "myself" : n.reachable ? "reachable" : "unreachable")\(n.connected ? ", directly connected" : "")\n"
        s += "Address:      \(n.address.map { "\($0) port \(n.port ?? "")" } ?? "unknown")\n"
        s += "Reached via:  nexthop \(n.nexthop ?? "-"), via \(n.via ?? "-"), \(n.distance.map { "\($0) hop(s)" } ?? "no path")\n"
        s += "Options:      \(String(n.options, radix: 16))\n"
        if let mtu = n.pmtu {
            s += "PMTU:         \(mtu) (min \(n.minmtu ?? 0) max \(n.maxmtu ?? 0))\n"
            s += "Packet key:   \(n.validkey ? "valid" : "none"), cipher \(n.cipher) digest \(n.digest) maclength \(n.maclength) compression \(n.compression)\n"
        }
        let t = n.traffic
        s += "RX:           \(t.inPackets) packets  \(t.inBytes) bytes (over TCP: \(t.inTCPPackets) packets  \(t.inTCPBytes) bytes)\n"
        s += "TX:           \(t.outPackets) packets  \(t.outBytes) bytes (over TCP: \(t.outTCPPackets) packets  \(t.outTCPBytes) bytes)\n"
        if !n.myself {
            s += "Dropped:      " + t.drops.byReason.map { "\($0.reason) \($0.count)" }.joined(separator: ", ") + "\n"
            s += "Last seen:    \(t.lastSeen.map { seconds($0) + " ago" } ?? "never")\n"
            s += "Key age:      in \(t.inKeyAge.map(seconds) ?? "none"), out \(t.outKeyAge.map(seconds) ?? "none")\n"
        }
        s += "Edges:        " + edges.map { "\($0.to) (weight \($0.weight))" }.joined(separator: ", ") + "\n"
        s += "Subnets:      " + n.subnets.joined(separator: " ") + "\n"
        return s
    }

    /// Seconds for people: one decimal under a minute, whole seconds above.
    func seconds(_ v: Double) -> String { v < 60 ? String(format: "%.1f s", v) : "\(Int(v)) s" }

    func edgesText(_ edges: [EdgeSnapshot]) -> String {
        alignedTable(["FROM", "TO", "ADDRESS", "PORT", "OPTIONS", "WEIGHT", "MST"], edges.map {
            [$0.from, $0.to, $0.address, $0.port, String($0.options, radix: 16), "\($0.weight)", $0.mst ? "yes" : "no"]
        })
    }

    func subnetsText(_ subnets: [SubnetSnapshot]) -> String {
        alignedTable(["SUBNET", "WEIGHT", "OWNER", "OWNER STATE"], subnets.map {
            [$0.subnet, "\($0.weight)", $0.owner, $0.reachable ? "reachable" : "unreachable"]
        })
    }

    func connectionsText(_ conns: [ConnectionSnapshot]) -> String {
        alignedTable(["NAME", "ADDRESS", "STATE", "DIRECTION", "OPTIONS", "MST", "OUTBUF"], conns.map {
            [$0.name ?? "<unknown>", "\($0.address) port \($0.port)", $0.state, $0.outgoing ? "outgoing" : "incoming",
             String($0.options, radix: 16), $0.mst ? "yes" : "no", "\($0.outbuf)"]
        })
    }

    /// `key value` lines in key order, the keys being the JSON ones.
    func statsText(_ st: StatsSnapshot) -> String {
        guard let data = try? JSONEncoder().encode(st),
              let fields = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return "ERROR stats\n" }
        return fields.sorted { $0.key < $1.key }.map { key, value in
            "\(key.padding(toLength: 24, withPad: " ", startingAt: 0)) \((value as? NSNumber)?.stringValue ?? "\(value)")"
        }.joined(separator: "\n") + "\n"
    }

    /// Graphviz dot of the mesh (GraphDumpFile, `dump graph`).
    public func graphDot() -> String { graphDot(snapshot([.nodes, .edges])) }

    /// Reachable nodes green, unreachable red, ourselves bold; one line per node pair with both
    /// directions' weights, dashed when only one direction exists.
    func graphDot(_ m: MeshSnapshot) -> String {
        var s = "digraph \"\(settings.netName ?? "tinc")\" {\n  graph [overlap=false, splines=true, label=\"tincd-swift mesh as seen by \(m.name)\"];\n  node [shape=box, style=filled];\n"
        for n in m.nodes {
            let color = n.myself ? "gold" : n.reachable ? "palegreen" : "lightcoral"
            // The node's subnets without their weights (net2str).
            let nets = n.subnets.prefix(4).map { $0.split(separator: "#", maxSplits: 1).first.map(String.init) ?? $0 }
            let label = ([n.name] + nets).joined(separator: "\\n")
            s += "  \"\(n.name)\" [label=\"\(label)\", fillcolor=\(color)\(n.myself ? ", penwidth=2" : "")];\n"
        }
        var weights: [String: [String: Int]] = [:]
        for e in m.edges { weights[e.from, default: [:]][e.to] = e.weight }
        for e in m.edges {
            if e.bidirectional, let back = weights[e.to]?[e.from] {
                guard e.from < e.to else { continue }   // one line per bidirectional pair
                s += "  \"\(e.from)\" -> \"\(e.to)\" [dir=both, label=\"\(e.weight)/\(back)\"\(e.mst ? ", penwidth=2" : "")];\n"
            } else {
                s += "  \"\(e.from)\" -> \"\(e.to)\" [style=dashed, label=\"\(e.weight)\"];\n"
            }
        }
        return s + "}\n"
    }
}
