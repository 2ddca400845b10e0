import CoordinatorCore
import Observability
import Wire

/// What the actor adds for the metrics: each a call where the thing happens.
extension Coordinator {
    /// Running, with the journal open (no storage failure).
    var isServing: Bool { isRunning && failure == nil }
}
