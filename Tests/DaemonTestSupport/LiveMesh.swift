// Whole daemons in one test process, no root: each MeshDaemon runs its own event loop on its own
// thread with its real listeners on 127.0.0.1 (ephemeral ports), real handshakes, gossip, packet
// keys and data-plane threads; only the device is a socketpair (SocketPairDevice) the test holds
// the other end of. Tests talk to a daemon only through its loop (`onLoop`), as the control
// socket does.
#if DEBUG || FUZZ_BUILD
import Glibc
import Foundation
import MeshCrypto
import MeshIO
import MeshRouting
import TincConfig
import TunTap
@testable import TincDaemon

public struct LiveMeshError: Error, CustomStringConvertible {
    public let description: String
}

/// One running daemon.
public final class LiveNode: @unchecked Sendable {
    public let name: String
    public let device: SocketPairDevice
    /// Only touched on the daemon's loop thread (through `onLoop`) once started.
    let daemon: MeshDaemon
    /// The TCP and UDP port the daemon listens on.
    public let port: UInt16
    private let exited = DispatchSemaphore(value: 0)
    private let stopped = Locked(false)

    init(name: String, daemon: MeshDaemon, device: SocketPairDevice) throws {
        self.name = name
        self.daemon = daemon
        self.device = device
        let started = DispatchSemaphore(value: 0)
        let failure = Locked<String?>(nil)
        let box = UncheckedBox(daemon)
        let exited = self.exited
        let thread = Thread {
            do { try box.value.start() } catch {
                failure.withLock { $0 = "\(error)" }
                started.signal()
                exited.signal()
                return
            }
            started.signal()
            box.value.run()
            exited.signal()
        }
        thread.name = "live-\(name)"
        thread.start()
        started.wait()
        if let f = failure.withLock({ $0 }) {
            stopped.withLock { $0 = true }
            throw LiveMeshError(description: "\(name) did not start: \(f)")
        }
        guard let p = UInt16(daemon.myPort), p != 0 else {
            throw LiveMeshError(description: "\(name) has no port (\(daemon.myPort))")
        }
        port = p
    }

    deinit { stop() }

    /// Runs `body` on the daemon's loop and returns its result; nil if the loop did not get to it
    /// within `timeout` seconds (or the daemon has stopped).
    public func onLoop<T>(timeout: Double = 10, _ body: @escaping (MeshDaemon) -> T) -> T? {
        guard !stopped.withLock({ $0 }) else { return nil }
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(daemon)
        daemon.loop.post {
            let r = body(box.value)
            result.withLock { $0 = r }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return result.withLock { $0 }
    }

    /// One control-socket command line (e.g. "--json dump nodes"), answered as `ctl` would be.
    public func control(_ line: String) -> String {
        onLoop { $0.controlCommand(line) } ?? "ERROR loop did not answer\n"
    }

    /// Stops the daemon as SIGTERM would (connections closed, tinc-down) and waits for its thread.
    public func stop() {
        let wasStopped = stopped.withLock { s -> Bool in
            let w = s
            s = true
            return w
        }
        guard !wasStopped else { return }
        let loop = daemon.loop
        loop.post { loop.stop() }
        exited.wait()
    }
}

/// Keys, ports and host data shared by the nodes of one test mesh.
public final class LiveMesh: @unchecked Sendable {
    /// Public keys (PEM) by node name; ports once a node listens.
    private let hosts = Locked<[String: (pem: String, port: UInt16?)]>([:])
    public let workDir: String
    public private(set) var nodes: [LiveNode] = []

    public init() throws {
        workDir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tincd-swift-live-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
    }

    deinit {
        for n in nodes.reversed() { n.stop() }
        try? FileManager.default.removeItem(atPath: workDir)
    }

    /// Starts a daemon named `name` listening on 127.0.0.1:0 with a fresh 1024-bit key (small keys
    /// keep the tests fast; the handshake is the same). `subnets` are tinc Subnet strings (in
    /// switch mode the daemon learns MACs itself). `configure` may adjust anything else, and
    /// `files` are written into its config directory first (bgp.conf, for instance); `controlSocket`
    /// opens the control socket there.
    public func start(_ name: String, mode: RoutingMode = .switch, subnets: [String] = [], connectTo: [String] = [],
                      files: [String: String] = [:], controlSocket: String? = nil,
                      configure: (inout DaemonSettings) -> Void = { _ in }) throws -> LiveNode {
        let key = try RSAKey.generate(bits: 1024)
        hosts.withLock { $0[name] = (key.publicPEM(), nil) }
        let confDir = workDir + "/" + name
        try FileManager.default.createDirectory(atPath: confDir, withIntermediateDirectories: true)
        for (file, text) in files { try text.write(toFile: confDir + "/" + file, atomically: true, encoding: .utf8) }

        var s = DaemonSettings(name: name, confDir: confDir)
        s.mode = mode
        s.port = "0"
        s.bindAddresses = [(host: "127.0.0.1", port: "0")]
        s.addressFamily = AF_INET
        s.connectTo = connectTo
        s.deviceType = mode == .switch ? .tap : .tun
        s.privateKey = key
        for text in subnets {
            guard let sub = Subnet(parsing: text) else { throw LiveMeshError(description: "bad subnet \(text)") }
            s.subnets.append(sub)
        }
        configure(&s)

        let hosts = self.hosts
        let daemon = try MeshDaemon(settings: s) { peer in
            guard let h = hosts.withLock({ $0[peer] }) else { throw LiveMeshError(description: "no host \(peer)") }
            var p = PeerSettings(name: peer)
            p.publicKey = try RSAKey.publicKey(inText: h.pem)
            if let port = h.port {
                p.port = String(port)
                p.addresses = [(host: "127.0.0.1", port: String(port))]
            }
            return p
        }
        let device = try SocketPairDevice(type: s.deviceType, interface: "live-\(name)")
        daemon.openDevice = { _ in (device, []) }
        daemon.takesSignals = false
        daemon.controlSocketPath = controlSocket
        let node = try LiveNode(name: name, daemon: daemon, device: device)
        hosts.withLock { $0[name]?.port = node.port }
        nodes.append(node)
        return node
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
    public func wait(timeout: Double = 10, until condition: () -> Bool) -> Bool {
        let end = monotonicNow() + timeout
        while monotonicNow() < end {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}

/// Carries a non-Sendable reference to the one thread that uses it.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
#endif
