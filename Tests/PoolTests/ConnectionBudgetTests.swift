import Testing

@testable import Pool

@Suite("The pool-wide connection budget")
struct ConnectionBudgetTests {
    @Test(
        "a loop marked starved after a unit came back (the loops race) is starved no more once it reserves one; a loop is never starved for itself"
    )
    func starvationEndsWithTheReservation() {
        let budget = ConnectionBudget(cap: 2)
        #expect(budget.tryReserve(for: 0))
        #expect(budget.tryReserve(for: 0))
        #expect(!budget.tryReserve(for: 1))
        // Loop 0 gives a unit back before loop 1, refused a moment ago, marks itself starved.
        #expect(budget.release() == [])
        budget.markStarved(loop: 1)
        #expect(budget.hasStarvedLoops)
        #expect(budget.hasStarvedLoops(otherThan: 0))
        #expect(!budget.hasStarvedLoops(otherThan: 1), "a loop is not starved for itself")
        // Loop 1's next connect takes the free unit: no loop is asked to give one up for it.
        #expect(budget.tryReserve(for: 1))
        #expect(!budget.hasStarvedLoops)
        #expect(!budget.hasStarvedLoops(otherThan: 0))
    }
}
