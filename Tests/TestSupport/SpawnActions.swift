import Glibc

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
/// not export: looked up once by name.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

/// Makes the spawned child close every descriptor above standard error before it runs.
///
/// Tests run in parallel in one process, and a descriptor any of them holds without
/// close-on-exec at the moment of a spawn would live on in the child: a socket the test has
/// closed stays open in the peer's eyes for the child's whole life (a flood test once saw three
/// "leaked" server connections that a concurrently started memcached held), a pipe's write end
/// keeps another child from ever seeing EOF. Add this last: it runs after the `dup2`s.
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    if let addCloseFrom { _ = addCloseFrom(&actions, 3) }
}
