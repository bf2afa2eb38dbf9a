import Glibc

/// A system library loaded at run time (`dlopen`), for optional features whose library may
/// be absent: the build does not need its headers, and a machine without it gets a clear
/// error from the feature instead of a binary that does not start.
///
/// Thread-safe; the library stays loaded for the life of the process.
package final class SharedLibrary: @unchecked Sendable { // SAFETY: the handle is immutable; dlsym is thread-safe
    private let handle: UnsafeMutableRawPointer
    /// The file name that loaded.
    package let name: String

    private init(handle: UnsafeMutableRawPointer, name: String) {
        self.handle = handle
        self.name = name
    }

    /// The first of `names` that loads (e.g. `["libzstd.so.1", "libzstd.so"]`), or nil.
    package static func load(_ names: [String]) -> SharedLibrary? {
        for name in names {
            if let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) { return SharedLibrary(handle: handle, name: name) }
        }
        return nil
    }

    /// The address of the function `name`, as `type` (a `@convention(c)` function type), or
    /// nil when the library has no such symbol.
    package func function<Function>(_ name: String, as type: Function.Type) -> Function? {
        guard let address = dlsym(self.handle, name) else { return nil }
        // SAFETY: the caller names the symbol's C signature in `type` (a `@convention(c)`
        // function type, one code pointer); the library stays loaded (never `dlclose`d).
        return unsafeBitCast(address, to: type)
    }
}
