import Glibc
import MeshIO

/// Installs the RIB's best routes in a Linux routing table through rtnetlink (`protocol kernel`).
///
/// Every change becomes an RTM_NEWROUTE (NLM_F_CREATE|NLM_F_REPLACE) or RTM_DELROUTE; as many as fit in
/// `Options.batchBytes` go out in one sendmsg. The kernel processes a netlink batch synchronously inside
/// sendmsg and answers every message (NLM_F_ACK), so after each send the ACKs are read back and any failure
/// is logged with the prefix and next hop it concerns (and handed to `onError`). Routes carry our protocol
/// number so `flushOwnRoutes()` can find and remove them at startup (stale routes of a crashed run) and exit.
/// Use from one thread (the control loop).
public final class KernelFIB: FIBSink {
    public struct Options {
        /// Routing table id (RTA_TABLE; 254 = main).
        public var table: UInt32 = RouteNetlink.tableMain
        /// rtm_protocol of our routes: how `flushOwnRoutes` and `ip route show proto N` find them.
        public var protocolNumber: UInt8 = KernelFIB.defaultProtocol
        /// Output interface for every route (RTA_OIF), e.g. the VPN device; needed for IPv6 link-local
        /// next hops and for device routes (next hop 0.0.0.0 / ::).
        public var interface: String?
        /// Upper bound of one sendmsg.
        public var batchBytes: Int = 64 * 1024
        /// Request an ACK for every message (errors are reported by the kernel either way).
        public var requestAcks = true
        /// `close()` (and deinit) remove our routes.
        public var flushOnClose = true
        public init() {}
    }

    public struct Failure: Equatable, CustomStringConvertible {
        public var change: FIBChange
        public var errno: Int32
        public var message: String
        public var description: String { message }
    }

    public struct Statistics: Equatable {
        public var messages = 0
        public var sends = 0
        public var failures = 0
        public var acks = 0
    }

    /// Our protocol number (outside the ranges iproute2 names; BIRD uses 12).
    public static let defaultProtocol: UInt8 = 186

    public let options: Options
    public private(set) var statistics = Statistics()
    /// Failed changes are logged; this is also told (tests, counters).
    public var onError: ((Failure) -> Void)?
    /// What we believe is installed (prefix → next hop, metric), kept to replace a metric change cleanly.
    public private(set) var installed: [IPPrefix: (nextHop: IPPrefix, metric: UInt32)] = [:]

    private var socket: NetlinkSocket?
    private var sequence: UInt32
    private let oif: UInt32?
    private var buffer: [UInt8] = []
    private var batch: [(seq: UInt32, change: FIBChange, description: String)] = []
    private var recvBuffer = [UInt8](repeating: 0, count: 256 * 1024)

    public init(options: Options = Options()) throws {
        self.options = options
        if let name = options.interface {
            guard let idx = KernelFIB.interfaceIndex(name: name) else {
                throw SystemError("kernel: no interface \(name)", errno: ENODEV)
            }
            oif = idx
        } else {
            oif = nil
        }
        switch NetlinkSocket.open(bufferSize: 8 << 20) {
        case .success(let s): socket = s
        case .failure(let e): throw SystemError("netlink socket", errno: e.code)
        }
        sequence = UInt32(truncatingIfNeeded: time(nil)) &* 2654435761
        buffer.reserveCapacity(options.batchBytes)
    }

    deinit { close() }

    /// Removes our routes (if `flushOnClose`) and closes the socket. Idempotent.
    public func close() {
        guard let s = socket else { return }
        if options.flushOnClose { flushOwnRoutes() }
        s.close()
        socket = nil
    }

    /// The kernel's index of interface `name`, or nil.
    public static func interfaceIndex(name: String) -> UInt32? {
        let i = if_nametoindex(name)
        return i == 0 ? nil : UInt32(i)
    }

    // MARK: FIBSink

    public func apply(_ changes: [FIBChange]) {
        guard socket != nil else { Log.error("kernel: FIB closed, \(changes.count) changes dropped"); return }
        for change in changes {
            switch change {
            case .add(let prefix, let nextHop, let metric):
                guard nextHop.family == prefix.family else {
                    fail(change, EAFNOSUPPORT, "kernel: cannot install \(prefix) via \(nextHop.addressString): next hop family differs")
                    continue
                }
                let direct = nextHop.hi == 0 && nextHop.lo == 0
                if direct && oif == nil {
                    fail(change, EINVAL, "kernel: cannot install \(prefix) without a next hop: no interface configured")
                    continue
                }
                if let old = installed[prefix], old.metric != metric {
                    // The metric is part of a route's key: a REPLACE with a new metric would add a second route.
                    enqueue(type: RouteNetlink.delRoute, flags: 0, prefix: prefix, gateway: nil, metric: old.metric,
                            change: .remove(prefix), description: "remove \(prefix) metric \(old.metric)")
                }
                let hop = direct ? nil : IPPrefix(family: nextHop.family, hi: nextHop.hi, lo: nextHop.lo, length: nextHop.maxLength)
                enqueue(type: RouteNetlink.newRoute, flags: RouteNetlink.flagCreate | RouteNetlink.flagReplace,
                        prefix: prefix, gateway: hop, metric: metric, change: change,
                        description: "add \(prefix) via \(direct ? "direct" : nextHop.addressString) metric \(metric)")
                installed[prefix] = (nextHop, metric)
            case .remove(let prefix):
                let old = installed.removeValue(forKey: prefix)
                enqueue(type: RouteNetlink.delRoute, flags: 0, prefix: prefix, gateway: nil, metric: old?.metric,
                        change: change, description: "remove \(prefix)")
            }
        }
        sendBatch()
    }

    private func fail(_ change: FIBChange, _ err: Int32, _ message: String) {
        statistics.failures += 1
        Log.error(message)
        onError?(Failure(change: change, errno: err, message: message))
    }

    private func enqueue(type: UInt16, flags: UInt16, prefix: IPPrefix, gateway: IPPrefix?, metric: UInt32?,
                         change: FIBChange, description: String) {
        sequence &+= 1
        let ack = options.requestAcks ? RouteNetlink.flagAck : 0
        let r = RouteNetlink.RouteRequest(type: type, flags: RouteNetlink.flagRequest | ack | flags, sequence: sequence,
                                          prefix: prefix, gateway: gateway, metric: metric, table: options.table,
                                          protocolNumber: options.protocolNumber, outputInterface: oif)
        if !buffer.isEmpty && buffer.count + r.encodedSize > options.batchBytes { sendBatch() }
        RouteNetlink.append(r, to: &buffer)
        batch.append((sequence, change, description))
    }

    /// Sends the buffered messages in one sendmsg and reads back their ACKs / errors.
    private func sendBatch() {
        guard !batch.isEmpty, let sock = socket else { return }
        defer { buffer.removeAll(keepingCapacity: true); batch.removeAll(keepingCapacity: true) }
        let n = buffer.withUnsafeBufferPointer { sock.send($0) }
        statistics.sends += 1
        statistics.messages += batch.count
        guard n == buffer.count else {
            let err: Int32 = n < 0 ? Int32(-n) : EMSGSIZE
            for b in batch { fail(b.change, err, "kernel: \(b.description): sendmsg: \(String(cString: strerror(err)))") }
            return
        }
        let first = batch[0].seq
        var outstanding = options.requestAcks ? batch.count : 0
        // Everything is processed inside sendmsg, so replies are queued already; the timeout is a safety net.
        var timeout: Int32 = options.requestAcks ? 1000 : 0
        while true {
            let got = recvBuffer.withUnsafeMutableBufferPointer { sock.receive(into: $0, timeoutMs: timeout) }
            if got == 0 {
                if outstanding > 0 { Log.warning("kernel: \(outstanding) route ACKs missing after a batch") }
                break
            }
            if got < 0 {
                Log.error("kernel: reading route ACKs: \(errnoText(Int32(-got)))\(got == -Int(ENOBUFS) ? " (ACKs lost; receive buffer overrun)" : "")")
                break
            }
            for m in RouteNetlink.messages(in: recvBuffer[0..<Int(got)]) {
                guard let ack = RouteNetlink.parseAck(m) else { continue }
                let idx = Int(ack.sequence &- first)
                guard idx >= 0, idx < batch.count else { continue }
                if options.requestAcks { outstanding -= 1 }
                statistics.acks += 1
                if ack.error != 0 { report(batch[idx], ack) }
            }
            if options.requestAcks && outstanding <= 0 { break }
            if !options.requestAcks { timeout = 0 }
        }
    }

    private func report(_ b: (seq: UInt32, change: FIBChange, description: String), _ ack: RouteNetlink.Ack) {
        if case .remove = b.change, ack.error == ESRCH {
            Log.debug(Log.protocol_, "kernel: \(b.description): already absent")
            return
        }
        if case .add(let p, _, _) = b.change { installed[p] = nil }
        var text = "kernel: \(b.description) failed: \(String(cString: strerror(ack.error)))"
        if let m = ack.message, !m.isEmpty { text += " (\(m))" }
        if ack.error == ENETUNREACH || ack.error == EHOSTUNREACH { text += "; next hop is not directly reachable" }
        fail(b.change, ack.error, text)
    }

    // MARK: Dump and flush

    /// Routes in the kernel's tables for `family` (both when nil). With `onlyOwn`, only routes with our
    /// protocol number in our table.
    public func dump(family: IPPrefix.Family? = nil, onlyOwn: Bool = true) -> [RouteNetlink.Route] {
        guard let sock = socket else { return [] }
        var out: [RouteNetlink.Route] = []
        for f in [IPPrefix.Family.ipv4, .ipv6] where family == nil || family == f {
            sequence &+= 1
            let seq = sequence
            let req = RouteNetlink.dumpRequest(family: f, sequence: seq)
            let n = req.withUnsafeBufferPointer { sock.send($0) }
            guard n == req.count else { Log.error("kernel: route dump request failed: \(String(cString: strerror(Int32(-n))))"); continue }
            var done = false
            while !done {
                let got = recvBuffer.withUnsafeMutableBufferPointer { sock.receive(into: $0, timeoutMs: 2000) }
                if got <= 0 {
                    Log.error("kernel: route dump \(got == 0 ? "timed out" : errnoText(Int32(-got)))")
                    break
                }
                for m in RouteNetlink.messages(in: recvBuffer[0..<Int(got)]) where m.sequence == seq {
                    if m.type == RouteNetlink.msgDone { done = true; break }
                    if m.type == RouteNetlink.msgError {
                        if let a = RouteNetlink.parseAck(m), a.error != 0 {
                            Log.error("kernel: route dump: \(String(cString: strerror(a.error)))")
                        }
                        done = true; break
                    }
                    guard let r = RouteNetlink.parseRoute(m), r.type == RouteNetlink.typeUnicast else { continue }
                    if onlyOwn && (r.protocolNumber != options.protocolNumber || r.table != options.table) { continue }
                    out.append(r)
                }
            }
        }
        return out
    }

    /// Removes every route with our protocol number from our table (stale ones at startup, ours at exit).
    /// Returns how many were deleted.
    @discardableResult
    public func flushOwnRoutes() -> Int {
        let routes = dump()
        installed.removeAll()
        guard !routes.isEmpty else { return 0 }
        let failuresBefore = statistics.failures
        for r in routes {
            enqueue(type: RouteNetlink.delRoute, flags: 0, prefix: r.prefix, gateway: nil, metric: r.metric,
                    change: .remove(r.prefix), description: "flush \(r.prefix) metric \(r.metric)")
        }
        sendBatch()
        let failed = statistics.failures - failuresBefore
        Log.info(Log.status, "kernel: flushed \(routes.count - failed) routes of protocol \(options.protocolNumber) from table \(options.table)")
        return routes.count - failed
    }
}
