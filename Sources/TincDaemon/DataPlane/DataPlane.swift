import Foundation
import CNetShim
import MeshCrypto
import MeshIO
import TunTap

/// The frame path: a TX thread (device → peers) and an RX thread (peers → device), fed by the
/// control thread through mailboxes and a published forwarding snapshot. Each thread owns its
/// cipher contexts, so no crypto state is ever shared.
final class DataPlane {
    let table: Published<ForwardingTable>
    let tx: TxWorker
    let rx: RxWorker
    private var threads: [Thread] = []

    init(device: NetworkDevice, udpSockets: [(family: Int32, fd: Int32)], initial: ForwardingTable,
         replayWindow: Int, macRefresh: Double, emit: @escaping ([DataPlaneEvent]) -> Void) {
        table = Published(initial)
        tx = TxWorker(device: device, sockets: udpSockets, table: table, macRefresh: macRefresh, emit: emit)
        rx = RxWorker(device: device, sockets: udpSockets.map(\.fd), table: table, toTX: tx.mailbox,
                      replayWindow: replayWindow, emit: emit)
    }

    func start() {
        // Workers block every signal: process-directed signals must reach the control loop's signalfd.
        let t1 = Thread { [tx] in cns_block_all_signals(); tx.run() }
        t1.name = "tincd-tx"
        let t2 = Thread { [rx] in cns_block_all_signals(); rx.run() }
        t2.name = "tincd-rx"
        threads = [t1, t2]
        t1.start()
        t2.start()
    }

    func stop() {
        tx.mailbox.post(.stop)
        rx.mailbox.post(.stop)
        // Give the workers a moment to leave their loops before the device and sockets close.
        let deadline = Date().addingTimeInterval(1)
        while threads.contains(where: { $0.isExecuting }) && Date() < deadline { usleep(2000) }
    }

    func publish(_ t: ForwardingTable) { table.store(t) }
    func setOutboundKey(_ id: Int, _ cipher: PacketCipher?, compression: Int) { tx.mailbox.post(.setKey(Int32(id), cipher, compression: compression)) }
    func setInboundKey(_ id: Int, _ cipher: PacketCipher?, compression: Int) { rx.mailbox.post(.setKey(Int32(id), cipher, compression: compression)) }
    func sendProbe(_ frame: [UInt8], to id: Int) { tx.mailbox.post(.sendProbe(frame, to: Int32(id))) }
    func route(_ frame: [UInt8], from id: Int, viaTCP: Bool) {
        tx.mailbox.post(.route(frame, from: Int32(id), viaTCP: viaTCP, deliverLocally: true))
    }
}
