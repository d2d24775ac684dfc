import Foundation
import Runtime

/// A model's own thread: the compute of a model runs there and nowhere else, with the model's
/// thread count (kernel thread counts are per calling thread), so several models in one process
/// keep theirs. Requests reach it through an inbox guarded by a condition; `work` runs one unit
/// (a decode step, an ACT step) at a time with the lock released, so requests arrive between steps.
class EngineThread: @unchecked Sendable {
    let id: String
    /// Requests that may wait while every slot is busy; more are refused (503).
    let queueLimit: Int
    let condition = NSCondition()
    private var thread: Thread?
    /// Set under `condition` when the server stops: waiting and running requests are cancelled.
    private(set) var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    init(id: String, queueLimit: Int) {
        self.id = id
        self.queueLimit = queueLimit
    }

    func start() {
        let thread = Thread { [self] in
            loop()
            finished.signal()
        }
        thread.name = "recur-engine-\(id)"
        // The stack the CLI's main thread runs the same code on (a secondary thread gets less).
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Cancels what is left and waits for the thread to end.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
        if thread != nil { finished.wait() }
    }

    private func loop() {
        while true {
            condition.lock()
            while !stopping && !hasWork() { condition.wait() }
            if stopping {
                condition.unlock()
                shutdown()
                return
            }
            admit()
            condition.unlock()
            work()
        }
    }

    /// Empties `list` under the lock and returns what it held (a stopping engine takes its
    /// waiting requests this way, then fails them with the lock released: finishing a request
    /// can call back into the engine).
    func takeAll<T>(_ list: inout [T]) -> [T] {
        condition.withLock {
            defer { list.removeAll() }
            return list
        }
    }

    // Subclasses: called with `condition` locked.
    /// Whether there is anything to do (waiting requests, cancellations, running sequences).
    func hasWork() -> Bool { false }
    /// Moves waiting requests into free slots and takes cancellations.
    func admit() {}
    // Called with `condition` unlocked, on the engine thread.
    /// One unit of compute.
    func work() {}
    /// Ends every waiting and running request (the server is stopping).
    func shutdown() {}
}
