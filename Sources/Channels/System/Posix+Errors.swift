import Glibc

extension IOError {
    /// The process or system ran out of descriptors or memory for a new connection
    /// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): retrying at once would spin.
    var isResourceExhaustion: Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(self.errnoCode)
    }

    /// The connection went away before we accepted it (`ECONNABORTED`, `EPROTO`): skip it.
    var isAbortedBeforeAccept: Bool {
        self.errnoCode == ECONNABORTED || self.errnoCode == EPROTO
    }
}
