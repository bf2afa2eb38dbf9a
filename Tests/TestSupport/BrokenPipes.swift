import Glibc

/// Makes a write to a pipe whose reader exited fail with EPIPE instead of killing the test
/// process with SIGPIPE. Test support writes to child processes' stdin (openssl), which can
/// exit first. The library itself never needs this: its sockets write with MSG_NOSIGNAL.
public func ignoreBrokenPipes() {
    _ = signal(SIGPIPE, SIG_IGN)
}
