import CLinux
import Synchronization

/// The concurrency runtime's hook on jobs queued to its global executor, set by
/// `EventLoopGroup.keepResumedTasksOnLoops()`: a job queued from a loop's thread while a
/// channel delivers its reads stays on that loop; every other job goes to the global
/// executor as before.
enum GlobalEnqueueHook {
    /// The runtime's types (swift/Runtime/ConcurrencyHooks.def): Swift calling convention,
    /// the job as its one pointer.
    private typealias Original = @convention(thin) (UnownedJob) -> Void
    private typealias Hook = @convention(thin) (UnownedJob, Original) -> Void

    private static let hook: Hook = { job, original in
        // Off the loops (most jobs) this costs one thread-specific read.
        if let loop = SelectableEventLoop.current, loop.keepResumedGlobalJob(job) { return }
        original(job)
    }

    /// Sets the hook unless a hook is set already; true when ours is the one set.
    static func install() -> Bool {
        // SAFETY: a thin function is one code pointer, which is what the runtime's hook
        // variable holds; the closure captures nothing.
        let ours = CLinux_installEnqueueGlobalHook(unsafeBitCast(Self.hook, to: UnsafeMutableRawPointer.self)) != 0
        if ours { Self.installed.store(true, ordering: .releasing) }
        return ours
    }

    /// Whether `install()` set ours (it is never taken out).
    static var isInstalled: Bool { Self.installed.load(ordering: .acquiring) }
    private static let installed = Atomic<Bool>(false)
}
