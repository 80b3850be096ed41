import Testing
@testable import Lockstep

@Suite struct MetricMonitorTests {
    /// A crafted validation-loss curve: best at epoch 3, then three epochs that improve by
    /// less than min-delta (or get worse). Patience 3 stops after epoch 6, not before.
    @Test func stopsAfterPatienceEpochsWithoutImprovementBeyondMinDelta() {
        var m = MetricMonitor(metric: .validationLoss, minDelta: 0.01, patience: 3)
        let curve = [0.9, 0.7, 0.6, 0.595, 0.61, 0.592, 0.4]
        var stoppedAfter: Int?
        for (i, v) in curve.enumerated() {
            m.record(v, epoch: i + 1)
            if m.shouldStop { stoppedAfter = i + 1; break }
        }
        #expect(stoppedAfter == 6)
        #expect(m.best == 0.6 && m.bestEpoch == 3)
    }

    @Test func accuracyImprovesUpwardAndNaNNeverImproves() {
        var m = MetricMonitor(metric: .validationAccuracy, patience: 1)
        let improved = [m.record(.nan, epoch: 1), m.record(0.5, epoch: 2), m.record(0.6, epoch: 3), m.record(0.55, epoch: 4)]
        #expect(improved == [false, true, true, false])
        #expect(m.shouldStop && m.bestEpoch == 3)
    }

    @Test func withoutPatienceItNeverStops() {
        var m = MetricMonitor(metric: .trainLoss)
        for e in 1...20 { m.record(Double(e), epoch: e) }
        #expect(!m.shouldStop && m.epochsWithoutImprovement == 19)
    }

    @Test func savedStateRestoresExactly() {
        var m = MetricMonitor(metric: .validationLoss, minDelta: 0, patience: 5)
        m.record(0.123456789012345, epoch: 1)
        m.record(0.2, epoch: 2)
        var r = MetricMonitor(metric: .validationLoss, minDelta: 0, patience: 5)
        r.restore(m.savedState)
        #expect(r == m)
        var fresh = MetricMonitor(metric: .validationLoss)
        fresh.restore(nil)
        #expect(fresh.best == nil && fresh.bestEpoch == 0)
    }
}
