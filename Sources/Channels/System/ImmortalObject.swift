import Glibc

/// Makes a shared, never-freed object immortal in the Swift runtime, so that retaining and
/// releasing it no longer writes its reference count.
///
/// Why: an object every thread retains and releases per operation (the storage of every
/// empty `ByteBuffer`, a `static let` array of flags used by every get) bounces its count's
/// cache line between cores: on a two-core AMD EPYC such objects (with the bench's shared
/// keys) made the hot-key cache's gets/s differ by 2× from run to run. `swift_retain` on an
/// immortal object only reads the count, as it does for the runtime's own empty array.
///
/// The runtime's `_swift_stdlib_immortalize` is looked up at run time; a runtime without it
/// leaves the object as it is (still correct, just contended).
package enum ImmortalObject {
    private typealias Immortalize = @convention(c) (UnsafeMutableRawPointer) -> Void

    private static let immortalize: Immortalize? = {
        // RTLD_DEFAULT: the symbol from the libraries already loaded (libswiftCore).
        // SAFETY: a null handle is `RTLD_DEFAULT`, a value dlsym takes, not a pointer it reads.
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "_swift_stdlib_immortalize") else {
            return nil
        }
        // SAFETY: the runtime's function takes the object's address and returns nothing,
        // which is `Immortalize`'s C signature; no reference passes through the cast.
        return unsafeBitCast(address, to: Immortalize.self)
    }()

    /// Returns `object`, immortal. Only for objects that live as long as the process (a
    /// `static let`): an immortal object is never freed.
    package static func make<Object: AnyObject>(_ object: Object) -> Object {
        guard let immortalize = self.immortalize else { return object }
        // Two references more, never given back, as the runtime's own immortal objects count:
        // a release subtracts from the count before it looks at the immortal flag, and from a
        // count of zero it borrowed the flag's bit and made the object mortal again (measured
        // in ImmortalObjectTests).
        // SAFETY: neither retain is ever given back, on purpose: the object lives as long as
        // the process.
        let reference = Unmanaged.passRetained(object)
        _ = reference.retain()
        // SAFETY: the pointer is used only during the call, while `object` holds the object.
        immortalize(reference.toOpaque())
        return object
    }

    /// Returns `array`, its storage immortal (see `make(_:)`); an empty array is left alone
    /// (it is the runtime's own, already immortal).
    package static func make<Element>(_ array: [Element]) -> [Element] {
        guard !array.isEmpty, MemoryLayout<[Element]>.size == MemoryLayout<AnyObject>.size else { return array }
        // SAFETY: on Linux an array is one strong reference to its storage object (checked
        // by the size above); the cast borrows that reference for the call, `array` keeps it.
        let storage = unsafeBitCast(array, to: AnyObject.self)
        _ = self.make(storage)
        return array
    }
}
