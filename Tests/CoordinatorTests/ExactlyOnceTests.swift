import Cluster
import Control
import CoordinatorCore
import PropertyBased
import Storage
import Testing
import Wire

/// The exactly-once proof without sockets: random interleavings of ingest, retries, joins,
/// deaths, silences past the heartbeat timeout, same-name replacements, drains, leaves and
/// coordinator restarts from the simulated disk. After every step each partition is held by at
/// most one current member, at the epoch the table says; at the end every acknowledged item
/// is in the journal once, and the commands in the command log are, per sensor, exactly what
/// one failure-free controller makes of the journal's items.
@Suite("Coordinator core: exactly-once under churn")
struct ExactlyOnceTests {
    static let sensors: [SensorID] = Array(0..<24)

    @Test func commandsEqualTheReferenceControllerUnderChurn() async {
        await propertyCheck(count: 150, input: Gen.int(in: 1...8), Gen.int(in: 0...Int(UInt32.max))) { partitions, seed in
            var cluster = SimulatedCluster(partitionCount: partitions)
            let problems = Self.run(&cluster, seed: UInt64(seed), steps: 400)
            #expect(problems.isEmpty, "seed \(seed), \(partitions) partitions: \(problems.prefix(5).joined(separator: "; "))")
        }
    }

    /// Runs a random schedule and returns what went wrong.
    static func run(_ cluster: inout SimulatedCluster, seed: UInt64, steps: Int) -> [String] {
        var rng = SplitMix64(seed: seed)
        var problems: [String] = []
        var seqs: [String: UInt64] = [:]
        var names = ["w0", "w1"]
        for name in names { cluster.startProcess(named: name) }
        func pick(_ ids: [Int]) -> Int? { ids.isEmpty ? nil : ids[Int(rng.next() % UInt64(ids.count))] }

        for step in 0..<steps {
            let roll = rng.next() % 100
            var what = ""
            switch roll {
            case 0..<22:
                let producer = "p\(rng.next() % 3)"
                let seq = seqs[producer, default: 0] + 1
                seqs[producer] = seq
                let items = (0..<(1 + rng.next() % 6)).map { _ in randomItem(&rng) }
                what = "ingest \(producer)#\(seq)"
                cluster.ingest(.init(producer: producer, seq: seq, items: items))
            case 22..<25:
                // A producer sends its last request again (it did not see the reply).
                if let last = cluster.sent.last(where: { seqs[$0.producer] == $0.seq }) {
                    what = "retry \(last.producer)#\(last.seq)"
                    cluster.ingest(last)
                }
            case 25..<40:
                what = "disk"
                cluster.completeWrite()
            case 40..<75:
                if let id = pick(cluster.live) {
                    what = "act \(id)"
                    cluster.act(id, checkpoint: rng.next() % 4 == 0)
                }
            case 75..<85:
                let time = (1 + rng.next() % 250) * 1_000_000
                what = "tick +\(time / 1_000_000)ms"
                cluster.advance(by: time)
            case 85..<89:
                if let id = pick(cluster.live) {
                    let stop = !cluster.processes[id].stopped
                    what = stop ? "SIGSTOP \(id)" : "SIGCONT \(id)"
                    cluster.setStopped(id, stop)
                }
            case 89..<91:
                if let id = pick(cluster.live) {
                    what = "SIGKILL \(id), restart \(cluster.processes[id].name)"
                    cluster.kill(id)
                    cluster.startProcess(named: cluster.processes[id].name)
                }
            case 91..<93:
                // A second process under a stopped one's name (a supervisor gave up on it).
                if let id = pick(cluster.live.filter { cluster.processes[$0].stopped }) {
                    what = "replace stopped \(id)"
                    cluster.startProcess(named: cluster.processes[id].name)
                }
            case 93..<94:
                if names.count < 5 {
                    names.append("w\(names.count)")
                    what = "join \(names.last!)"
                    cluster.startProcess(named: names.last!)
                }
            case 94..<96:
                if let name = names.randomElement(using: &rng) {
                    what = "drain \(name)"
                    cluster.drain(name, force: rng.next() % 4 == 0)
                }
            case 96..<97:
                if let id = pick(cluster.live) {
                    what = "leave \(id)"
                    cluster.requestLeave(id)
                }
            default:
                what = "restart coordinator"
                cluster.restartCoordinator()
            }
            for problem in cluster.ownershipViolations() { problems.append("step \(step) (\(what)): \(problem)") }
            if !problems.isEmpty { return problems }
        }
        problems += quiesce(&cluster)
        problems += compareWithReference(cluster)
        return problems
    }

    /// Every process continues, a worker is there to take the partitions, and the cluster runs
    /// until every accepted item is processed and on disk.
    static func quiesce(_ cluster: inout SimulatedCluster) -> [String] {
        for id in cluster.live { cluster.setStopped(id, false) }
        var late = 0
        for round in 0..<3000 {
            // Someone must stay to take the partitions: not leaving, not drained.
            let staying = cluster.live.contains { id in
                let process = cluster.processes[id]
                return !process.leaveRequested && cluster.core.membership.members[process.name]?.leaving != true
            }
            if !staying {
                late += 1
                cluster.startProcess(named: "late\(late)")
            }
            for id in cluster.live { cluster.act(id, checkpoint: round % 5 == 0) }
            cluster.completeWrite()
            cluster.advance(by: 20_000_000)
            let problems = cluster.ownershipViolations()
            if !problems.isEmpty { return problems.map { "quiescing: \($0)" } }
            if cluster.quiescent, round > 10 { return [] }
        }
        let behind = cluster.core.logs.indices.filter { cluster.core.logs[$0].published != cluster.core.logs[$0].head }
        return ["did not quiesce: partitions \(behind) behind, table \(cluster.core.table.entries), members \(cluster.core.membership.members.keys.sorted())"]
    }

    /// Nothing lost, nothing twice: the journal holds each acknowledged request's items once,
    /// and the command log is per sensor exactly the reference controller's output over them.
    static func compareWithReference(_ cluster: SimulatedCluster) -> [String] {
        var problems: [String] = []
        var journalItems: [SensorID: [Item]] = [:]
        for request in cluster.disk.journal {
            for run in request.runs { for item in run.items { journalItems[item.sensor, default: []].append(item) } }
        }
        var seen = Set<String>()
        var acknowledgedItems: [SensorID: [Item]] = [:]
        for request in cluster.acknowledged where seen.insert("\(request.producer)#\(request.seq)").inserted {
            for item in request.items { acknowledgedItems[item.sensor, default: []].append(item) }
        }
        var expected: [SensorID: [HeaterAction]] = [:]
        for (sensor, items) in journalItems {
            var state = SensorState()
            for item in items { if case .command(let action) = state.apply(item) { expected[sensor, default: []].append(action) } }
        }
        var published: [SensorID: [HeaterAction]] = [:]
        for command in cluster.disk.commands { published[command.sensor, default: []].append(command.action) }
        for sensor in sensors {
            if journalItems[sensor, default: []] != acknowledgedItems[sensor, default: []] {
                problems.append("sensor \(sensor): the journal holds \(journalItems[sensor, default: []].count) items, \(acknowledgedItems[sensor, default: []].count) were acknowledged")
            }
            if published[sensor, default: []] != expected[sensor, default: []] {
                problems.append("sensor \(sensor): published \(published[sensor, default: []].map(\.name)), the reference controller says \(expected[sensor, default: []].map(\.name))")
            }
        }
        return problems
    }

    static func randomItem(_ rng: inout SplitMix64) -> Item {
        let sensor = sensors[Int(rng.next() % UInt64(sensors.count))]
        if rng.next() % 5 == 0 {
            let desired = [18.0, 20.0, 22.0][Int(rng.next() % 3)]
            return .setting(sensor: sensor, try! Setting(desired: desired, up: 0.5, down: 0.5))
        }
        return .reading(sensor: sensor, temperature: [16.0, 19.0, 20.0, 21.0, 24.0][Int(rng.next() % 5)])
    }
}

