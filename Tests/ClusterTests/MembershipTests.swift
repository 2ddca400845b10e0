import Cluster
import Testing

/// Who may hold a worker name: a hello never throws a live member out.
@Suite("Membership")
struct MembershipTests {
    static let ms: Nanoseconds = 1_000_000
    static let timeout: Nanoseconds = 800 * ms

    static func joined(_ decision: Membership.JoinDecision) -> (UInt64, Membership.Departure?)? {
        if case .joined(let incarnation, let replaced) = decision { (incarnation, replaced) } else { nil }
    }

    @Test func helloUnderALiveMembersNameFromAnotherConnectionIsRefused() throws {
        var membership = Membership(heartbeatTimeout: Self.timeout)
        let (incarnation, replaced) = try #require(Self.joined(membership.join("w1", connection: 1, now: 0)))
        #expect(replaced == nil)
        for i in 0..<50 {
            let now = Nanoseconds(i) * 10 * Self.ms
            let heard = membership.heard("w1", incarnation: incarnation, now: now)
            #expect(heard)
            guard case .nameInUse(let incumbent, let silent) = membership.join("w1", connection: 2 + UInt32(i % 3), now: now + 5 * Self.ms) else {
                Issue.record("hello \(i) from another connection was accepted")
                return
            }
            #expect(incumbent.incarnation == incarnation)
            #expect(silent == 5 * Self.ms)
        }
        // Unknown connections are other connections too.
        guard case .nameInUse = membership.join("w1", connection: nil, now: 500 * Self.ms) else {
            Issue.record("a hello without a connection replaced the member")
            return
        }
        #expect(membership.isMember("w1", incarnation: incarnation))
        #expect(membership.active == ["w1"])
        let expired = membership.expire(now: 500 * Self.ms)
        #expect(expired.isEmpty)
    }

    @Test func aLeavingMemberStillHoldsItsName() throws {
        var membership = Membership(heartbeatTimeout: Self.timeout)
        let (incarnation, _) = try #require(Self.joined(membership.join("w1", connection: 1, now: 0)))
        membership.markLeaving("w1", incarnation: incarnation)
        guard case .nameInUse = membership.join("w1", connection: 2, now: 100 * Self.ms) else {
            Issue.record("a newcomer replaced a leaving member")
            return
        }
    }

    @Test func theNameIsFreeOnceItsHolderWasSilentPastTheTimeout() throws {
        // A SIGSTOPped or cut-off worker: its connection stays open, its polls stop.
        var membership = Membership(heartbeatTimeout: Self.timeout)
        let (old, _) = try #require(Self.joined(membership.join("w1", connection: 1, now: 0)))
        guard case .nameInUse = membership.join("w1", connection: 2, now: Self.timeout) else {
            Issue.record("accepted at exactly the timeout")
            return
        }
        let (new, replaced) = try #require(Self.joined(membership.join("w1", connection: 2, now: Self.timeout + 1)))
        #expect(new != old)
        #expect(replaced?.member.incarnation == old)
        #expect(replaced?.cause == .heartbeatTimeout(silentFor: Self.timeout + 1))
        #expect(!membership.isMember("w1", incarnation: old))
        #expect(membership.members["w1"]?.connection == 2)
        // The old process wakes up: it is no member, and its hello on its old connection is
        // refused while the newcomer is alive.
        let heard = membership.heard("w1", incarnation: old, now: Self.timeout + 2)
        #expect(!heard)
        guard case .nameInUse = membership.join("w1", connection: 1, now: Self.timeout + 3) else {
            Issue.record("the old process threw the newcomer out")
            return
        }
    }

    @Test func theNameIsFreeOnceItsHoldersConnectionClosed() throws {
        // A SIGKILLed worker: its connection closes and the shell removes it at once.
        var membership = Membership(heartbeatTimeout: Self.timeout)
        let (old, _) = try #require(Self.joined(membership.join("w1", connection: 1, now: 0)))
        let removed = membership.remove("w1", incarnation: old, cause: .connectionLost)
        #expect(removed?.member.incarnation == old)
        let (new, replaced) = try #require(Self.joined(membership.join("w1", connection: 2, now: 10 * Self.ms)))
        #expect(new != old)
        #expect(replaced == nil)
    }

    @Test func theSameConnectionMayRegisterAgain() throws {
        // A lost welcome, or a fenced worker: the same process says hello again on its connection.
        var membership = Membership(heartbeatTimeout: Self.timeout)
        let (first, _) = try #require(Self.joined(membership.join("w1", connection: 7, now: 0)))
        let (second, replaced) = try #require(Self.joined(membership.join("w1", connection: 7, now: 10 * Self.ms)))
        #expect(second > first)
        #expect(replaced?.member.incarnation == first)
        #expect(replaced?.cause == .replacedByNewIncarnation)
        #expect(membership.isMember("w1", incarnation: second))
        // Fenced (declared dead), then hello on the same connection: a plain new member.
        _ = membership.expire(now: Self.timeout + 20 * Self.ms)
        #expect(membership.members.isEmpty)
        let (third, none) = try #require(Self.joined(membership.join("w1", connection: 7, now: Self.timeout + 30 * Self.ms)))
        #expect(third > second)
        #expect(none == nil)
    }

    @Test func otherNamesAreUnaffected() throws {
        var membership = Membership(heartbeatTimeout: Self.timeout)
        _ = try #require(Self.joined(membership.join("w1", connection: 1, now: 0)))
        _ = try #require(Self.joined(membership.join("w2", connection: 2, now: 0)))
        #expect(membership.active == ["w1", "w2"])
    }

    @Test func heartbeatTimeoutExpiresSilentMembers() throws {
        var m = Membership(heartbeatTimeout: 800_000_000)
        let (a, _) = try #require(Self.joined(m.join("a", connection: 1, now: 0)))
        let (b, _) = try #require(Self.joined(m.join("b", connection: 2, now: 0)))
        let heard = m.heard("a", incarnation: a, now: 700_000_000)
        #expect(heard)
        let dead = m.expire(now: 900_000_000)
        #expect(dead.map(\.member.id) == ["b"])
        let heardDead = m.heard("b", incarnation: b, now: 900_000_000)
        #expect(!heardDead, "a dead incarnation is not heard")
        #expect(m.active == ["a"])
    }

    @Test func staleRemovalOfAReplacedIncarnationChangesNothing() throws {
        var m = Membership(heartbeatTimeout: 1_000)
        let (first, _) = try #require(Self.joined(m.join("a", connection: 1, now: 0)))
        let (second, _) = try #require(Self.joined(m.join("a", connection: 1, now: 10)))
        #expect(!m.isMember("a", incarnation: first))
        let staleRemoval = m.remove("a", incarnation: first, cause: .connectionLost)
        #expect(staleRemoval == nil, "stale removal changes nothing")
        #expect(m.isMember("a", incarnation: second))
    }

    @Test func leavingMembersTakeNoNewPartitions() throws {
        var m = Membership(heartbeatTimeout: 1_000)
        let (a, _) = try #require(Self.joined(m.join("a", connection: 1, now: 0)))
        _ = m.join("b", connection: 2, now: 0)
        let marked = m.markLeaving("a", incarnation: a)
        #expect(marked)
        #expect(m.active == ["b"])
        let removed = m.remove("a", incarnation: a, cause: .left)
        #expect(removed?.cause == .left)
    }
}
