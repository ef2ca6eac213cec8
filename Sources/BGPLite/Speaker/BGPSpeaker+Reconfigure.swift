// `configure`: a new bgp.conf applied to the running speaker as BIRD applies one (nest/proto.c
// protos_commit, channel_reconfigure). Unchanged protocols are not touched, so their sessions keep
// their uptime; a changed import policy is applied by asking the peer to send its routes again
// (ROUTE-REFRESH; Adj-RIB-In is kept only after import filtering, as in BIRD without `import table`),
// and a peer without route refresh gets its session restarted, as BIRD does; a changed export
// policy re-runs the export of the whole table, so only the differences go out as UPDATEs and
// withdrawals. Other changes restart that one protocol; new protocols start, removed ones stop.
import MeshIO

/// How a dynamic (mesh) peer was requested: enough to build its definition again from a changed template.
struct DynamicPeerRequest {
    var neighbor: IPPrefix
    var neighborAS: UInt32
    var localAddress: IPPrefix?
    var template: String?
    var nextHop6: IPPrefix?
}

extension BGPSpeaker {
    /// What `new` would change, or why it cannot be applied while running (nothing is changed either way).
    public func planReconfiguration(to new: BGPConfig, templates newTemplates: [String: BGPProtocolConfig]) throws -> ConfigDiff {
        let diff = ConfigDiff.compute(old: config, new: new, oldTemplates: templates, newTemplates: newTemplates)
        if diff.routerIDChanged && new.routerID == nil && BGPSpeaker.defaultRouterID() == nil {
            throw BGPSpeakerError("Cannot determine router ID, please configure it manually")
        }
        for p in diff.protocols {
            switch (p.kind, p.change) {
            case ("Kernel", .add), ("Kernel", .enable):
                // The netlink connection and its table are set up at start from the kernel protocols then present.
                if fib == nil {
                    throw BGPSpeakerError("protocol \(p.name): a kernel protocol cannot be added while running (the kernel table is opened at start); restart tincd-swift to add it")
                }
            case ("Kernel", .restart(let why)):
                throw BGPSpeakerError("protocol \(p.name): \(why); kernel table options take effect only after a restart of tincd-swift")
            case ("BFD", let c) where c != .unchanged:
                throw BGPSpeakerError("protocol \(p.name): BFD protocol changes take effect only after a restart of tincd-swift")
            default:
                continue
            }
        }
        return diff
    }

    /// Applies `new` (see the file comment). Returns BIRD-style lines saying what was done, ending
    /// with "Reconfigured"; throws (changing nothing) when the configuration cannot be applied live.
    @discardableResult
    public func reconfigure(to new: BGPConfig, templates newTemplates: [String: BGPProtocolConfig]) throws -> [String] {
        let diff = try planReconfiguration(to: new, templates: newTemplates)
        let old = config
        config = new
        templates = newTemplates
        var lines: [String] = []
        func say(_ line: String) {
            lines.append(line)
            log(.info, line)
        }
        if diff.routerIDChanged, let id = new.routerID ?? BGPSpeaker.defaultRouterID(), id != routerID {
            routerID = id
            say("Router ID changed to \(BGPSpeaker.formatID(id))")
        }
        let newByName = Dictionary(new.protocols.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var kernelChanged = false
        for p in diff.protocols {
            var change = p.change
            if diff.routerIDChanged && p.kind == "BGP" && change != .add && change != .remove {
                change = .restart(reason: "router ID changed")   // the OPEN carries it
            }
            let definition = change == .remove ? old.protocolNamed(p.name) : newByName[p.name]
            switch definition {
            case .bgp(let b)?:
                applyBGP(change, name: p.name, definition: b, say: say)
            case .static_(let sc)?:
                applyStatic(change, definition: sc, say: say)
            case .kernel?:
                if change != .unchanged { kernelChanged = true }
                sayGeneric(change, p.name, say: say)
            default:
                // device/direct/bfd: no running state in BGPLite beyond the definition (BFD changes were refused).
                sayGeneric(change, p.name, say: say)
            }
        }
        for s in sessions where s.dynamic {
            guard let r = dynamicRequests[s.name] else { continue }
            var affected = diff.routerIDChanged
            if let t = r.template {
                // The template, or a configured protocol used as one, changed.
                affected = affected || diff.changedTemplates.contains(t)
                    || diff.protocols.contains { $0.name == t && $0.change != .unchanged }
            }
            guard affected, let c = dynamicPeerConfig(name: s.name, r, warn: false) else { continue }
            let change = diff.routerIDChanged ? .restart(reason: "router ID changed") : ConfigDiff.compareBGP(s.config, c)
            applyBGP(change, name: s.name, definition: c, say: say)
        }
        if kernelChanged {
            kernels = new.protocols.compactMap { if case .kernel(let k) = $0 { return k } else { return nil } }
            refeedKernel()
        }
        say("Reconfigured")
        statusChanged()
        return lines
    }

    private func sayGeneric(_ change: ProtocolChange, _ name: String, say: (String) -> Void) {
        switch change {
        case .unchanged: break
        case .add: say("Adding protocol \(name)")
        case .remove: say("Removing protocol \(name)")
        case .enable: say("Enabling protocol \(name)")
        case .disable: say("Disabling protocol \(name)")
        case .restart: say("Restarting protocol \(name)")
        case .reload(let imp, let exp):
            for f in familiesInOrder(imp, exp) { say("Reloading channel \(name).\(f == .ipv4 ? "ipv4" : "ipv6")") }
        }
    }

    private func familiesInOrder(_ a: [IPPrefix.Family], _ b: [IPPrefix.Family]) -> [IPPrefix.Family] {
        [IPPrefix.Family.ipv4, .ipv6].filter { a.contains($0) || b.contains($0) }
    }

    // MARK: - BGP

    private func applyBGP(_ change: ProtocolChange, name: String, definition c: BGPProtocolConfig, say: (String) -> Void) {
        let current = sessions.first { $0.name == name }
        switch change {
        case .unchanged:
            current?.config.description = c.description
        case .add:
            let src = rib.addSource(name: name, kind: .bgp, preference: UInt32(c.channels.first?.preference ?? 100))
            let s = Session(speaker: self, config: c, source: src, dynamic: false)
            sessions.append(s)
            if started { ensureListener(for: s); s.start() }
            say("Adding protocol \(name)")
        case .remove:
            guard let s = current else { return }
            s.stop(notification: .cease(.peerDeconfigured), reason: "Protocol removed from the configuration")
            sessions.removeAll { $0 === s }
            establishedSessions.removeAll { $0 === s }
            forgetListenerKey(of: s.config, keeping: nil)
            say("Removing protocol \(name)")
        case .enable, .disable, .restart:
            guard let s = current else { return }
            // BIRD bgp_shutdown: PDC_CF_DISABLE sends "peer de-configured", PDC_CF_RESTART "other configuration change".
            let n: NotificationMessage = change == .disable ? .cease(.peerDeconfigured) : .cease(.otherConfigurationChange)
            let why: String
            switch change {
            case .enable: why = "Enabling protocol \(name)"
            case .disable: why = "Disabling protocol \(name)"
            case .restart(let r): why = "Restarting protocol \(name)"; log(.info, "\(name): \(r)", level: 1)
            default: why = ""
            }
            replaceSession(s, with: c, notification: n)
            say(why)
        case .reload(let imp, let exp):
            guard let s = current else { return }
            let importNow = s.established != nil ? imp.filter { s.negotiatedFamilies.contains($0 == .ipv4 ? .ipv4Unicast : .ipv6Unicast) } : []
            if !importNow.isEmpty && !(s.peerOpen?.supportsRouteRefresh ?? false) {
                // channel_reloadable: without route refresh the routes cannot be asked for again.
                log(.info, "\(name): import policy changed and the peer does not support route refresh", level: 1)
                replaceSession(s, with: c, notification: .cease(.otherConfigurationChange))
                say("Restarting protocol \(name)")
                return
            }
            s.adoptPolicies(of: c)
            for f in importNow { s.requestRouteRefresh(f == .ipv4 ? .ipv4Unicast : .ipv6Unicast) }
            if !exp.isEmpty { s.reexport(exp) }
            for f in familiesInOrder(imp, exp) { say("Reloading channel \(name).\(f == .ipv4 ? "ipv4" : "ipv6")") }
        }
    }

    /// Stops `old` (sending `notification`) and starts a session with definition `c` in its place,
    /// keeping the route source (its routes were flushed by the stop).
    private func replaceSession(_ old: Session, with c: BGPProtocolConfig, notification: NotificationMessage) {
        old.stop(notification: notification, reason: "Restarted by configure")
        establishedSessions.removeAll { $0 === old }
        old.source.preference = UInt32(c.channels.first?.preference ?? 100)
        let s = Session(speaker: self, config: c, source: old.source, dynamic: old.dynamic)
        if let i = sessions.firstIndex(where: { $0 === old }) { sessions[i] = s } else { sessions.append(s) }
        forgetListenerKey(of: old.config, keeping: c)
        if started { ensureListener(for: s); s.start() }
    }

    /// A TCP MD5 key set on a listening socket for a neighbor that no longer has one (or is gone)
    /// would make the kernel drop that neighbor's unsigned connections: remove it.
    private func forgetListenerKey(of old: BGPProtocolConfig, keeping new: BGPProtocolConfig?) {
        guard old.password != nil, let n = old.neighborAddress else { return }
        if let new, new.password != nil, new.neighborAddress == n, new.localAddress == old.localAddress,
           new.localPort == old.localPort { return }   // ensureListener sets the new key
        let host = old.localAddress?.addressString ?? (n.family == .ipv4 ? "0.0.0.0" : "::")
        guard let fd = listeners["\(host)|\(old.localPort)"], let peer = SocketAddress(numericHost: n.addressString, port: 0) else { return }
        do { try Sockets.setTCPMD5(fd, peer: peer, key: []) } catch {
            log(.warning, "\(old.name): cannot remove the TCP MD5 key from the listening socket: \(error)")
        }
    }

    // MARK: - Static

    private func applyStatic(_ change: ProtocolChange, definition c: StaticProtocolConfig, say: (String) -> Void) {
        let current = statics.first { $0.config.name == c.name }
        switch change {
        case .unchanged:
            return
        case .add:
            let src = rib.addSource(name: c.name, kind: .static_, preference: UInt32(c.channel.preference ?? 200))
            let s = StaticOrigin(config: c, source: src)
            statics.append(s)
            if started { startStatic(s) }
            say("Adding protocol \(c.name)")
        case .remove:
            guard let s = current else { return }
            stopStatic(s)
            statics.removeAll { $0 === s }
            say("Removing protocol \(c.name)")
        case .enable, .disable, .restart:
            guard let s = current else { return }
            stopStatic(s)
            s.source.preference = UInt32(c.channel.preference ?? 200)
            let n = StaticOrigin(config: c, source: s.source)
            if let i = statics.firstIndex(where: { $0 === s }) { statics[i] = n }
            if started { startStatic(n) }
            sayGeneric(change, c.name, say: say)
        case .reload:
            guard let s = current else { return }
            let n = StaticOrigin(config: c, source: s.source)
            if let i = statics.firstIndex(where: { $0 === s }) { statics[i] = n }
            if started { reloadStatic(from: s, to: n) }
            sayGeneric(change, c.name, say: say)
        }
    }

    /// Only the routes whose result changed are updated or withdrawn (interned attributes compare by identity).
    func reloadStatic(from old: StaticOrigin, to new: StaticOrigin) {
        let pref = UInt32(new.config.channel.preference ?? 200)
        let prefChanged = new.source.preference != pref
        new.source.preference = pref
        evaluateStatic(new)
        for (p, a) in new.imported where prefChanged || old.imported[p] !== a {
            if let ch = rib.update(p, RouteEntry(attrs: a, src: new.source.id, since: nowMs())) { bestChanged(ch) }
        }
        for p in old.imported.keys where new.imported[p] == nil {
            if let ch = rib.remove(p, src: new.source.id) { bestChanged(ch) }
        }
        log(.info, "\(new.config.name): \(new.imported.count) static routes imported", level: 1)
    }

    // MARK: - Kernel

    /// Every selected route through the (changed) kernel export again; kernelExport installs or
    /// removes only what differs from what is installed.
    func refeedKernel() {
        guard fib != nil else { return }
        var seen = Set<IPPrefix>()
        for (p, e) in rib.table {
            seen.insert(p)
            kernelExport(BestChange(prefix: p, old: nil, new: e))
        }
        for p in Array(fibInstalled.keys) where !seen.contains(p) {
            kernelExport(BestChange(prefix: p, old: nil, new: nil))
        }
    }
}

extension Session {
    /// Takes the channel policies (and limits) of `c`; everything else in `c` equals the running definition.
    func adoptPolicies(of c: BGPProtocolConfig) {
        config = c
        if !c.channels.isEmpty { channels = c.channels }
        takeFamilyPolicies()
        resetExportCache()
    }

    /// RFC 2918: the peer sends its Adj-RIB-Out for `f` again; the new import policy judges every route
    /// (with enhanced route refresh, routes it does not send again are withdrawn at its EoRR).
    func requestRouteRefresh(_ f: AFISAFI) {
        guard let c = established, !c.closed else { return }
        log(.info, "Sending route refresh request for \(f)", level: 1)
        c.send(BGPMessage.routeRefresh(.request(f)).encode(options: options))
    }

    /// The export policy changed: the whole table is exported again; `queue` drops what the
    /// Adj-RIB-Out already holds, so only changes are sent.
    func reexport(_ families: [IPPrefix.Family]) {
        guard established != nil else { return }
        let rib = speaker.rib
        for (p, e) in rib.table where families.contains(p.family) {
            queue(p, exportRoute(p, e))
        }
        for p in adjOut.keys where families.contains(p.family) && rib.table[p] == nil {
            queue(p, nil)
        }
        speaker.scheduleFlush(self)
    }
}

extension BGPSpeaker {
    /// `configure` / `configure check` with the bgp.conf at `path` (includes are read relative to it):
    /// BIRD's reply lines ("Reading configuration from", what changed, "Reconfigured" or
    /// "Configuration OK"). `ok` is false when the file was refused; the running configuration then stays.
    public func configure(path: String, checkOnly: Bool) -> (ok: Bool, lines: [String]) {
        var lines = ["Reading configuration from \(path)"]
        do {
            let (c, t) = try BGPCommand.loadConfig(path: path)
            if checkOnly {
                _ = try planReconfiguration(to: c, templates: t)
                lines.append("Configuration OK")
            } else {
                lines += try reconfigure(to: c, templates: t)
            }
            return (true, lines)
        } catch {
            log(.error, "\(path): configuration refused, the running one is kept: \(error)")
            lines.append("\(error)")
            lines.append("The running configuration is kept")
            return (false, lines)
        }
    }
}
