/// A first-in, first-out queue in a ring buffer that grows by doubling: `append` at the back,
/// `removeFirst` at the front, both O(1) and without copying the element.
///
/// For per-request bookkeeping on hot paths. swift-collections' `Deque.append` hands its
/// element to a closure, which copies it (a retain and a release per reference it holds);
/// here the element is moved in and moved out. A value type: copies share storage until one
/// of them changes (copy-on-write).
///
/// SPI, not `package`, and inlinable: with `package` access other modules called the
/// unspecialized generic code, which looked up the storage's generic metadata on every change
/// (`swift_getGenericMetadata` under the pool's get); as `@_spi(ChannelsCollections) public`
/// it is specialized where it is used. Not API: nothing outside this package should import it.
///
/// ```swift
/// var queue = RingQueue<Int>()
/// queue.append(1)
/// queue.append(2)
/// queue.first += 10
/// queue.removeFirst()  // 11
/// ```
@_spi(ChannelsCollections) public struct RingQueue<Element> {
    @usableFromInline var storage: Storage

    @inlinable
    public init() {
        self.storage = Storage(capacity: 0)
    }

    @inlinable public var count: Int { self.storage.count }
    @inlinable public var isEmpty: Bool { self.storage.count == 0 }

    /// Adds `element` at the back.
    @inlinable
    public mutating func append(_ element: consuming Element) {
        self.makeUnique(minimumCapacity: self.storage.count + 1)
        self.storage.append(element)
    }

    /// Removes and returns the front element. The queue must not be empty.
    @inlinable @discardableResult
    public mutating func removeFirst() -> Element {
        precondition(!self.isEmpty, "removeFirst on an empty RingQueue")
        self.makeUnique(minimumCapacity: 0)
        return self.storage.removeFirst()
    }

    /// The front element, read or changed in place. The queue must not be empty.
    @inlinable
    public var first: Element {
        _read {
            precondition(!self.isEmpty, "first of an empty RingQueue")
            yield self.storage.slot(0).pointee
        }
        _modify {
            precondition(!self.isEmpty, "first of an empty RingQueue")
            self.makeUnique(minimumCapacity: 0)
            yield &self.storage.slot(0).pointee
        }
    }

    /// The element `offset` places from the front, read in place. `offset` must be below
    /// `count`.
    @inlinable
    public subscript(offset: Int) -> Element {
        _read {
            precondition(offset >= 0 && offset < self.count, "RingQueue offset out of range")
            yield self.storage.slot(offset).pointee
        }
    }

    /// Removes every element (the buffer is kept for reuse).
    @inlinable
    public mutating func removeAll() {
        if isKnownUniquelyReferenced(&self.storage) {
            self.storage.removeAll()
        } else {
            self.storage = Storage(capacity: 0)
        }
    }

    /// Copies the storage when it is shared, and doubles it when it has fewer than
    /// `minimumCapacity` slots.
    @inlinable
    mutating func makeUnique(minimumCapacity: Int) {
        let unique = isKnownUniquelyReferenced(&self.storage)
        guard !unique || self.storage.capacity < minimumCapacity else { return }
        var capacity = Swift.max(self.storage.capacity, 4)
        while capacity < minimumCapacity { capacity *= 2 }
        self.storage = self.storage.copy(capacity: capacity, moving: unique)
    }
}

@_spi(ChannelsCollections) extension RingQueue: Sequence {
    public struct Iterator: IteratorProtocol {
        @usableFromInline let storage: Storage
        @usableFromInline var offset = 0

        @inlinable
        init(storage: Storage) {
            self.storage = storage
        }

        @inlinable
        public mutating func next() -> Element? {
            guard self.offset < self.storage.count else { return nil }
            defer { self.offset += 1 }
            return self.storage.slot(self.offset).pointee
        }
    }

    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(storage: self.storage)
    }

    @inlinable public var underestimatedCount: Int { self.count }
}

extension RingQueue {
    /// The ring: `count` initialized elements from `head`, wrapping at `capacity` (a power of
    /// two, or zero).
    @usableFromInline
    final class Storage {
        // SAFETY: `elements` holds `capacity` slots of which exactly the `count` from `head`
        // (modulo `capacity`) are initialized; every method keeps that true, and `deinit`
        // deinitializes those and frees the rest.
        @usableFromInline let elements: UnsafeMutablePointer<Element>
        @usableFromInline let capacity: Int
        // `@exclusivity(unchecked)`: each access is a plain read or write of an Int by this
        // type's own code, with no callout in between; the runtime's check cost a
        // `swift_beginAccess` per change (the pooled get's profile).
        @exclusivity(unchecked) @usableFromInline var head = 0
        @exclusivity(unchecked) @usableFromInline var count = 0

        @inlinable
        init(capacity: Int) {
            self.capacity = capacity
            self.elements = UnsafeMutablePointer<Element>.allocate(capacity: Swift.max(capacity, 1))
        }

        @inlinable
        deinit {
            self.removeAll()
            self.elements.deallocate()
        }

        /// The slot of the element `offset` places from the front.
        @inlinable
        func slot(_ offset: Int) -> UnsafeMutablePointer<Element> {
            self.elements + ((self.head + offset) & (self.capacity - 1))
        }

        /// Needs a free slot.
        @inlinable
        func append(_ element: consuming Element) {
            self.slot(self.count).initialize(to: element)
            self.count += 1
        }

        /// Needs an element.
        @inlinable
        func removeFirst() -> Element {
            let element = self.slot(0).move()
            self.head = (self.head + 1) & (self.capacity - 1)
            self.count -= 1
            return element
        }

        @inlinable
        func removeAll() {
            for offset in 0..<self.count { self.slot(offset).deinitialize(count: 1) }
            self.head = 0
            self.count = 0
        }

        /// A storage of `capacity` slots with these elements in order, moved out of this
        /// one (left empty) or copied.
        @inlinable
        func copy(capacity: Int, moving: Bool) -> Storage {
            let copy = Storage(capacity: capacity)
            for offset in 0..<self.count {
                if moving {
                    (copy.elements + offset).initialize(to: self.slot(offset).move())
                } else {
                    (copy.elements + offset).initialize(to: self.slot(offset).pointee)
                }
            }
            copy.count = self.count
            if moving {
                self.head = 0
                self.count = 0
            }
            return copy
        }
    }
}
