import Foundation
import MeshIO
import MeshRouting

/// Commands served on the control socket: tinc-style dumps and birdc-style BGP views,
/// as aligned text for people or (`--json`) as JSON for scripts.
enum ControlCommands {
    static let help = """
        commands:
          dump nodes | edges | subnets | connections | graph
          info NODE
          stats
          show protocols [all NAME]       (BGP)
          show route [for PREFIX] [protocol NAME] [count]   (BGP)
          configure [check]               (BGP: re-read bgp.conf and apply it, as birdc configure)
          reload | retry | purge | stop | debug LEVEL   (reload: tinc.conf, hosts/ and bgp.conf)

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

func jsonText(_ object: Any) -> String {
    guard let d = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return "{}\n" }
    return String(decoding: d, as: UTF8.self) + "\n"
}

extension MeshDaemon {
    /// Handles one control line. Errors start with "ERROR " so the client can exit non-zero.
    func controlCommand(_ line: String) -> String {
        loop.preconditionInLoop()
        var words = line.split(separator: " ").map(String.init)
        var json = false
        if words.first == "--json" { json = true; words.removeFirst() }
        guard let cmd = words.first else { return "ERROR empty command\n" + ControlCommands.help }
        let args = Array(words.dropFirst())
        switch (cmd, args.first) {
        case ("dump", "nodes"): return json ? jsonText(nodesJSON()) : nodesText()
        case ("dump", "edges"): return json ? jsonText(edgesJSON()) : edgesText()
        case ("dump", "subnets"): return json ? jsonText(subnetsJSON()) : subnetsText()
        case ("dump", "connections"): return json ? jsonText(connectionsJSON()) : connectionsText()
        case ("dump", "graph"): return graphDot()
        case ("info", let name?):
            guard let n = graph.node(named: name) else { return "ERROR Unknown node \(name).\n" }
            return json ? jsonText(nodeJSON(n)) : infoText(n)
        case ("stats", _): return json ? jsonText(statsJSON()) : statsText()
        case ("show", _):
            guard let bgp = bgpControl else { return "ERROR BGP is not running on this node (no bgp.conf).\n" }
            return bgp(words, json)
        case ("reload", _):
            // tinc.conf and hosts/ (tinc's reload), then bgp.conf as `configure` does.
            reload()
            guard bgp != nil || access(bgpConfigPath, F_OK) == 0 else { return "Configuration reloaded.\n" }
            let r = configureBGP(checkOnly: false)
            if r.hasPrefix("ERROR ") {
                return "ERROR tinc.conf and hosts/ reloaded, but bgp.conf was refused:\n" + r.dropFirst(6)
            }
            return "Configuration reloaded.\n" + r
        case ("configure", nil):
            return configureBGP(checkOnly: false)
        case ("configure", "check"?):
            return configureBGP(checkOnly: true)
        case ("configure", let sub?):
            return "ERROR configure \(sub) is not supported (configure | configure check)\n"
        case ("retry", _):
            retryNow()
            return "Retrying outgoing conns.all.\n"
        case ("purge", _):
            purge()
            return "Purged unreachable nodes.\n"
        case ("stop", _):
            loop.post { [weak self] in self?.loop.stop() }
            return "Stopping.\n"
        case ("debug", let lvl?):
            guard let l = Int(lvl) else { return "ERROR debug needs a number\n" }
            let old = Log.level
            Log.level = l
            return "Old level \(old), new level \(l).\n"
        default:
            return "ERROR Unknown command: \(line)\n" + ControlCommands.help
        }
    }

    // MARK: nodes

    func nodeJSON(_ n: Node) -> [String: Any] {
        let k = keys[n.name]
        var d: [String: Any] = [
            "name": n.name, "reachable": n.reachable, "myself": n === myself,
            "options": Int(n.options), "nexthop": n.nexthop?.name ?? NSNull(), "via": n.via?.name ?? NSNull(),
            "distance": n.distance ?? NSNull(), "connected": conns.activeByName[n.name] != nil,
            "subnets": n.subnets.map { $0.description },
        ]
        if let a = n.udpAddress { d["address"] = a.host; d["port"] = a.port }
        if let k = k {
            d["pmtu"] = k.mtu; d["minmtu"] = k.minMTU; d["maxmtu"] = k.maxMTU
            d["validkey"] = k.validKey
            d["cipher"] = k.outCipherNID; d["digest"] = k.outDigestNID; d["maclength"] = k.outMACLength; d["compression"] = k.outCompression
        }
        return d
    }

    func nodesJSON() -> [[String: Any]] { graph.nodesByName.map(nodeJSON) }

    func nodesText() -> String {
        let rows = graph.nodesByName.map { n -> [String] in
            let k = keys[n.name]
            let state = n === myself ? "myself" : n.reachable ? "reachable" : "unreachable"
            let addr = n.udpAddress.map { "\($0.host) port \($0.port)" } ?? "-"
            return [n.name, state, addr, n.nexthop?.name ?? "-", n.via?.name ?? "-",
                    String(n.options, radix: 16), k.map { "\($0.mtu) (\($0.minMTU)-\($0.maxMTU))" } ?? "-",
                    k?.validKey == true ? "yes" : "no"]
        }
        return alignedTable(["NODE", "STATE", "UDP ADDRESS", "NEXTHOP", "VIA", "OPTIONS", "PMTU (MIN-MAX)", "KEY"], rows)
    }

    func infoText(_ n: Node) -> String {
        let j = nodeJSON(n)
        var s = "Node:         \(n.name)\n"
        s += "Status:       \(n === myself ? "myself" : n.reachable ? "reachable" : "unreachable")\(conns.activeByName[n.name] != nil ? ", directly connected" : "")\n"
        s += "Address:      \(n.udpAddress.map { "\($0.host) port \($0.port)" } ?? "unknown")\n"
        s += "Reached via:  nexthop \(n.nexthop?.name ?? "-"), via \(n.via?.name ?? "-"), \(n.distance.map { "\($0) hop(s)" } ?? "no path")\n"
        s += "Options:      \(String(n.options, radix: 16))\n"
        if let k = keys[n.name] {
            s += "PMTU:         \(k.mtu) (min \(k.minMTU) max \(k.maxMTU))\n"
            s += "Packet key:   \(k.validKey ? "valid" : "none"), cipher \(k.outCipherNID) digest \(k.outDigestNID) maclength \(k.outMACLength) compression \(k.outCompression)\n"
        }
        s += "Edges:        " + (n.edges.map { "\($0.to.name) (weight \($0.weight))" }.joined(separator: ", ")) + "\n"
        s += "Subnets:      " + ((j["subnets"] as? [String])?.joined(separator: " ") ?? "") + "\n"
        return s
    }

    // MARK: edges, subnets, connections

    func edgesJSON() -> [[String: Any]] {
        graph.nodesByName.flatMap { n in n.edges.map { e in
            ["from": e.from.name, "to": e.to.name, "address": e.address, "port": e.port, "options": Int(e.options),
             "weight": e.weight, "bidirectional": e.reverse != nil, "mst": e.inMST] as [String: Any]
        } }
    }

    func edgesText() -> String {
        alignedTable(["FROM", "TO", "ADDRESS", "PORT", "OPTIONS", "WEIGHT", "MST"], edgesJSON().map {
            ["\($0["from"]!)", "\($0["to"]!)", "\($0["address"]!)", "\($0["port"]!)", String(($0["options"] as! Int), radix: 16),
             "\($0["weight"]!)", ($0["mst"] as! Bool) ? "yes" : "no"]
        })
    }

    func subnetsJSON() -> [[String: Any]] {
        graph.allSubnets().map { s, o in ["subnet": s.netString, "weight": s.weight, "owner": o.name, "reachable": o.reachable] }
    }

    func subnetsText() -> String {
        alignedTable(["SUBNET", "WEIGHT", "OWNER", "OWNER STATE"], subnetsJSON().map {
            ["\($0["subnet"]!)", "\($0["weight"]!)", "\($0["owner"]!)", ($0["reachable"] as! Bool) ? "reachable" : "unreachable"]
        })
    }

    func connectionsJSON() -> [[String: Any]] {
        conns.all.values.sorted { $0.id < $1.id }.map { c in
            ["name": c.name ?? NSNull(), "address": c.address.host, "port": Int(c.address.port),
             "state": "\(c.state)", "outgoing": c.outgoing != nil, "options": Int(c.options),
             "mst": c.inMST, "outbuf": c.outbound.queuedBytes] as [String: Any]
        }
    }

    func connectionsText() -> String {
        alignedTable(["NAME", "ADDRESS", "STATE", "DIRECTION", "OPTIONS", "MST", "OUTBUF"], connectionsJSON().map {
            ["\($0["name"] as? String ?? "<unknown>")", "\($0["address"]!) port \($0["port"]!)", "\($0["state"]!)",
             ($0["outgoing"] as! Bool) ? "outgoing" : "incoming", String(($0["options"] as! Int), radix: 16),
             ($0["mst"] as! Bool) ? "yes" : "no", "\($0["outbuf"]!)"]
        })
    }

    // MARK: stats and graph

    func statsJSON() -> [String: Any] {
        let s = stats
        return ["device_in_packets": s.deviceInPackets, "device_in_bytes": s.deviceInBytes,
                "device_out_packets": s.deviceOutPackets, "device_out_bytes": s.deviceOutBytes,
                "udp_in_packets": s.udpInPackets, "udp_out_packets": s.udpOutPackets, "tcp_fallback_frames": s.tcpFallbackFrames,
                "dropped_bad_mac": s.droppedBadMAC, "dropped_replay": s.droppedReplay, "dropped_short": s.droppedShort,
                "dropped_unknown_source": s.droppedUnknownSource, "dropped_no_key": s.droppedNoKey,
                "dropped_no_route": s.droppedNoRoute, "dropped_send_error": s.droppedSendError,
                "dropped_queue_full": s.droppedQueueFull, "dropped_seal_failed": s.droppedSealFailed,
                "nodes": graph.nodeCount, "edges": graph.edgeCount, "subnets": graph.subnetCount,
                "connections": conns.activeByName.count]
    }

    func statsText() -> String {
        statsJSON().sorted { $0.key < $1.key }.map { "\($0.key.padding(toLength: 24, withPad: " ", startingAt: 0)) \($0.value)" }.joined(separator: "\n") + "\n"
    }

    /// Graphviz dot of the mesh: reachable nodes green, unreachable red, ourselves bold; one line per
    /// node pair with both directions' weights, dashed when only one direction exists.
    public func graphDot() -> String {
        var s = "digraph \"\(settings.netName ?? "tinc")\" {\n  graph [overlap=false, splines=true, label=\"tincd-swift mesh as seen by \(myself.name)\"];\n  node [shape=box, style=filled];\n"
        for n in graph.nodesByName {
            let color = n === myself ? "gold" : n.reachable ? "palegreen" : "lightcoral"
            let label = ([n.name] + n.subnets.prefix(4).map { $0.netString }).joined(separator: "\\n")
            s += "  \"\(n.name)\" [label=\"\(label)\", fillcolor=\(color)\(n === myself ? ", penwidth=2" : "")];\n"
        }
        for n in graph.nodesByName {
            for e in n.edges {
                if let r = e.reverse {
                    guard e.from.name < e.to.name else { continue }   // one line per bidirectional pair
                    s += "  \"\(e.from.name)\" -> \"\(e.to.name)\" [dir=both, label=\"\(e.weight)/\(r.weight)\"\(e.inMST ? ", penwidth=2" : "")];\n"
                } else {
                    s += "  \"\(e.from.name)\" -> \"\(e.to.name)\" [style=dashed, label=\"\(e.weight)\"];\n"
                }
            }
        }
        return s + "}\n"
    }
}
