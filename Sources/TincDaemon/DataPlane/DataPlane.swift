import Foundation
import CNetShim
import MeshCrypto
import MeshIO
import TunTap

/// The frame path: one TX thread per device queue (device → peers) and an RX thread (peers →
/// device) with helper threads that open received datagrams beside it (`OpenCrew`), fed by the
/// control thread through mailboxes and a published forwarding snapshot. Each thread owns its
/// cipher contexts, so no crypto state is ever shared; the TX workers share only each outbound
/// key's `SendSequence` (an atomic counter).
final class DataPlane {
    let table: Published<ForwardingTable>
    /// The TX workers, one per device queue. The first also takes the frames other threads hand
    /// over (relayed by RX, from TCP PACKETs, MTU probes).
    let txs: [TxWorker]
    var tx: TxWorker { txs[0] }
    let rx: RxWorker
    /// Worker → control thread; at most this many events posted and not yet handled.
    let events: EventChannel
    static let eventLimit = 8192
    private var threads: [Thread] = []
    /// Workers whose run loop has returned; stop() waits on it (under a lock, so everything a worker
    /// did happens-before the device and sockets are closed).
    private let finished = Locked(0)

    // Control-thread state.
    /// Node ids whose `forget` is not yet acknowledged by both workers, with the acks still due.
    private var pendingForget: [Int32: Int] = [:]
    /// Ids of nodes removed from the graph since the last table publish (forgotten after it).
    var removedIDs: [Int] = []
    /// When an unsolicited ANS_KEY was last sent per id (`noInboundKey`).
    private var keyResent: [Int32: Double] = [:]
    static let keyResendInterval = 10.0

    /// At most one unsolicited ANS_KEY per node per `keyResendInterval` seconds.
    func mayResendKey(_ id: Int32, now: Double) -> Bool {
        if let at = keyResent[id], now - at < DataPlane.keyResendInterval { return false }
        if keyResent.count > 65536 { keyResent.removeAll() }
        keyResent[id] = now
        return true
    }

    /// `deliver(events, done)` must run the batch on the control thread and call `done` after it.
    /// `moreQueues`: further queues of a multi-queue device, one more TX worker each.
    /// `openLanes`: threads that open received datagrams, the RX thread included (DataPlaneThreads).
    init(device: NetworkDevice, moreQueues: [NetworkDevice] = [], udpSockets: [(family: Int32, fd: Int32)],
         initial: ForwardingTable, replayWindow: Int, macRefresh: Double, peerIDCapacity: Int = PeerCounters.defaultCapacity,
         openLanes: Int = 1,
         deliver: @escaping ([DataPlaneEvent], @escaping () -> Void) -> Void) {
        let table = Published(initial)
        let events = EventChannel(limit: DataPlane.eventLimit, deliver: deliver)
        self.table = table
        self.events = events
        let workers = ([device] + moreQueues).map {
            TxWorker(device: $0, sockets: udpSockets, table: table, macRefresh: macRefresh, events: events,
                     peerIDCapacity: peerIDCapacity)
        }
        for w in workers { w.shareSequences(workers: workers.count) }
        txs = workers
        rx = RxWorker(device: device, queues: [device] + moreQueues, sockets: udpSockets.map(\.fd), table: table, toTX: workers[0].mailbox,
                      replayWindow: replayWindow, events: events, peerIDCapacity: peerIDCapacity, openLanes: openLanes)
    }

    /// A data-plane thread, named for the OS too. Workers block every signal: process-directed
    /// signals must reach the control loop's signalfd.
    private func worker(_ name: String, _ body: @escaping @Sendable () -> Void) -> Thread {
        let t = Thread { [finished] in
            cns_block_all_signals()
            ThreadName.setCurrent(name)
            body()
            finished.withLock { $0 += 1 }
        }
        t.name = name
        return t
    }

    func start() {
        for (i, tx) in txs.enumerated() {
            threads.append(worker(txs.count == 1 ? "tincd-tx" : "tincd-tx\(i)") { tx.run() })
        }
        threads.append(worker("tincd-rx") { [rx] in rx.run() })
        if let crew = rx.crew {
            for lane in 1..<crew.lanes {
                threads.append(worker("tincd-rx\(lane)") { crew.runHelper(lane: lane) })
            }
        }
        for t in threads { t.start() }
    }

    func stop() {
        for tx in txs { tx.mailbox.postLatest(.stop, key: MailboxKey.stop) }
        rx.mailbox.postLatest(.stop, key: MailboxKey.stop)
        rx.crew?.stop()
        // Give the workers a moment to leave their loops before the device and sockets close.
        let deadline = Date().addingTimeInterval(1)
        while finished.withLock({ $0 }) < threads.count && Date() < deadline { usleep(2000) }
        if let crew = rx.crew {
            // Shows whether the open lanes took part (tests and operators read it in the log).
            Log.info(2, "Data plane: RX open helpers opened \(crew.openedByHelpers) datagrams")
        }
    }

    /// Every worker's counters of node id `id`, summed now (any thread may call it; the control
    /// thread does, for snapshots). Each worker writes only its own table, so this takes no lock.
    func peerTraffic(_ id: Int) -> PeerTotals {
        var t = PeerTotals()
        for tx in txs { tx.counters.read(id, into: &t) }
        rx.counters.read(id, into: &t)
        return t
    }

    func publish(_ t: ForwardingTable) { table.store(t) }
    /// Every TX worker gets its own copy of the key's contexts and the one shared seqno counter.
    func setOutboundKey(_ id: Int, _ cipher: PacketCipher?, compression: Int) {
        guard let i = Int32(exactly: id) else { return }
        let sequence = SendSequence()
        for (n, tx) in txs.enumerated() {
            var copy = cipher
            if n > 0, let c = cipher {
                do { copy = try c.duplicate() } catch {
                    // Cannot happen for a key the first copy accepted; that worker then sends by TCP.
                    Log.error("Data plane: cannot copy the packet key for node id \(id) to TX worker \(n): \(error)")
                    copy = nil
                }
            }
            tx.mailbox.postLatest(.setKey(i, copy, compression: compression, sequence: sequence), key: MailboxKey.key(i))
        }
    }
    func setInboundKey(_ id: Int, _ cipher: PacketCipher?, compression: Int) {
        guard let i = Int32(exactly: id) else { return }
        rx.mailbox.postLatest(.setKey(i, cipher, compression: compression), key: MailboxKey.key(i))
    }

    /// KeyExpire: the node's inbound key opens packets for a few seconds more (those in flight),
    /// then none until a new one is set.
    func retireInboundKey(_ id: Int) {
        guard let i = Int32(exactly: id) else { return }
        rx.mailbox.postLatest(.retireKey(i), key: MailboxKey.key(i))
    }

    /// Drops both keys of a node (it became unreachable); no acknowledgement.
    func forgetKeys(_ id: Int) {
        setOutboundKey(id, nil, compression: 0)
        setInboundKey(id, nil, compression: 0)
    }

    /// A node was removed from the graph: every worker drops everything it holds for its id and
    /// acknowledges with `.forgotten`; `acknowledgeForget` says when the id may be reused.
    /// Call after publishing a forwarding table without the node.
    func forgetNode(_ id: Int) {
        guard let i = Int32(exactly: id) else { return }
        pendingForget[i] = txs.count + 1
        keyResent[i] = nil
        for tx in txs { tx.mailbox.postLatest(.forget(i), key: MailboxKey.forget(i)) }
        rx.mailbox.postLatest(.forget(i), key: MailboxKey.forget(i))
    }

    /// Handles one worker's `.forgotten(id)`; true once every worker has forgotten the id.
    func acknowledgeForget(_ id: Int32) -> Bool {
        guard let due = pendingForget[id] else { return false }
        if due <= 1 {
            pendingForget[id] = nil
            return true
        }
        pendingForget[id] = due - 1
        return false
    }

    /// Ids waiting for the workers' acknowledgement (tests, diagnostics).
    var forgetsPending: Int { pendingForget.count }

    /// Frames the first TX worker's mailbox holds (diagnostics; the others take no frames).
    var txQueued: Int { tx.mailbox.queued }

    func sendProbe(_ frame: [UInt8], to id: Int) {
        guard let i = Int32(exactly: id) else { return }
        tx.mailbox.post(.sendProbe(frame, to: i))
    }
    func route(_ frame: [UInt8], from id: Int, viaTCP: Bool) {
        guard let i = Int32(exactly: id) else { return }
        tx.mailbox.post(.route(frame, from: i, viaTCP: viaTCP, deliverLocally: true))
    }
}
