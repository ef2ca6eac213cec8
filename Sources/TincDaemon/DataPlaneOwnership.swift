// Which thread owns the data-plane workers, stated where Swift 6 checks it.
//
// A worker is built on the control thread, handed to its own Thread in `DataPlane.start()` and from
// then on run only there. The control thread keeps a reference for one thing: the worker's `mailbox`,
// a `let` whose queue is behind its own lock (Mailbox is Sendable). Nothing else of a worker (peers,
// cipher contexts, replay windows, buffers) is touched off its thread, so each cipher context is
// owned by exactly one worker by construction.
//
// When DataPlane.start() hands the workers over with `sending` (or the worker files declare this
// themselves), delete this file.

extension TxWorker: @unchecked Sendable {}
extension RxWorker: @unchecked Sendable {}
