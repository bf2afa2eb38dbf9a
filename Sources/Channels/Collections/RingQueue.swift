/// A first-in, first-out queue in a ring buffer that grows by doubling: `append` at the back,
/// `removeFirst` at the front, both O(1) and without copying the element.
///
/// For per-request bookkeeping on hot paths. swift-collections' `Deque.append` hands its
/// element to a closure, which copies it (a retain and a release per reference it holds);
/// here the element is moved in and moved out. A value type: copies share storage until one
/// of them changes (copy-on-write).
///
/// ```swift
/// var queue = RingQueue<Int>()
/// queue.append(1)
/// queue.append(2)
/// queue.first += 10
/// queue.removeFirst()  // 11
/// ```
package struct RingQueue<Element> {
    private var storage: Storage

    package init() {
        self.storage = Storage(capacity: 0)
    }

    package var count: Int { self.storage.count }
    package var isEmpty: Bool { self.storage.count == 0 }

    /// Adds `element` at the back.
    package mutating func append(_ element: consuming Element) {
        self.makeUnique(minimumCapacity: self.storage.count + 1)
        self.storage.append(element)
    }

    /// Removes and returns the front element. The queue must not be empty.
    @discardableResult
    package mutating func removeFirst() -> Element {
        precondition(!self.isEmpty, "removeFirst on an empty RingQueue")
        self.makeUnique(minimumCapacity: 0)
        return self.storage.removeFirst()
    }

    /// The front element, read or changed in place. The queue must not be empty.
    package var first: Element {
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

    /// Removes every element (the buffer is kept for reuse).
    package mutating func removeAll() {
        if isKnownUniquelyReferenced(&self.storage) {
            self.storage.removeAll()
        } else {
            self.storage = Storage(capacity: 0)
        }
    }

    /// Copies the storage when it is shared, and doubles it when it has fewer than
    /// `minimumCapacity` slots.
    private mutating func makeUnique(minimumCapacity: Int) {
        let unique = isKnownUniquelyReferenced(&self.storage)
        guard !unique || self.storage.capacity < minimumCapacity else { return }
        var capacity = Swift.max(self.storage.capacity, 4)
        while capacity < minimumCapacity { capacity *= 2 }
        self.storage = self.storage.copy(capacity: capacity, moving: unique)
    }
}

extension RingQueue: Sequence {
    package struct Iterator: IteratorProtocol {
        fileprivate let storage: Storage
        fileprivate var offset = 0

        package mutating func next() -> Element? {
            guard self.offset < self.storage.count else { return nil }
            defer { self.offset += 1 }
            return self.storage.slot(self.offset).pointee
        }
    }

    package func makeIterator() -> Iterator {
        Iterator(storage: self.storage)
    }

    package var underestimatedCount: Int { self.count }
}

extension RingQueue {
    /// The ring: `count` initialized elements from `head`, wrapping at `capacity` (a power of
    /// two, or zero).
    fileprivate final class Storage {
        // SAFETY: `elements` holds `capacity` slots of which exactly the `count` from `head`
        // (modulo `capacity`) are initialized; every method keeps that true, and `deinit`
        // deinitializes those and frees the rest.
        private let elements: UnsafeMutablePointer<Element>
        let capacity: Int
        private var head = 0
        private(set) var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            self.elements = UnsafeMutablePointer<Element>.allocate(capacity: Swift.max(capacity, 1))
        }

        deinit {
            self.removeAll()
            self.elements.deallocate()
        }

        /// The slot of the element `offset` places from the front.
        func slot(_ offset: Int) -> UnsafeMutablePointer<Element> {
            self.elements + ((self.head + offset) & (self.capacity - 1))
        }

        /// Needs a free slot.
        func append(_ element: consuming Element) {
            self.slot(self.count).initialize(to: element)
            self.count += 1
        }

        /// Needs an element.
        func removeFirst() -> Element {
            let element = self.slot(0).move()
            self.head = (self.head + 1) & (self.capacity - 1)
            self.count -= 1
            return element
        }

        func removeAll() {
            for offset in 0..<self.count { self.slot(offset).deinitialize(count: 1) }
            self.head = 0
            self.count = 0
        }

        /// A storage of `capacity` slots with these elements in order, moved out of this
        /// one (left empty) or copied.
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
