// Locally originated routes: `protocol static` routes (RTS_STATIC, named after the protocol so
// `proto = "static1"` filters work) and prefixes the VPN originates through BGPSpeaker.originate.

final class StaticOrigin {
    let config: StaticProtocolConfig
    let source: RouteSource
    var imported: [IPPrefix: AttrSet] = [:]
    var filtered = 0
    /// `disable NAME` (birdc) took its routes out; `enable NAME` puts them back.
    var disabledByCommand = false
    /// Wall-clock time of the last enable/disable (nil: since the speaker started).
    var since: Double?

    init(config: StaticProtocolConfig, source: RouteSource) {
        self.config = config
        self.source = source
    }
}

extension BGPSpeaker {
    func startStatic(_ s: StaticOrigin) {
        guard !s.config.common.disabled else { return }
        evaluateStatic(s)
        for (p, a) in s.imported {
            if let ch = rib.update(p, RouteEntry(attrs: a, src: s.source.id, since: nowMs())) { bestChanged(ch) }
        }
        log(.info, "\(s.config.name): \(s.imported.count) static routes imported", level: 1)
    }

    /// Runs the routes through the import policy into `s.imported` (the RIB is not touched).
    func evaluateStatic(_ s: StaticOrigin) {
        s.imported = [:]
        s.filtered = 0
        guard !s.config.common.disabled else { return }
        let policy = s.config.channel.effectiveImportPolicy
        for r in s.config.routes {
            let dest: RouteDest
            var gw: IPPrefix? = nil
            switch r.kind {
            case .blackhole: dest = .blackhole
            case .unreachable: dest = .unreachable
            case .prohibit: dest = .prohibit
            case .via(let g): dest = .unicast; gw = g
            case .viaInterface: dest = .unicast
            }
            var a = attrs.intern(PathAttributes(), isBGP: false, dest: dest, gateway: gw)
            if case .filter(let f) = policy {
                var ctx = a.filterContext(net: r.prefix, source: s.source)
                let orig = ctx
                let (v, err) = f.run(&ctx, print: { self.filterPrint(s.config.name, $0) })
                if let err { log(.warning, "\(s.config.name): \(err)") }
                guard v == .accept else { s.filtered += 1; continue }
                if ContextDiff(ctx, orig).any { a = attrs.apply(ctx, original: orig, base: a) }
            } else if policy.isNone {
                s.filtered += 1
                continue
            }
            s.imported[r.prefix] = a
        }
    }

    func stopStatic(_ s: StaticOrigin) {
        for p in s.imported.keys {
            if let ch = rib.remove(p, src: s.source.id) { bestChanged(ch) }
        }
        s.imported = [:]
    }

    func meshSource(_ name: String) -> RouteSource {
        if let s = meshSources[name] { return s }
        let s = rib.addSource(name: name, kind: .static_, preference: 200)
        meshSources[name] = s
        return s
    }
}
