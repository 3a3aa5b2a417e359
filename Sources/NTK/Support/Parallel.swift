#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A small parallel loop on POSIX threads, for elementwise work that BLAS does not parallelise.
///
/// `forEach(count:threads:progress:work:)` runs `work(item, worker)` for every item in
/// `0..<count` on up to `threads` threads, the caller's thread being worker 0; items are handed
/// out one at a time. The progress callback runs on the caller's thread only (as the C API
/// promises), after each of its items; cancelling stops every worker at its next item. The first
/// error thrown by any item stops the loop and is rethrown.
enum Parallel {
    /// Threads to use by default: the BLAS thread count, which users already set for libntk.
    static var defaultThreads: Int { max(1, BLAS.info.threadCount) }

    final class Loop: @unchecked Sendable {
        let count: Int
        let work: (Int, Int) throws -> Void
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        /// One slot per worker, written only by that worker and read after the joins, so no lock
        /// is needed (and ThreadSanitizer can see that there is no race).
        let failures: UnsafeMutablePointer<NTKError?>
        let workers: Int

        init(count: Int, workers: Int, work: @escaping (Int, Int) throws -> Void) {
            self.count = count
            self.work = work
            self.workers = workers
            failures = .allocate(capacity: workers)
            failures.initialize(repeating: nil, count: workers)
        }

        deinit {
            failures.deinitialize(count: workers)
            failures.deallocate()
        }

        /// Runs items until none are left; `afterEach` runs after each of this worker's items.
        func drain(worker: Int, afterEach: () throws -> Void = {}) {
            while !stop.load(ordering: .relaxed) {
                let item = next.add(1, ordering: .relaxed).oldValue
                if item >= count { return }
                do {
                    try work(item, worker)
                    done.add(1, ordering: .relaxed)
                    try afterEach()
                } catch {
                    if failures[worker] == nil {
                        failures[worker] = error as? NTKError ?? NTKError(.internalError, "\(error)")
                    }
                    stop.store(true, ordering: .relaxed)
                }
            }
        }
    }

    static func forEach(count: Int, threads: Int = defaultThreads, progress: ProgressHandler = .none,
                        work: @escaping (Int, Int) throws -> Void) throws {
        let helpers = max(0, min(threads, count) - 1)
        let loop = Loop(count: count, workers: helpers + 1, work: work)
        var ids: [pthread_t] = []
        for w in 1...max(helpers, 1) where helpers > 0 {
            let context = Unmanaged.passRetained(Helper(loop: loop, worker: w)).toOpaque()
            var id = pthread_t()
            if pthread_create(&id, nil, { raw in
                guard let raw else { return nil }
                let helper = Unmanaged<Helper>.fromOpaque(raw).takeRetainedValue()
                helper.loop.drain(worker: helper.worker)
                return nil
            }, context) == 0 {
                ids.append(id)
            } else {
                Unmanaged<Helper>.fromOpaque(context).release()  // no thread: the caller does the work
            }
        }
        loop.drain(worker: 0) {
            try progress.report(0.99 * Double(loop.done.load(ordering: .relaxed)) / Double(max(count, 1)))
        }
        for id in ids { pthread_join(id, nil) }
        for w in 0..<loop.workers { if let error = loop.failures[w] { throw error } }
    }

    private final class Helper: @unchecked Sendable {
        let loop: Loop
        let worker: Int
        init(loop: Loop, worker: Int) {
            self.loop = loop
            self.worker = worker
        }
    }
}
