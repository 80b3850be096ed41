import Foundation

/// What ``LSTM`` and ``GRU`` share: a stack of recurrent layers over batch-first sequences
/// `[N, T, C] -> [N, T, H]` (the hidden state of the top layer at every step, starting
/// from zero state), PyTorch's parameter names and layouts, its initialisation, and the
/// buffers of backpropagation through time.
///
/// Per layer `l`, in arena order (PyTorch's `state_dict` order): `weight_ih_l{l}`
/// `[G·H, C_l]`, `weight_hh_l{l}` `[G·H, H]`, `bias_ih_l{l}` `[G·H]`, `bias_hh_l{l}`
/// `[G·H]`, with `G` gates (4 for LSTM, 3 for GRU), `C_0 = inputSize`, `C_l = H` above.
/// Every tensor is initialised uniform in `±1/sqrt(H)`, as PyTorch does.
///
/// The input-to-hidden products of a layer are ONE GEMM over the whole sequence
/// (`[N·T, C] × [C, G·H]`), and so are its weight gradients and input gradient; only the
/// hidden-to-hidden product (and its gradient) runs per time step, writing straight into
/// the strided rows of step `t` (`ldc = T·G·H`), so no step copies its gates.
public class RecurrentStack {
    /// Features per time step of the input.
    public let inputSize: Int
    /// Features of the hidden state (and of the output at each step).
    public let hiddenSize: Int
    /// Stacked recurrent layers.
    public let layerCount: Int
    let gates: Int
    private let name: String
    /// GRU keeps its hidden products apart (`r` multiplies them); LSTM keeps cell states.
    private let hiddenGates: Bool

    var weightIH: [UnsafeMutablePointer<Float>] = []
    var weightHH: [UnsafeMutablePointer<Float>] = []
    var biasIH: [UnsafeMutablePointer<Float>] = []
    var biasHH: [UnsafeMutablePointer<Float>] = []
    var weightIHGrad: [UnsafeMutablePointer<Float>] = []
    var weightHHGrad: [UnsafeMutablePointer<Float>] = []
    var biasIHGrad: [UnsafeMutablePointer<Float>] = []
    var biasHHGrad: [UnsafeMutablePointer<Float>] = []

    /// Per-layer state of the last forward, reused while the input shape stays the same.
    let state: [RecurrentLayerState]
    var input: Tensor?
    private var cachedShape: [Int] = []
    var n = 0, steps = 0
    let biasSum = Tensor(shape: [0])   // [G·H] column sums of a gate gradient
    let zeroRow = Tensor(shape: [0])   // [H] zeros: the initial cell state

    init(name: String, inputSize: Int, hiddenSize: Int, layers: Int, gates: Int, hiddenGates: Bool) {
        precondition(inputSize > 0 && hiddenSize > 0 && layers > 0,
                     "\(name): input size \(inputSize), hidden size \(hiddenSize) and layers \(layers) must be positive")
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layerCount = layers
        self.gates = gates
        self.name = name
        self.hiddenGates = hiddenGates
        state = (0..<layers).map { _ in RecurrentLayerState() }
        biasSum.resize(to: [gates * hiddenSize])
        zeroRow.resize(to: [hiddenSize])
    }

    /// Input features of layer `l`.
    func layerInput(_ l: Int) -> Int { l == 0 ? inputSize : hiddenSize }

    /// Trainable tensors, in arena order (PyTorch's names and shapes).
    public var parameterSpecs: [TensorSpec] {
        let g = gates * hiddenSize
        return (0..<layerCount).flatMap { l in
            [TensorSpec("weight_ih_l\(l)", [g, layerInput(l)]), TensorSpec("weight_hh_l\(l)", [g, hiddenSize]),
             TensorSpec("bias_ih_l\(l)", [g]), TensorSpec("bias_hh_l\(l)", [g])]
        }
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                     buffers: UnsafeMutablePointer<Float>) {
        weightIH = []; weightHH = []; biasIH = []; biasHH = []
        weightIHGrad = []; weightHHGrad = []; biasIHGrad = []; biasHHGrad = []
        let g = gates * hiddenSize
        var offset = 0
        for l in 0..<layerCount {
            weightIH.append(parameters + offset); weightIHGrad.append(gradients + offset)
            offset += g * layerInput(l)
            weightHH.append(parameters + offset); weightHHGrad.append(gradients + offset)
            offset += g * hiddenSize
            biasIH.append(parameters + offset); biasIHGrad.append(gradients + offset)
            offset += g
            biasHH.append(parameters + offset); biasHHGrad.append(gradients + offset)
            offset += g
        }
    }

    /// Fills every weight and bias uniform in `±1/sqrt(hiddenSize)` (PyTorch's RNN default).
    public func resetParameters(rng: inout SeededRNG) {
        let initializer = Initializer.pytorchDefault(fanIn: hiddenSize)
        let g = gates * hiddenSize
        for l in 0..<layerCount {
            initializer.fill(UnsafeMutableBufferPointer(start: weightIH[l], count: g * layerInput(l)), rng: &rng)
            initializer.fill(UnsafeMutableBufferPointer(start: weightHH[l], count: g * hiddenSize), rng: &rng)
            initializer.fill(UnsafeMutableBufferPointer(start: biasIH[l], count: g), rng: &rng)
            initializer.fill(UnsafeMutableBufferPointer(start: biasHH[l], count: g), rng: &rng)
        }
    }

    /// Per-sample `[T, inputSize]` -> `[T, hiddenSize]`; anything else (a 4-D image, the
    /// wrong feature count) is an error naming the shape.
    public func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 2, shape[0] >= 1, shape[1] == inputSize else {
            throw NeuralNetError.inputShapeMismatch(expected: [max(shape.first ?? 1, 1), inputSize], got: shape)
        }
        return [shape[0], hiddenSize]
    }

    /// Forward + backward FLOPs per sample (multiply-add = 2): per layer the input GEMM,
    /// its weight gradient and (unless it is the first layer and not asked) its input
    /// gradient over `T` steps, and the hidden GEMM, its weight and input gradients over
    /// the `T - 1` steps that have a previous state.
    public func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int {
        let t = inputShape[0], g = gates * hiddenSize
        var total = 0
        for l in 0..<layerCount {
            total += 2 * t * g * layerInput(l) * ((l > 0 || computeInputGradient) ? 3 : 2)
            total += 2 * (t - 1) * g * hiddenSize * 3
        }
        return total
    }

    /// x: [N, T, C] -> [N, T, H], layer by layer
    public func forward(_ x: Tensor) -> Tensor {
        configure(x)
        input = x
        var layerInput = x
        for l in 0..<layerCount {
            forwardLayer(l, layerInput)
            layerInput = state[l].output
        }
        return layerInput
    }

    /// dy: [N, T, H] -> dx: [N, T, C], layer by layer from the top; every weight and bias
    /// gradient accumulates.
    public func backward(_ dy: Tensor, computeInputGradient: Bool) -> Tensor? {
        guard let x = input else { preconditionFailure("\(name).backward before forward") }
        precondition(dy.shape == state[layerCount - 1].output.shape,
                     "\(name).backward: gradient \(dy.shape), output \(state[layerCount - 1].output.shape)")
        var grad = dy
        for l in stride(from: layerCount - 1, through: 0, by: -1) {
            let below = l == 0 ? x : state[l - 1].output
            backwardLayer(l, dy: grad, x: below, inputGradient: l > 0 || computeInputGradient)
            grad = state[l].gradInput
        }
        return computeInputGradient ? state[0].gradInput : nil
    }

    /// One layer's forward, `x` `[N, T, C_l]` -> `state[l].output`; each subclass has its own.
    func forwardLayer(_ l: Int, _ x: Tensor) { preconditionFailure("\(name) has no forwardLayer") }

    /// One layer's backward through time, `dy` `[N, T, H]` -> `state[l].gradInput`;
    /// each subclass has its own.
    func backwardLayer(_ l: Int, dy: Tensor, x: Tensor, inputGradient: Bool) {
        preconditionFailure("\(name) has no backwardLayer")
    }

    /// Resizes every buffer for a batch `[N, T, C]` (only when the shape changes).
    private func configure(_ x: Tensor) {
        guard shapeChanged(&cachedShape, x) else { return }
        precondition(x.shape.count == 3 && x.shape[2] == inputSize,
                     "\(name).forward: input \(x.shape), expected [N, T, \(inputSize)]")
        n = x.shape[0]; steps = x.shape[1]
        let h = hiddenSize, g = gates * hiddenSize
        for (l, s) in state.enumerated() {
            s.output.resize(to: [n, steps, h])
            s.previous.resize(to: [n, steps, h])
            s.previous.fill(0)   // step 0's row stays zero: the initial state
            s.gates.resize(to: [n, steps, g])
            s.gateGrad.resize(to: [n, steps, g])
            s.cell.resize(to: hiddenGates ? [0] : [n, steps, h])
            s.cellTanh.resize(to: hiddenGates ? [0] : [n, steps, h])
            s.hiddenGates.resize(to: hiddenGates ? [n, steps, g] : [0])
            s.hiddenGateGrad.resize(to: hiddenGates ? [n, steps, g] : [0])
            s.carry.resize(to: [n, h])
            s.cellCarry.resize(to: hiddenGates ? [0] : [n, h])
            s.gradInput.resize(to: [n, steps, layerInput(l)])
        }
    }

    /// `rows` rows of `g` floats, each set to `bias` (the GEMM then adds with beta = 1).
    func broadcastRows(_ dst: UnsafeMutablePointer<Float>, rows: Int, bias: UnsafePointer<Float>, width: Int) {
        for r in 0..<rows { (dst + r * width).update(from: bias, count: width) }
    }

    /// Accumulates the column sums of `grad` `[rows, width]` into `target` and, if given,
    /// into `second` too.
    func accumulateColumnSums(_ grad: UnsafePointer<Float>, rows: Int, width: Int, into target: UnsafeMutablePointer<Float>,
                              and second: UnsafeMutablePointer<Float>? = nil) {
        let s = biasSum.data
        s.update(repeating: 0, count: width)
        for r in 0..<rows { addShortRow(s, grad + r * width, width) }
        addShortRow(target, s, width)
        if let second { addShortRow(second, s, width) }
    }

    /// The batched products after a layer's backward in time: `dW_ih += dGᵀ x`,
    /// `dW_hh += dGhᵀ h_prev`, and `dx = dG W_ih` when `inputGradient`.
    func batchedBackward(layer l: Int, x: UnsafePointer<Float>, inputGrad dG: UnsafePointer<Float>,
                         hiddenGrad dGh: UnsafePointer<Float>, inputGradient: Bool) {
        let s = state[l], rows = n * steps, g = gates * hiddenSize, c = layerInput(l)
        gemm(transA: true, transB: false, m: g, n: c, k: rows, a: dG, lda: g, b: x, ldb: c,
             beta: 1, c: weightIHGrad[l], ldc: c)
        gemm(transA: true, transB: false, m: g, n: hiddenSize, k: rows, a: dGh, lda: g, b: s.previous.data, ldb: hiddenSize,
             beta: 1, c: weightHHGrad[l], ldc: hiddenSize)
        if inputGradient {
            gemm(transA: false, transB: false, m: rows, n: c, k: g, a: dG, lda: g, b: weightIH[l], ldb: c,
                 beta: 0, c: s.gradInput.data, ldc: c)
        }
    }
}

/// The buffers of one recurrent layer (rows are `n·T + t`).
final class RecurrentLayerState {
    let output = Tensor(shape: [0])          // [N, T, H] h_t
    let previous = Tensor(shape: [0])        // [N, T, H] h_{t-1}, zero at t = 0
    let gates = Tensor(shape: [0])           // [N, T, G·H] gate activations
    let gateGrad = Tensor(shape: [0])        // [N, T, G·H] d(pre-activation)
    let cell = Tensor(shape: [0])            // LSTM [N, T, H] c_t
    let cellTanh = Tensor(shape: [0])        // LSTM [N, T, H] tanh(c_t)
    let hiddenGates = Tensor(shape: [0])     // GRU [N, T, 3H] W_hh h_{t-1} + b_hh
    let hiddenGateGrad = Tensor(shape: [0])  // GRU [N, T, 3H] its gradient
    let carry = Tensor(shape: [0])           // [N, H] dL/dh_{t} from later steps
    let cellCarry = Tensor(shape: [0])       // LSTM [N, H] dL/dc_{t} from later steps
    let gradInput = Tensor(shape: [0])       // [N, T, C] dL/dx
}

/// Lanes `0..<k` of `p` (k <= 8), zeros in the others.
@inline(__always)
func loadLanes(_ p: UnsafePointer<Float>, _ k: Int) -> SIMD8<Float> {
    if k == 8 { return loadVector(p) }
    var v = SIMD8<Float>()
    for i in 0..<k { v[i] = p[i] }
    return v
}

/// Writes lanes `0..<k` of `v` (k <= 8) to `p`.
@inline(__always)
func storeLanes(_ p: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>, _ k: Int) {
    if k == 8 { storeVector(p, v); return }
    for i in 0..<k { p[i] = v[i] }
}

/// A multi-layer long short-term memory, PyTorch's `nn.LSTM(inputSize, hiddenSize,
/// num_layers=layers, batch_first=True)` with zero initial state, returning the top
/// layer's hidden state at every step.
///
/// Gates in PyTorch's order i, f, g, o (rows `[0, H)`, `[H, 2H)`, `[2H, 3H)`, `[3H, 4H)`
/// of `weight_ih_l0` `[4H, C]`, `weight_hh_l0` `[4H, H]`, `bias_ih_l0` and `bias_hh_l0`
/// `[4H]`):
/// `i = σ(·)`, `f = σ(·)`, `g = tanh(·)`, `o = σ(·)`, `c_t = f⊙c_{t-1} + i⊙g`,
/// `h_t = o⊙tanh(c_t)`. All weights and biases start uniform in `±1/sqrt(H)`.
///
/// ```swift
/// let lstm = LSTM(64, 256, layers: 1)     // x: [N, T, 64] -> [N, T, 256]
/// ```
public final class LSTM: RecurrentStack, Layer, FLOPCounting {
    /// An LSTM of `layers` stacked layers (no dropout between them).
    public init(_ inputSize: Int, _ hiddenSize: Int, layers: Int = 1) {
        super.init(name: "LSTM", inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, gates: 4, hiddenGates: false)
    }

    public var description: String {
        "LSTM(\(inputSize), \(hiddenSize)" + (layerCount > 1 ? ", num_layers=\(layerCount)" : "") + ", batch_first=True)"
    }

    // x: [N, T, C_l] -> state[l].output [N, T, H]
    override func forwardLayer(_ l: Int, _ x: Tensor) {
        let s = state[l], h = hiddenSize, g4 = 4 * h, rows = n * steps, c = self.layerInput(l)
        let a = s.gates.data, cell = s.cell.data, tc = s.cellTanh.data, out = s.output.data, prev = s.previous.data
        // all steps' input products at once: gates = x W_ihᵀ + b_ih + b_hh
        broadcastRows(a, rows: rows, bias: biasIH[l], width: g4)
        for r in 0..<rows { addShortRow(a + r * g4, biasHH[l], g4) }
        gemm(transA: false, transB: true, m: rows, n: g4, k: c, a: x.data, lda: c, b: weightIH[l], ldb: c,
             beta: 1, c: a, ldc: g4)
        let rowStride = steps * g4, hStride = steps * h
        for t in 0..<steps {
            if t > 0 {   // gates_t += h_{t-1} W_hhᵀ, into the strided rows of step t
                gemm(transA: false, transB: true, m: n, n: g4, k: h, a: out + (t - 1) * h, lda: hStride,
                     b: weightHH[l], ldb: h, beta: 1, c: a + t * g4, ldc: rowStride)
            }
            for b in 0..<n {
                let row = b * steps + t
                let gate = a + row * g4, ct = cell + row * h, tanhC = tc + row * h, ht = out + row * h
                let cPrev = t > 0 ? cell + (row - 1) * h : zeroRow.data
                var j = 0
                while j < h {   // eight hidden units at a time
                    let k = min(8, h - j)
                    let i = vectorSigmoid(loadLanes(gate + j, k)), f = vectorSigmoid(loadLanes(gate + h + j, k))
                    let gg = vectorTanh(loadLanes(gate + 2 * h + j, k)), o = vectorSigmoid(loadLanes(gate + 3 * h + j, k))
                    storeLanes(gate + j, i, k); storeLanes(gate + h + j, f, k)
                    storeLanes(gate + 2 * h + j, gg, k); storeLanes(gate + 3 * h + j, o, k)
                    let cv = f * loadLanes(cPrev + j, k) + i * gg
                    let th = vectorTanh(cv)
                    storeLanes(ct + j, cv, k); storeLanes(tanhC + j, th, k); storeLanes(ht + j, o * th, k)
                    j += 8
                }
                if t + 1 < steps { (prev + (row + 1) * h).update(from: ht, count: h) }
            }
        }
    }

    // dy: [N, T, H] -> state[l].gradInput [N, T, C_l] (backpropagation through time)
    override func backwardLayer(_ l: Int, dy: Tensor, x: Tensor, inputGradient: Bool) {
        let s = state[l], h = hiddenSize, g4 = 4 * h
        let a = s.gates.data, dG = s.gateGrad.data, cell = s.cell.data, tc = s.cellTanh.data
        let dhNext = s.carry.data, dcNext = s.cellCarry.data, g = dy.data
        dhNext.update(repeating: 0, count: n * h)
        dcNext.update(repeating: 0, count: n * h)
        let rowStride = steps * g4
        for t in stride(from: steps - 1, through: 0, by: -1) {
            for b in 0..<n {
                let row = b * steps + t
                let gate = a + row * g4, d = dG + row * g4, tanhC = tc + row * h, gy = g + row * h
                let dh = dhNext + b * h, dc = dcNext + b * h
                let cPrev = t > 0 ? cell + (row - 1) * h : zeroRow.data
                var j = 0
                while j < h {
                    let k = min(8, h - j)
                    let i = loadLanes(gate + j, k), f = loadLanes(gate + h + j, k)
                    let gg = loadLanes(gate + 2 * h + j, k), o = loadLanes(gate + 3 * h + j, k), th = loadLanes(tanhC + j, k)
                    let dhv = loadLanes(gy + j, k) + loadLanes(dh + j, k)
                    let dcv = loadLanes(dc + j, k) + dhv * o * (1 - th * th)
                    storeLanes(d + j, dcv * gg * i * (1 - i), k)
                    storeLanes(d + h + j, dcv * loadLanes(cPrev + j, k) * f * (1 - f), k)
                    storeLanes(d + 2 * h + j, dcv * i * (1 - gg * gg), k)
                    storeLanes(d + 3 * h + j, dhv * th * o * (1 - o), k)
                    storeLanes(dc + j, dcv * f, k)
                    j += 8
                }
            }
            if t > 0 {   // dL/dh_{t-1} through the recurrence: dG_t W_hh
                gemm(transA: false, transB: false, m: n, n: h, k: g4, a: dG + t * g4, lda: rowStride,
                     b: weightHH[l], ldb: h, beta: 0, c: dhNext, ldc: h)
            }
        }
        let rows = n * steps
        accumulateColumnSums(dG, rows: rows, width: g4, into: biasIHGrad[l], and: biasHHGrad[l])
        batchedBackward(layer: l, x: x.data, inputGrad: dG, hiddenGrad: dG, inputGradient: inputGradient)
    }
}

/// A multi-layer gated recurrent unit, PyTorch's `nn.GRU(inputSize, hiddenSize,
/// num_layers=layers, batch_first=True)` with zero initial state, returning the top
/// layer's hidden state at every step.
///
/// Gates in PyTorch's order r, z, n (rows `[0, H)`, `[H, 2H)`, `[2H, 3H)` of
/// `weight_ih_l0` `[3H, C]`, `weight_hh_l0` `[3H, H]`, `bias_ih_l0`, `bias_hh_l0` `[3H]`),
/// with PyTorch's formula, the reset gate applied to the hidden product AND its bias:
/// `r = σ(W_ir x + b_ir + W_hr h + b_hr)`, `z = σ(W_iz x + b_iz + W_hz h + b_hz)`,
/// `n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn))`, `h' = (1 - z)⊙n + z⊙h`.
/// All weights and biases start uniform in `±1/sqrt(H)`.
///
/// ```swift
/// let gru = GRU(64, 128, layers: 2)     // x: [N, T, 64] -> [N, T, 128]
/// ```
public final class GRU: RecurrentStack, Layer, FLOPCounting {
    /// A GRU of `layers` stacked layers (no dropout between them).
    public init(_ inputSize: Int, _ hiddenSize: Int, layers: Int = 1) {
        super.init(name: "GRU", inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, gates: 3, hiddenGates: true)
    }

    public var description: String {
        "GRU(\(inputSize), \(hiddenSize)" + (layerCount > 1 ? ", num_layers=\(layerCount)" : "") + ", batch_first=True)"
    }

    // x: [N, T, C_l] -> state[l].output [N, T, H]
    override func forwardLayer(_ l: Int, _ x: Tensor) {
        let s = state[l], h = hiddenSize, g3 = 3 * h, rows = n * steps, c = self.layerInput(l)
        let a = s.gates.data, hg = s.hiddenGates.data, out = s.output.data, prev = s.previous.data
        // all steps' input products at once: gates = x W_ihᵀ + b_ih; hidden gates start at b_hh
        broadcastRows(a, rows: rows, bias: biasIH[l], width: g3)
        gemm(transA: false, transB: true, m: rows, n: g3, k: c, a: x.data, lda: c, b: weightIH[l], ldb: c,
             beta: 1, c: a, ldc: g3)
        broadcastRows(hg, rows: rows, bias: biasHH[l], width: g3)
        let rowStride = steps * g3, hStride = steps * h
        for t in 0..<steps {
            if t > 0 {   // hidden gates_t += h_{t-1} W_hhᵀ, into the strided rows of step t
                gemm(transA: false, transB: true, m: n, n: g3, k: h, a: out + (t - 1) * h, lda: hStride,
                     b: weightHH[l], ldb: h, beta: 1, c: hg + t * g3, ldc: rowStride)
            }
            for b in 0..<n {
                let row = b * steps + t
                let gate = a + row * g3, hgate = hg + row * g3, ht = out + row * h, hp = prev + row * h
                var j = 0
                while j < h {   // eight hidden units at a time
                    let k = min(8, h - j)
                    let r = vectorSigmoid(loadLanes(gate + j, k) + loadLanes(hgate + j, k))
                    let z = vectorSigmoid(loadLanes(gate + h + j, k) + loadLanes(hgate + h + j, k))
                    let nv = vectorTanh(loadLanes(gate + 2 * h + j, k) + r * loadLanes(hgate + 2 * h + j, k))
                    storeLanes(gate + j, r, k); storeLanes(gate + h + j, z, k); storeLanes(gate + 2 * h + j, nv, k)
                    storeLanes(ht + j, (1 - z) * nv + z * loadLanes(hp + j, k), k)
                    j += 8
                }
                if t + 1 < steps { (prev + (row + 1) * h).update(from: ht, count: h) }
            }
        }
    }

    // dy: [N, T, H] -> state[l].gradInput [N, T, C_l] (backpropagation through time)
    override func backwardLayer(_ l: Int, dy: Tensor, x: Tensor, inputGradient: Bool) {
        let s = state[l], h = hiddenSize, g3 = 3 * h
        let a = s.gates.data, hg = s.hiddenGates.data, dGi = s.gateGrad.data, dGh = s.hiddenGateGrad.data
        let prev = s.previous.data, dhNext = s.carry.data, g = dy.data
        dhNext.update(repeating: 0, count: n * h)
        let rowStride = steps * g3
        for t in stride(from: steps - 1, through: 0, by: -1) {
            for b in 0..<n {
                let row = b * steps + t
                let gate = a + row * g3, hgate = hg + row * g3, di = dGi + row * g3, dh = dGh + row * g3
                let hp = prev + row * h, gy = g + row * h, carry = dhNext + b * h
                var j = 0
                while j < h {
                    let k = min(8, h - j)
                    let r = loadLanes(gate + j, k), z = loadLanes(gate + h + j, k), nv = loadLanes(gate + 2 * h + j, k)
                    let dhv = loadLanes(gy + j, k) + loadLanes(carry + j, k)
                    let dn = dhv * (1 - z) * (1 - nv * nv)
                    let dz = dhv * (loadLanes(hp + j, k) - nv) * z * (1 - z)
                    let dr = dn * loadLanes(hgate + 2 * h + j, k) * r * (1 - r)
                    storeLanes(di + j, dr, k); storeLanes(di + h + j, dz, k); storeLanes(di + 2 * h + j, dn, k)
                    storeLanes(dh + j, dr, k); storeLanes(dh + h + j, dz, k); storeLanes(dh + 2 * h + j, dn * r, k)
                    storeLanes(carry + j, dhv * z, k)   // the direct path h_{t-1} -> h_t
                    j += 8
                }
            }
            if t > 0 {   // plus the path through the hidden gates: dGh_t W_hh
                gemm(transA: false, transB: false, m: n, n: h, k: g3, a: dGh + t * g3, lda: rowStride,
                     b: weightHH[l], ldb: h, beta: 1, c: dhNext, ldc: h)
            }
        }
        let rows = n * steps
        accumulateColumnSums(dGi, rows: rows, width: g3, into: biasIHGrad[l])
        accumulateColumnSums(dGh, rows: rows, width: g3, into: biasHHGrad[l])
        batchedBackward(layer: l, x: x.data, inputGrad: dGi, hiddenGrad: dGh, inputGradient: inputGradient)
    }
}
