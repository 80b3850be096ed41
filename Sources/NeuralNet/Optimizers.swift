/// An optimizer updates `arena.parameters` from `arena.gradients` in one pass over the flat
/// buffers. Its state buffers have the parameters' layout, so checkpoints save them under
/// the parameters' names.
///
/// ```swift
/// let sgd = try SGD(parameterCount: model.parameterCount, momentum: 0.9)
/// sgd.step(model.arena, learningRate: 0.05)
/// ```
public protocol Optimizer: AnyObject {
    /// Applies step `stepCount + 1`'s update with this learning rate to the elements in
    /// `range` only, reading `arena.gradients` there, without advancing `stepCount`.
    /// Every element is updated on its own, so updating disjoint ranges (on different ranks
    /// sharing the parameters, say) and then calling ``finishStep()`` once equals ``step(_:learningRate:)``.
    func update(_ arena: ParameterArena, range: Range<Int>, learningRate: Float)
    /// Named state buffers in the parameters' layout (`momentum_buffer`; `exp_avg`, `exp_avg_sq`).
    var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] { get }
    /// Moves the state buffers into `storage`, one buffer of the parameters' count for each
    /// of ``stateBuffers`` in order, with their values unless `keepingValues` is false (when
    /// another process has written them there already), or back into memory of the
    /// optimizer's own when `nil`. The caller keeps `storage` alive while the optimizer uses it.
    func placeState(in storage: [UnsafeMutableBufferPointer<Float>]?, keepingValues: Bool)
    /// Steps taken so far (restored from checkpoints; 0 means the state is fresh).
    var stepCount: Int { get set }
}

extension Optimizer {
    /// Applies one update with this step's learning rate to every parameter.
    public func step(_ arena: ParameterArena, learningRate: Float) {
        update(arena, range: 0..<arena.parameterCount, learningRate: learningRate)
        finishStep()
    }

    /// Moves the state buffers with their values (see ``placeState(in:keepingValues:)``).
    public func placeState(in storage: [UnsafeMutableBufferPointer<Float>]?) {
        placeState(in: storage, keepingValues: true)
    }

    /// Ends a step whose updates were applied range by range with ``update(_:range:learningRate:)``.
    public func finishStep() { stepCount += 1 }
}

/// Places each of `buffers` in the matching storage (or back in their own memory for `nil`).
func place(_ buffers: inout [PlaceableBuffer], in storage: [UnsafeMutableBufferPointer<Float>]?, keepingValues: Bool,
           optimizer: String) {
    precondition(storage == nil || storage!.count == buffers.count,
                 "\(optimizer).placeState: \(storage!.count) buffers given, it has \(buffers.count)")
    for i in buffers.indices { buffers[i].move(to: storage?[i], what: "\(optimizer) state", keepingValues: keepingValues) }
}

/// Checks an `update` call to `optimizer`: a finite learning rate >= 0, an arena with the
/// `stateCount` parameters the optimizer's state was made for (nil: it has no state), and a
/// range inside the arena.
@inline(__always)
func checkUpdate(_ optimizer: String, learningRate lr: Float, arena: ParameterArena, range: Range<Int>, stateCount: Int?) {
    precondition(lr >= 0 && lr.isFinite, "\(optimizer).step: learning rate \(lr) must be finite and >= 0")
    precondition(stateCount == nil || stateCount == arena.parameterCount,
                 "\(optimizer).step: arena has \(arena.parameterCount) parameters, optimizer was made for \(stateCount ?? 0)")
    precondition(range.lowerBound >= 0 && range.upperBound <= arena.parameterCount,
                 "\(optimizer).update: range \(range) outside the arena")
}

func checkRange(_ name: String, _ value: Float, _ ok: Bool, _ expected: String) throws {
    guard ok, value.isFinite else {
        throw NeuralNetError.invalidHyperparameter(name: name, value: "\(value)", expected: expected)
    }
}

/// Stochastic gradient descent with PyTorch's `torch.optim.SGD` semantics:
/// `g = grad + wd·p`; with momentum, `buf = g` on the first step, else
/// `buf = μ·buf + (1 - dampening)·g`; `g = nesterov ? g + μ·buf : buf`; `p -= lr·g`.
///
/// ```swift
/// let sgd = try SGD(parameterCount: n, momentum: 0.9, weightDecay: 5e-4)
/// ```
public final class SGD: Optimizer {
    /// Momentum factor μ in [0, 1).
    public let momentum: Float
    /// Dampening of the gradient in the momentum update, in [0, 1].
    public let dampening: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    /// L2 penalty added to the gradient.
    public let weightDecay: Float
    public var stepCount = 0
    private var state: [PlaceableBuffer]
    private var momentumBuffer: UnsafeMutableBufferPointer<Float> { state[0].buffer }

    /// Throws ``NeuralNetError/invalidHyperparameter(name:value:expected:)`` for momentum
    /// outside [0, 1), dampening outside [0, 1], negative weight decay, or nesterov without
    /// momentum or with dampening.
    public init(parameterCount: Int, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false,
                weightDecay: Float = 0) throws {
        try checkRange("momentum", momentum, momentum >= 0 && momentum < 1, "in [0, 1)")
        try checkRange("dampening", dampening, dampening >= 0 && dampening <= 1, "in [0, 1]")
        try checkRange("weight decay", weightDecay, weightDecay >= 0, ">= 0")
        if nesterov && (momentum == 0 || dampening != 0) {
            throw NeuralNetError.invalidHyperparameter(
                name: "nesterov", value: "true (momentum \(momentum), dampening \(dampening))",
                expected: "used with momentum > 0 and dampening 0")
        }
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        state = [PlaceableBuffer(count: momentum > 0 ? parameterCount : 0)]
    }
    deinit { for buffer in state { buffer.release() } }

    /// `momentum_buffer`, or none without momentum.
    public var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        momentum > 0 ? [("momentum_buffer", momentumBuffer)] : []
    }

    /// Moves the momentum buffer (none without momentum).
    public func placeState(in storage: [UnsafeMutableBufferPointer<Float>]?, keepingValues: Bool) {
        guard momentum > 0 else {
            precondition(storage?.isEmpty ?? true, "SGD.placeState: no state without momentum")
            return
        }
        place(&state, in: storage, keepingValues: keepingValues, optimizer: "SGD")
    }

    /// Updates the elements in `range` as the type's doc says; with momentum, the first step
    /// (`stepCount` 0) sets the buffer to the gradient.
    public func update(_ arena: ParameterArena, range: Range<Int>, learningRate lr: Float) {
        checkUpdate("SGD", learningRate: lr, arena: arena, range: range, stateCount: momentum == 0 ? nil : momentumBuffer.count)
        guard !range.isEmpty else { return }
        let n = range.count
        let p = arena.parameters.baseAddress! + range.lowerBound, g = arena.gradients.baseAddress! + range.lowerBound
        let wd = weightDecay, mu = momentum, damp = 1 - dampening
        if mu == 0 {
            for i in 0..<n { p[i] -= lr * (g[i] + wd * p[i]) }
        } else {
            let b = momentumBuffer.baseAddress! + range.lowerBound
            // PyTorch: the first step sets the buffer to the gradient. Four plain loops so each vectorises.
            switch (stepCount == 0, nesterov) {
            case (true, false):
                for i in 0..<n { let d = g[i] + wd * p[i]; b[i] = d; p[i] -= lr * d }
            case (true, true):
                for i in 0..<n { let d = g[i] + wd * p[i]; b[i] = d; p[i] -= lr * (d + mu * d) }
            case (false, false):
                for i in 0..<n { let v = mu * b[i] + damp * (g[i] + wd * p[i]); b[i] = v; p[i] -= lr * v }
            case (false, true):
                for i in 0..<n {
                    let d = g[i] + wd * p[i]
                    let v = mu * b[i] + damp * d
                    b[i] = v
                    p[i] -= lr * (d + mu * v)
                }
            }
        }
    }
}

/// Adam with decoupled weight decay, PyTorch's `torch.optim.AdamW`:
/// `p *= 1 - lr·wd`; `m = β1·m + (1-β1)·g`; `v = β2·v + (1-β2)·g²`;
/// `p -= lr/(1-β1ᵗ) · m / (sqrt(v)/sqrt(1-β2ᵗ) + ε)`.
///
/// ```swift
/// let adam = try AdamW(parameterCount: n, weightDecay: 0.01)
/// ```
public final class AdamW: Optimizer {
    /// First-moment decay in [0, 1).
    public let beta1: Float
    /// Second-moment decay in [0, 1).
    public let beta2: Float
    /// Added to the denominator.
    public let epsilon: Float
    /// Decoupled weight decay.
    public let weightDecay: Float
    public var stepCount = 0
    private var state: [PlaceableBuffer]
    private var expAvg: UnsafeMutableBufferPointer<Float> { state[0].buffer }
    private var expAvgSq: UnsafeMutableBufferPointer<Float> { state[1].buffer }

    /// Throws for betas outside [0, 1), negative epsilon or weight decay, naming the value.
    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0.01) throws {
        try checkRange("beta1", beta1, beta1 >= 0 && beta1 < 1, "in [0, 1)")
        try checkRange("beta2", beta2, beta2 >= 0 && beta2 < 1, "in [0, 1)")
        try checkRange("epsilon", epsilon, epsilon >= 0, ">= 0")
        try checkRange("weight decay", weightDecay, weightDecay >= 0, ">= 0")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        state = [PlaceableBuffer(count: parameterCount), PlaceableBuffer(count: parameterCount)]
    }
    deinit { for buffer in state { buffer.release() } }

    /// `exp_avg` (m) and `exp_avg_sq` (v).
    public var stateBuffers: [(name: String, buffer: UnsafeMutableBufferPointer<Float>)] {
        [("exp_avg", expAvg), ("exp_avg_sq", expAvgSq)]
    }

    /// Moves `exp_avg` and `exp_avg_sq`.
    public func placeState(in storage: [UnsafeMutableBufferPointer<Float>]?, keepingValues: Bool) {
        place(&state, in: storage, keepingValues: keepingValues, optimizer: "AdamW")
    }

    /// Updates the elements in `range` as the type's doc says, bias-corrected for step `t = stepCount + 1`.
    public func update(_ arena: ParameterArena, range: Range<Int>, learningRate lr: Float) {
        checkUpdate("AdamW", learningRate: lr, arena: arena, range: range, stateCount: expAvg.count)
        guard !range.isEmpty else { return }
        let n = range.count
        let t = Double(stepCount + 1)
        let bc1 = 1 - pow(Double(beta1), t), bc2 = 1 - pow(Double(beta2), t)
        let stepSize = Float(Double(lr) / bc1), bc2Root = Float(bc2.squareRoot())
        let p = arena.parameters.baseAddress! + range.lowerBound, g = arena.gradients.baseAddress! + range.lowerBound
        let m = expAvg.baseAddress! + range.lowerBound, v = expAvgSq.baseAddress! + range.lowerBound
        let decay = 1 - lr * weightDecay, b1 = beta1, b2 = beta2, eps = epsilon
        for i in 0..<n {
            p[i] *= decay
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            p[i] -= stepSize * m[i] / (v[i].squareRoot() / bc2Root + eps)
        }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
