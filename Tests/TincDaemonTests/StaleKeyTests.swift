import XCTest
import MeshCrypto
import MeshIO
@testable import TincDaemon

/// Issue 11: a peer that seals with a stale key of ours (a late ANS_KEY overtook the newer one) is
/// reported to the control thread, which sends it a fresh key. Deterministic: packets are fed to the
/// RX worker directly.
/// (An extension of DataPlaneSafetyTests for its RX helpers; the tests are named testStaleKey….)
extension DataPlaneSafetyTests {

    private func staleReports(_ rx: RxWorker) -> Int {
        rx.outbox.events.filter { if case .staleKey(1) = $0 { return true } else { return false } }.count
    }

    private func staleKeySetUp(_ sink: Sink, peerAt b: SocketAddress) throws -> (RxWorker, PacketCipher, PacketCipher) {
        let rx = makeRX(makeGraph(udpFor: b), sink: sink)
        let (current, currentRX) = try keyPair()
        let (stale, _) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, currentRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        return (rx, current, stale)
    }

    func testStaleKeyThreePacketsInARowUnderAnOlderKeyAreReportedOnce() throws {
        let sink = Sink()
        let b = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let (rx, _, stale) = try staleKeySetUp(sink, peerAt: b)
        feed(rx, packet(stale, seq: 1), from: b)
        feed(rx, packet(stale, seq: 2), from: b)
        XCTAssertEqual(staleReports(rx), 0, "two failures are not yet a stale key")
        feed(rx, packet(stale, seq: 3), from: b)
        XCTAssertEqual(staleReports(rx), 1)
        for seq: UInt32 in 4...50 { feed(rx, packet(stale, seq: seq), from: b) }
        XCTAssertEqual(staleReports(rx), 1, "at most one report a second per key")
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 50)
    }

    func testStaleKeyGoodPacketsInBetweenKeepTheKey() throws {
        let sink = Sink()
        let b = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let (rx, current, stale) = try staleKeySetUp(sink, peerAt: b)
        // Garbage (or an old in-flight packet) between real packets: never three failures in a row.
        for seq: UInt32 in 1...30 {
            feed(rx, packet(stale, seq: seq), from: b)
            feed(rx, packet(stale, seq: seq), from: b)
            feed(rx, packet(current, seq: seq), from: b)
        }
        XCTAssertEqual(staleReports(rx), 0)
        XCTAssertEqual(rx.outbox.stats.droppedBadMAC, 60)
    }

    func testStaleKeyANewKeyStartsTheCountAgain() throws {
        let sink = Sink()
        let b = try XCTUnwrap(SocketAddress(numericHost: "198.51.100.7", port: 655))
        let (rx, _, stale) = try staleKeySetUp(sink, peerAt: b)
        feed(rx, packet(stale, seq: 1), from: b)
        feed(rx, packet(stale, seq: 2), from: b)
        let (_, freshRX) = try keyPair()
        rx.mailbox.postLatest(.setKey(1, freshRX, compression: 0), key: MailboxKey.key(1))
        rx.handleMailbox()
        feed(rx, packet(stale, seq: 3), from: b)
        XCTAssertEqual(staleReports(rx), 0, "failures under the previous key do not count for the new one")
    }
}
