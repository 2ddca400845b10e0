/// A worker's name, as given with `--id` (or made up from host and process id).
public typealias WorkerID = String

/// Time as the shell's monotonic clock reads it, in nanoseconds. The state machines never read a
/// clock: the shell passes `now` in, so tests drive time by hand.
public typealias Nanoseconds = UInt64

/// Which workers are members, and which of them are alive, leaving or dead.
///
/// A pure state machine in the style of SWIM's `Instance`: every input returns what the shell
/// must do. A member is one *incarnation* of a worker. A name belongs to one live member: a
/// hello under a name that a live member holds on another connection is refused (a
/// misconfigured or hostile peer must not throw the member out), and is accepted once that
/// member is gone (its connection closed, or it was silent past the heartbeat timeout) or when
/// it comes on the member's own connection (the same process registering again).
public struct Membership: Sendable {
    public struct Member: Sendable, Hashable {
        public let id: WorkerID
        public let incarnation: UInt64
        public var lastHeard: Nanoseconds
        public var leaving: Bool
        /// The connection (nng pipe) it registered on; nil when the shell does not know it.
        public let connection: UInt32?
    }

    /// What to do with a hello.
    public enum JoinDecision: Sendable, Hashable {
        /// Registered as `incarnation`. `replaced` is the name's earlier incarnation, gone now:
        /// the same connection registered again, or it had been silent past the timeout.
        case joined(incarnation: UInt64, replaced: Departure?)
        /// A live member holds the name on another connection, heard `silentFor` ago: refuse
        /// the newcomer and leave the member alone. The newcomer may retry; the name is free
        /// once the member's connection closes or it is silent past the heartbeat timeout.
        case nameInUse(by: Member, silentFor: Nanoseconds)
    }

    public enum DeathCause: Sendable, Hashable, CustomStringConvertible {
        case connectionLost
        case heartbeatTimeout(silentFor: Nanoseconds)
        case replacedByNewIncarnation
        case left
        /// Its results broke the protocol's rules (a forged or corrupt result): fenced.
        case badResults

        public var description: String {
            switch self {
            case .connectionLost: "connection lost"
            case .heartbeatTimeout(let silent): "no heartbeat for \(silent / 1_000_000) ms"
            case .replacedByNewIncarnation: "replaced by a new incarnation"
            case .left: "left"
            case .badResults: "fenced for bad results"
            }
        }
    }

    /// A member the shell must treat as gone: revoke its partitions, refuse its requests.
    public struct Departure: Sendable, Hashable {
        public let member: Member
        public let cause: DeathCause
    }

    public let heartbeatTimeout: Nanoseconds
    public private(set) var members: [WorkerID: Member] = [:]
    private var nextIncarnation: UInt64

    /// - Parameter firstIncarnation: where incarnation numbers start; a restarted coordinator
    ///   passes a value above any it handed out before (for example its start time), so that a
    ///   worker of an earlier coordinator is never mistaken for a current member.
    public init(heartbeatTimeout: Nanoseconds, firstIncarnation: UInt64 = 1) {
        self.heartbeatTimeout = heartbeatTimeout
        self.nextIncarnation = max(1, firstIncarnation)
    }

    /// A worker says hello on `connection`. It joins as a new incarnation unless the name is
    /// held by a live member on another connection (see ``JoinDecision``).
    public mutating func join(_ id: WorkerID, connection: UInt32?, now: Nanoseconds) -> JoinDecision {
        var replaced: Departure?
        if let incumbent = members[id] {
            let silent = now > incumbent.lastHeard ? now - incumbent.lastHeard : 0
            if let connection, incumbent.connection == connection {
                replaced = Departure(member: incumbent, cause: .replacedByNewIncarnation)
            } else if silent > heartbeatTimeout {
                replaced = Departure(member: incumbent, cause: .heartbeatTimeout(silentFor: silent))
            } else {
                return .nameInUse(by: incumbent, silentFor: silent)
            }
        }
        let incarnation = nextIncarnation
        nextIncarnation += 1
        members[id] = Member(id: id, incarnation: incarnation, lastHeard: now, leaving: false, connection: connection)
        return .joined(incarnation: incarnation, replaced: replaced)
    }

    /// Whether `(id, incarnation)` is a current member; if so, it was heard from now.
    public mutating func heard(_ id: WorkerID, incarnation: UInt64, now: Nanoseconds) -> Bool {
        guard var member = members[id], member.incarnation == incarnation else { return false }
        member.lastHeard = max(member.lastHeard, now)
        members[id] = member
        return true
    }

    public func isMember(_ id: WorkerID, incarnation: UInt64) -> Bool {
        members[id]?.incarnation == incarnation
    }

    /// The member asks to leave: it stays a member (and keeps answering) until its partitions
    /// are handed over, then ``remove(_:incarnation:cause:)`` ends it.
    @discardableResult
    public mutating func markLeaving(_ id: WorkerID, incarnation: UInt64) -> Bool {
        guard var member = members[id], member.incarnation == incarnation else { return false }
        member.leaving = true
        members[id] = member
        return true
    }

    /// Ends a membership (lost connection, or a finished leave).
    public mutating func remove(_ id: WorkerID, incarnation: UInt64, cause: DeathCause) -> Departure? {
        guard let member = members[id], member.incarnation == incarnation else { return nil }
        members[id] = nil
        return Departure(member: member, cause: cause)
    }

    /// Members silent for longer than the heartbeat timeout are dead.
    public mutating func expire(now: Nanoseconds) -> [Departure] {
        var departures: [Departure] = []
        for member in members.values.sorted(by: { $0.id < $1.id }) {
            let silent = now &- member.lastHeard
            if now > member.lastHeard, silent > heartbeatTimeout {
                members[member.id] = nil
                departures.append(Departure(member: member, cause: .heartbeatTimeout(silentFor: silent)))
            }
        }
        return departures
    }

    /// Members that take new partitions: alive and not leaving, in a stable order.
    public var active: [WorkerID] {
        members.values.filter { !$0.leaving }.map(\.id).sorted()
    }
}
