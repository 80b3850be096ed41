import Checkpoints
import Foundation

extension LoadedCheckpoint where C == TrainingConfiguration {
    /// Checks `state.json` beyond what every checkpoint must satisfy
    /// (``CheckpointState/validate(path:)``, done on load): the configuration's values are
    /// in range, the position lies within the configured run (`epoch <= epochs`, `step <=
    /// maxSteps`), the random state has its four words, the recorded global batch and
    /// samples into the epoch agree with batch size x world size x accumulation, and the
    /// model file's metadata names the same step and model. Throws
    /// ``CheckpointError/invalidState(path:field:reason:)`` or a ``CollectiveError`` for a
    /// configuration value, naming the field.
    ///
    /// Unknown fields (written by a newer build) are ignored; only the fields this build
    /// writes are checked.
    public func validateTraining() throws {
        let statePath = path + "/" + CheckpointFormat.stateFile
        func fail(_ field: String, _ reason: String) -> CheckpointError { .invalidState(path: statePath, field: field, reason: reason) }
        let s = state, c = state.configuration
        try c.validate(source: statePath)
        guard s.epoch <= c.epochs else { throw fail("epoch", "is \(s.epoch) but the run it records has \(c.epochs) epochs") }
        guard s.epoch < c.epochs || s.stepInEpoch == 0 else {
            throw fail("stepInEpoch", "is \(s.stepInEpoch) after the last epoch (\(s.epoch) of \(c.epochs)); it must be 0 there")
        }
        if let maxSteps = c.maxSteps, s.step > maxSteps { throw fail("step", "is \(s.step) but the run it records stops at maxSteps \(maxSteps)") }
        guard s.rngState.count == 4, s.rngState.contains(where: { $0 != 0 }) else {
            throw fail("rngState", "holds \(s.rngState.count) words; the generator's state is four words, not all zero")
        }
        // batch <= 2^24 and accumulate <= 2^20 (checked above); the world size is bounded so
        // that the product fits an Int.
        guard s.worldSize <= 1 << 24 else { throw fail("worldSize", "is \(s.worldSize); more than 2^24 ranks is not a real run") }
        let globalBatch = c.batchSize * s.worldSize * c.accumulate
        if let recorded = s.globalBatch, recorded != globalBatch {
            throw fail("globalBatch", "is \(recorded) but batchSize \(c.batchSize) x worldSize \(s.worldSize) x accumulate \(c.accumulate) is \(globalBatch)")
        }
        if let recorded = s.samplesInEpoch {
            let (expected, overflow) = s.stepInEpoch.multipliedReportingOverflow(by: globalBatch)
            guard !overflow, recorded == expected else {
                throw fail("stepInEpoch", "is \(s.stepInEpoch), which with a global batch of \(globalBatch) does not give the recorded samplesInEpoch \(recorded)")
            }
        }
        if let text = modelMetadata["lockstep_step"], text != String(s.step) {
            throw fail("step", "is \(s.step) but model.safetensors was written at step \(text.prefix(40))")
        }
        if let text = modelMetadata["lockstep_model"], text != c.model {
            throw fail("configuration.model", "is \(c.model) but model.safetensors holds model \(text.prefix(80))")
        }
    }

    /// Checks the recorded `parameterCount` (when present) against the model built from
    /// the configuration.
    func verifyParameterCount(_ count: Int) throws {
        if let recorded = state.parameterCount, recorded != count {
            throw CheckpointError.invalidState(
                path: path + "/" + CheckpointFormat.stateFile, field: "parameterCount",
                reason: "is \(recorded) but model \(state.configuration.model) has \(count) parameters")
        }
    }
}
