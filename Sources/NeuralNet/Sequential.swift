/// A chain of layers run in order, owning the model's flat ``ParameterArena``.
///
/// Parameter names follow PyTorch's `nn.Sequential` (`0.weight`, `2.bias`), layers are laid
/// out in the arena in forward order, and the first layer never computes the gradient with
/// respect to the network input.
///
/// ```swift
/// let model = try Sequential(inputShape: [784], [Linear(784, 10)], seed: 1)
/// model.zeroGradients()
/// let logits = model.forward(x)      // [N, 784] -> [N, 10]
/// model.backward(dlogits)
/// ```
public final class Sequential {
    /// Per-sample input shape, e.g. `[784]` or `[1, 28, 28]`.
    public let inputShape: [Int]
    /// Per-sample output shape.
    public let outputShape: [Int]
    /// The flat parameters, gradients and buffers of every layer.
    public let arena: ParameterArena
    /// The layers in forward order.
    public let layers: [any Layer]
    /// Arena range of each layer's parameters (empty for parameterless layers).
    public let parameterRanges: [Range<Int>]
    /// Per-sample input shape of each layer, in order.
    public let layerInputShapes: [[Int]]
    private let bindOffsets: [(parameters: Int, buffers: Int)]   // each layer's first element in the arenas
    private var training = true

    /// Builds the arena for `layers` and initialises them from `seed` (PyTorch defaults).
    /// Throws when the layer shapes do not chain from `inputShape`.
    public init(inputShape: [Int], _ layers: [any Layer], seed: UInt64) throws {
        self.inputShape = inputShape
        self.layers = layers
        var shapes: [[Int]] = []
        var shape = inputShape
        for layer in layers {
            shapes.append(shape)
            shape = try layer.outputShape(forInput: shape)
        }
        outputShape = shape
        layerInputShapes = shapes
        var views: [ParameterView] = [], bufferViews: [ParameterView] = []
        var ranges: [Range<Int>] = []
        var offset = 0, bufferOffset = 0
        var starts: [(Int, Int)] = []
        for (index, layer) in layers.enumerated() {
            starts.append((offset, bufferOffset))
            let begin = offset
            for spec in layer.parameterSpecs {
                let v = ParameterView(name: "\(index).\(spec.name)", shape: spec.shape, offset: offset)
                views.append(v)
                offset += v.count
            }
            ranges.append(begin..<offset)
            for spec in layer.bufferSpecs {
                let v = ParameterView(name: "\(index).\(spec.name)", shape: spec.shape, offset: bufferOffset,
                                      isInteger: spec.isInteger)
                bufferViews.append(v)
                bufferOffset += v.count
            }
        }
        parameterRanges = ranges
        arena = ParameterArena(views: views, bufferViews: bufferViews)
        bindOffsets = starts.map { (parameters: $0.0, buffers: $0.1) }
        setLayerFusion(true)
        bindLayers()
        var rng = SeededRNG(seed: seed)
        for layer in layers { layer.resetParameters(rng: &rng) }
    }

    /// Points every layer at its windows of the arenas.
    private func bindLayers() {
        for (layer, start) in zip(layers, bindOffsets) {
            layer.bind(parameters: arena.parameters.baseAddress! + start.parameters,
                       gradients: arena.gradients.baseAddress! + start.parameters,
                       buffers: (arena.buffers.baseAddress ?? arena.parameters.baseAddress!) + start.buffers)
        }
    }

    /// Moves the gradient arena into `storage` (for example memory that other processes can
    /// read, such as an MPI shared-memory window), keeping its values, and points every
    /// layer at it; `nil` moves it back into memory the model owns. The caller keeps
    /// `storage` alive, and unchanged by others, while the model uses it.
    ///
    /// ```swift
    /// model.placeGradients(in: window.local)   // backward now writes into the window
    /// model.placeGradients(in: nil)            // before the window is freed
    /// ```
    public func placeGradients(in storage: UnsafeMutableBufferPointer<Float>?) {
        arena.moveGradients(to: storage)
        bindLayers()
    }

    /// Moves the parameters into `storage`, with their values unless `keepingValues` is
    /// false (when another process has written them there already), and points every layer
    /// at it; `nil` moves them back into memory the model owns, values kept. Ranks on one
    /// node can so train one copy of the parameters held in an MPI shared-memory window. The
    /// caller keeps `storage` alive while the model uses it, and writes it only between passes.
    ///
    /// ```swift
    /// model.placeParameters(in: shared)   // forward now reads the shared copy
    /// model.placeParameters(in: nil)      // private again, with the latest values
    /// ```
    public func placeParameters(in storage: UnsafeMutableBufferPointer<Float>?, keepingValues: Bool = true) {
        arena.moveParameters(to: storage, keepingValues: keepingValues)
        bindLayers()
    }

    /// Turns on (the default) or off the fusion of each `Conv2d` or `BatchNorm` followed by a
    /// `ReLU` (in residual bodies too): fused, the first layer rectifies in the pass that writes its output and applies
    /// the mask in the pass that reads its output gradient, and the ReLU hands tensors through. Results
    /// are bit-identical either way; fusion saves one sweep over the activations in forward
    /// and one in backward. Turning it off is for comparing and debugging.
    ///
    /// ```swift
    /// model.setLayerFusion(false)   // every layer runs on its own
    /// ```
    public func setLayerFusion(_ enabled: Bool) {
        setReLUFusion(layers, enabled)
    }

    /// Number of outputs per sample (e.g. 10 classes).
    public var outputCount: Int { outputShape.reduce(1, *) }
    /// Trainable elements in all layers: the length of the arena's parameters.
    public var parameterCount: Int { arena.parameterCount }
    /// Whether the model is in training mode.
    public var isTraining: Bool { training }

    /// Training (batch statistics, dropout on) or evaluation mode, for every layer.
    public func setTraining(_ training: Bool) {
        self.training = training
        for layer in layers { layer.setTraining(training) }
    }

    /// Reseeds every stochastic layer (Dropout), each from its own stream of `seed`.
    public func setRandomSeed(_ seed: UInt64) {
        for (i, layer) in layers.enumerated() { layer.setRandomSeed(seed ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15)) }
    }

    /// Sets every gradient to zero (one fill of `arena.gradients`).
    public func zeroGradients() { arena.gradients.update(repeating: 0) }

    /// Throws ``NeuralNetError/inputShapeMismatch(expected:got:)`` when `shape` (batch first)
    /// does not fit the model's per-sample ``inputShape``.
    public func validateInput(shape: [Int]) throws {
        guard shape.count == inputShape.count + 1, Array(shape.dropFirst()) == inputShape else {
            throw NeuralNetError.inputShapeMismatch(expected: inputShape, got: shape)
        }
    }

    /// Runs every layer. `input` is `[N] + inputShape`; the result `[N, outputCount]` is
    /// model-owned and valid until the next `forward`.
    public func forward(_ input: Tensor) -> Tensor {
        precondition(input.shape.count == inputShape.count + 1 && input.shape.dropFirst().elementsEqual(inputShape),
                     "Sequential.forward: input \(input.shape) does not fit per-sample shape \(inputShape)")
        var x = input
        for layer in layers { x = layer.forward(x) }
        return x
    }

    /// Backpropagates `gradOutput` (shape of the last output), accumulating into
    /// `arena.gradients`. After each layer with parameters it calls `onGradientsReady` with
    /// that layer's now-final gradient range; calls come in descending offsets and together
    /// cover `0..<parameterCount` exactly once.
    public func backward(_ gradOutput: Tensor, onGradientsReady: ((Range<Int>) -> Void)? = nil) {
        var g = gradOutput
        var i = layers.count - 1
        while i >= 0 {
            let dx = layers[i].backward(g, computeInputGradient: i > 0)
            if let callback = onGradientsReady, !parameterRanges[i].isEmpty { callback(parameterRanges[i]) }
            if let dx { g = dx }
            i -= 1
        }
    }

    /// One line per layer like PyTorch's repr, with parameter counts, and a total.
    ///
    /// ```
    /// (0): Linear(in_features=784, out_features=10, bias=True)  params=7850
    /// ```
    public func describe() -> String {
        var lines: [String] = []
        for (i, layer) in layers.enumerated() {
            let n = layer.parameterCount
            lines.append("(\(i)): \(layer.description)" + (n > 0 ? "  params=\(n)" : ""))
        }
        lines.append("input=\(inputShape) output=\(outputShape) parameters=\(parameterCount)")
        return lines.joined(separator: "\n")
    }

    /// Training FLOPs per sample (forward + backward, multiply-adds counted as 2), from layer shapes.
    public var trainingFLOPsPerSample: Int {
        var total = 0
        for (i, layer) in layers.enumerated() {
            if let counted = layer as? FLOPCounting {
                total += counted.trainingFLOPs(inputShape: layerInputShapes[i], computeInputGradient: i > 0)
            }
        }
        return total
    }
}

/// Layers that can count their per-sample training FLOPs (the GEMM-heavy ones).
public protocol FLOPCounting {
    /// Forward + backward FLOPs for one sample of per-sample shape `inputShape`.
    func trainingFLOPs(inputShape: [Int], computeInputGradient: Bool) -> Int
}
