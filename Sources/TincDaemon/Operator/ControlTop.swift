import Foundation
import CNetShim
import Glibc
import MeshIO
import MeshStatus

/// `tincd-swift ctl top`: tinc 1.1's `tinc top` for this daemon. Every interval it takes
/// `--json dump nodes` from the control socket and shows per-node packets and bytes per second
/// (computed here from two samples) or cumulative totals. On a terminal it redraws full screen
/// (keys: n i o t sort by name / in / out / total, c toggles cumulative, q quits); otherwise, or with
/// `--once`, it prints tables and exits, for scripts.
public enum ControlTop {
    public static let usage = """
        usage: tincd-swift ctl [-c DIR | -n NET | --socket PATH] top [-d SECONDS] [--once] [--iterations N]
                                [--cumulative] [--sort name|in|out|total]
          -d, --delay SECONDS   refresh interval (default 1, at least 0.1)
          --once                print one table (rates over one interval) and exit, also on a terminal
          --iterations N        print N tables and exit (default when stdout is no terminal: 1)
          --cumulative          totals since each node joined instead of rates
          --sort KEY            name, in, out or total (default name)
        keys on a terminal: n i o t sort, c cumulative/rate, q quit

        """

    public enum SortKey: String, Sendable { case name, `in`, out, total }

    public struct Options: Equatable, Sendable {
        public var interval = 1.0
        public var once = false
        public var iterations: Int?
        public var cumulative = false
        public var sort = SortKey.name

        public init() {}

        /// Parses `top`'s own arguments; the error names the offending one.
        public static func parse(_ args: [String]) throws(TopError) -> Options {
            var o = Options()
            var rest = args[...]
            while let a = rest.popFirst() {
                func value<T>(_ expected: String, _ convert: (String) -> T?) throws(TopError) -> T {
                    guard let v = rest.popFirst() else { throw TopError("\(a) needs a value") }
                    guard let x = convert(v) else { throw TopError("\(a) \(v): expected \(expected)") }
                    return x
                }
                switch a {
                case "-d", "--delay":
                    o.interval = try value("seconds between 0.1 and 3600") { Double($0).flatMap { (0.1...3600).contains($0) ? $0 : nil } }
                case "--once":
                    o.once = true
                case "--iterations":
                    o.iterations = try value("a whole number ≥ 1") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
                case "--cumulative":
                    o.cumulative = true
                case "--sort":
                    o.sort = try value("name, in, out or total") { SortKey(rawValue: $0) }
                default:
                    throw TopError("unknown argument \(a)")
                }
            }
            return o
        }
    }

    public struct TopError: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// One node's line: rates (per second) or totals.
    public struct Row: Equatable, Sendable {
        public var name: String
        public var inPackets: Double, inBytes: Double, outPackets: Double, outBytes: Double
        public var total: Double { inBytes + outBytes }
    }

    /// Rows from two samples `seconds` apart (rates), or from `current` alone (cumulative, or the
    /// first sample). A counter that went down (the node left the graph and came back) counts from 0.
    public static func rows(previous: [NodeSnapshot]?, current: [NodeSnapshot], seconds: Double, cumulative: Bool) -> [Row] {
        let before = Dictionary((previous ?? []).map { ($0.name, $0.traffic) }, uniquingKeysWith: { a, _ in a })
        let dt = max(seconds, 1e-3)
        return current.map { n in
            let t = n.traffic
            if cumulative {
                return Row(name: n.name, inPackets: Double(t.inPackets), inBytes: Double(t.inBytes),
                           outPackets: Double(t.outPackets), outBytes: Double(t.outBytes))
            }
            guard previous != nil else { return Row(name: n.name, inPackets: 0, inBytes: 0, outPackets: 0, outBytes: 0) }
            let p = before[n.name] ?? PeerTraffic()
            func rate(_ now: UInt64, _ then: UInt64) -> Double { Double(now >= then ? now - then : now) / dt }
            return Row(name: n.name, inPackets: rate(t.inPackets, p.inPackets), inBytes: rate(t.inBytes, p.inBytes),
                       outPackets: rate(t.outPackets, p.outPackets), outBytes: rate(t.outBytes, p.outBytes))
        }
    }

    /// Largest first for the numeric keys (as tinc top), names ascending; ties by name.
    public static func sorted(_ rows: [Row], by key: SortKey) -> [Row] {
        rows.sorted { a, b in
            func k(_ r: Row) -> Double {
                switch key {
                case .name: return 0
                case .in: return r.inBytes
                case .out: return r.outBytes
                case .total: return r.total
                }
            }
            if key != .name, k(a) != k(b) { return k(a) > k(b) }
            return a.name < b.name
        }
    }

    /// The screen or printed table: a title line, the column header, one line per node and the totals.
    public static func render(_ rows: [Row], options: Options, nodes: Int, title: String) -> [String] {
        let unit = options.cumulative ? "" : "/s"
        // Formatted, not converted to an integer type: no value from the reply can trap.
        func num(_ v: Double) -> String {
            !options.cumulative && v > 0 && v < 100 ? String(format: "%.1f", v) : String(format: "%.0f", max(0, v))
        }
        func line(_ c: [String]) -> String {
            // Node names are tinc names (letters, digits, _); anything else is not sent to the terminal.
            let shown = String(c[0].unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
            let name = shown.count >= 16 ? String(shown.prefix(15)) + " " : shown.padding(toLength: 16, withPad: " ", startingAt: 0)
            return name + c[1...].map { String(repeating: " ", count: max(0, 13 - $0.count)) + $0 }.joined(separator: " ")
        }
        var out = ["\(title)  Nodes: \(nodes)  Sort: \(options.sort.rawValue)  \(options.cumulative ? "Cumulative" : "Rate over \(num(options.interval)) s")"]
        out.append(line(["Node", "IN pkts\(unit)", "IN bytes\(unit)", "OUT pkts\(unit)", "OUT bytes\(unit)"]))
        let s = sorted(rows, by: options.sort)
        for r in s { out.append(line([r.name, num(r.inPackets), num(r.inBytes), num(r.outPackets), num(r.outBytes)])) }
        let sum = s.reduce(into: [0.0, 0, 0, 0]) { a, r in a[0] += r.inPackets; a[1] += r.inBytes; a[2] += r.outPackets; a[3] += r.outBytes }
        out.append(line(["Total", num(sum[0]), num(sum[1]), num(sum[2]), num(sum[3])]))
        return out
    }

    // MARK: - running it

    /// The client's entry point: `args` are the words after `top`.
    public static func main(_ args: [String], socketPath: String) -> Int32 {
        let o: Options
        do {
            o = try Options.parse(args)
        } catch {
            writeStandardError("ctl top: \(error)\n" + usage)
            return 1
        }
        let source = Sampler(socketPath: socketPath)
        if !o.once, o.iterations == nil, let term = RawTerminal() {
            defer { term.restore() }
            return interactive(o, source, term)
        }
        return printed(o, source)
    }

    /// Takes node samples from the daemon.
    struct Sampler {
        let socketPath: String

        func sample() -> Result<[NodeSnapshot], TopError> {
            let reply: String
            do { reply = try ControlClient.request(socketPath, "--json dump nodes") } catch {
                return .failure(TopError("\(error)"))
            }
            if reply.hasPrefix("ERROR ") { return .failure(TopError(String(reply.dropFirst(6)))) }
            do {
                return .success(try JSONDecoder().decode([NodeSnapshot].self, from: Data(reply.utf8)))
            } catch {
                return .failure(TopError("unexpected reply to dump nodes: \(error)"))
            }
        }
    }

    /// Tables on stdout: `iterations` of them (1 by default), each with rates over one interval
    /// (or totals with --cumulative, which needs no interval for the first).
    static func printed(_ o: Options, _ source: Sampler) -> Int32 {
        var previous: [NodeSnapshot]?
        var previousAt = 0.0
        if !o.cumulative {
            switch source.sample() {
            case .failure(let e): writeStandardError("ctl top: \(e)\n"); return 1
            case .success(let n): previous = n; previousAt = EventLoop.now()
            }
        }
        let count = o.iterations ?? 1
        for i in 0..<count {
            if previous != nil || i > 0 { sleepSeconds(o.interval) }
            switch source.sample() {
            case .failure(let e): writeStandardError("ctl top: \(e)\n"); return 1
            case .success(let nodes):
                let now = EventLoop.now()
                let rows = rows(previous: previous, current: nodes, seconds: now - previousAt, cumulative: o.cumulative)
                let table = render(rows, options: o, nodes: nodes.count, title: title(nodes)).joined(separator: "\n") + "\n"
                writeFully(STDOUT_FILENO, table + (i + 1 < count ? "\n" : ""))
                previous = nodes
                previousAt = now
            }
        }
        return 0
    }

    static func interactive(_ start: Options, _ source: Sampler, _ term: RawTerminal) -> Int32 {
        var o = start
        var previous: [NodeSnapshot]?
        var previousAt = 0.0
        var shown: (rows: [Row], nodes: Int, title: String) = ([], 0, "")
        var nextSample = 0.0
        func redraw() { term.draw(render(shown.rows, options: o, nodes: shown.nodes, title: shown.title)) }
        while true {
            let now = EventLoop.now()
            if now >= nextSample {
                switch source.sample() {
                case .failure(let e):
                    term.restore()
                    writeStandardError("ctl top: \(e)\n")
                    return 1
                case .success(let nodes):
                    shown = (rows(previous: previous, current: nodes, seconds: now - previousAt, cumulative: o.cumulative),
                             nodes.count, title(nodes))
                    previous = nodes
                    previousAt = now
                }
                nextSample = now + o.interval
                redraw()
            }
            switch term.wait(nextSample - EventLoop.now()) {
            case .timeout:
                continue
            case .signal(let s):
                if s == SIGWINCH { redraw(); continue }
                return 128 + s
            case .keys(let keys):
                for k in keys {
                    switch k {
                    case UInt8(ascii: "q"), UInt8(ascii: "Q"), 3, 4: return 0   // q, Ctrl-C, Ctrl-D
                    case UInt8(ascii: "n"): o.sort = .name
                    case UInt8(ascii: "i"): o.sort = .in
                    case UInt8(ascii: "o"): o.sort = .out
                    case UInt8(ascii: "t"): o.sort = .total
                    case UInt8(ascii: "c"):
                        o.cumulative.toggle()
                        // The numbers change meaning: sample now (a rate then covers the time since the last sample).
                        nextSample = 0
                    default: break
                    }
                }
                redraw()
            }
        }
    }

    static func title(_ nodes: [NodeSnapshot]) -> String {
        "tincd-swift top: \(nodes.first { $0.myself }?.name ?? "?")"
    }

    static func sleepSeconds(_ s: Double) {
        var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - s.rounded(.down)) * 1e9))
        var left = timespec()
        while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
    }
}
