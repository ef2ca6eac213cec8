import Glibc
import XCTest
import CAllocCounter
@testable import TincDaemon

/// Issue 12: the steady-state frame path (device read → seal → sendmmsg → recvmmsg → open → device
/// write, the daemon's own TxWorker and RxWorker over loopback UDP) allocates nothing per frame.
final class FramePathCostTests: XCTestCase {
    func allocations(_ w: FrameWorkload, rounds: Int) -> (allocs: Int64, frames: Int) {
        cac_begin()
        let frames = w.run(rounds: rounds)
        return (cac_end(), frames)
    }

    func check(cipher: String, digest: String, frame: Int, besideOtherWorkers: Bool = false) throws {
        XCTAssertEqual(cac_active(), 1, "the allocation counter must see allocations, or this test proves nothing")
        let w = try FrameWorkload(frameLength: frame, cipher: cipher, digest: digest)
        if besideOtherWorkers {
            // What DataPlane sets with two TX workers: shorter send runs, late packets checked.
            w.tx.shareSequences(workers: 2)
            XCTAssertTrue(w.tx.renumberLate)
        }
        // Warm-up: first-use growth of arrays, dictionaries and OpenSSL's lazily built state.
        XCTAssertEqual(w.run(rounds: 20), 20 * TxWorker.batch, "every warm-up frame arrives")
        let rounds = 100
        let (allocs, frames) = allocations(w, rounds: rounds)
        XCTAssertEqual(frames, rounds * TxWorker.batch, "every measured frame arrives (loopback UDP, one thread)")
        XCTAssertEqual(w.sink.mismatched, 0, "frames arrive unchanged")
        XCTAssertEqual(allocs, 0, "\(cipher)/\(digest) \(frame) B: \(allocs) heap allocations for \(frames) frames")
    }

    func testDefaultSuiteAllocatesNothingPerFrame() throws {
        try check(cipher: "aes-256-cbc", digest: "sha256", frame: 1400)
    }

    func testATxWorkerBesideOthersAllocatesNothingPerFrame() throws {
        try check(cipher: "aes-256-cbc", digest: "sha256", frame: 1400, besideOtherWorkers: true)
    }

    func testSmallFramesAndTheOldDefaultSuiteAllocateNothingPerFrame() throws {
        try check(cipher: "aes-256-cbc", digest: "sha1", frame: 64 + 14)
        try check(cipher: "blowfish", digest: "sha1", frame: 1400)
    }

    /// The RX worker with a second open lane (DataPlaneThreads = 2): the helper thread opens every
    /// datagram (the RX thread is told to leave all chunks to it, so the helper's path is the one
    /// measured), the RX thread delivers them in order. Allocations are counted on every thread.
    func testOpeningOnAHelperThreadAllocatesNothingPerFrame() throws {
        let w = try FrameWorkload(frameLength: 1400, openLanes: 2)
        let crew = try XCTUnwrap(w.rx.crew)
        crew.rxOpens = false
        XCTAssertEqual(w.run(rounds: 20), 20 * TxWorker.batch, "every warm-up frame arrives")
        let before = crew.openedByHelpers
        let rounds = 100
        cac_begin_all()
        let frames = w.run(rounds: rounds)
        let allocs = cac_end_all()
        XCTAssertEqual(frames, rounds * TxWorker.batch)
        XCTAssertEqual(w.sink.mismatched, 0, "frames arrive unchanged")
        XCTAssertEqual(crew.openedByHelpers - before, rounds * TxWorker.batch, "the helper opened every frame")
        XCTAssertEqual(allocs, 0, "\(allocs) heap allocations (all threads) for \(frames) frames opened by a helper")
        // And with both lanes taking chunks, as the daemon runs.
        crew.rxOpens = true
        cac_begin_all()
        let both = w.run(rounds: rounds)
        let allocsBoth = cac_end_all()
        XCTAssertEqual(both, rounds * TxWorker.batch)
        XCTAssertEqual(allocsBoth, 0, "\(allocsBoth) heap allocations (all threads), both lanes opening")
    }

    /// A run whose last datagram is shorter (the GSO rule) comes back as the same datagrams, in
    /// order, after UDP GRO on the receiving socket; with GSO/GRO off (older kernels) too.
    func testRunsWithAShorterLastFrameArriveIntact() throws {
        let w = try FrameWorkload(frameLength: 1400)
        w.source.shortLast = 700
        w.sink.shortLength = 700
        let rounds = 30
        XCTAssertEqual(w.run(rounds: rounds), rounds * TxWorker.batch)
        XCTAssertEqual(w.sink.shortFrames, rounds)
        XCTAssertEqual(w.sink.mismatched, 0)
        XCTAssertEqual(w.sink.frames - w.sink.shortFrames, rounds * (TxWorker.batch - 1))
        if w.tx.gso && w.rx.udpGRO {
            XCTAssertGreaterThan(w.rx.outbox.stats.udpInPackets, 0)
        }
    }

    /// The counter itself: an allocation inside the window is counted (the test above can fail).
    func testTheCounterCountsAnAllocationInTheFramePath() throws {
        let w = try FrameWorkload(frameLength: 200)
        w.run(rounds: 5)
        cac_begin()
        let a = [UInt8](repeating: 1, count: Int(getpid() % 7) + 100)   // one array on the heap
        let n = cac_end()
        XCTAssertEqual(a.count > 0, true)
        XCTAssertGreaterThanOrEqual(n, 1)
    }
}
