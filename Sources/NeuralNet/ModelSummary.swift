/// One row of ``Sequential/summary()``: a layer (or a layer inside a residual block).
public struct LayerSummary: Sendable, Equatable {
    /// `3`, or `4.1` inside the residual block at 4 (the prefix of its parameter names).
    public var index: String
    /// PyTorch repr (`Residual` alone for a block, whose layers follow as their own rows).
    public var layer: String
    /// Per-sample output shape.
    public var outputShape: [Int]
    /// Trainable parameters (a block's include its body's).
    public var parameters: Int
    /// Forward FLOPs per sample of the matrix products (multiply-add = 2); 0 for layers
    /// without any (a block's include its body's).
    public var forwardFLOPs: Int
    /// Nesting depth (0 for the model's own layers).
    public var depth: Int
}

extension Sequential {
    /// One row per layer, residual bodies included after their block.
    public var layerSummaries: [LayerSummary] {
        var rows: [LayerSummary] = []
        /// Appends the rows of `layers` and returns their forward FLOPs.
        @discardableResult
        func add(_ layers: [any Layer], input: [Int], prefix: String, depth: Int) -> Int {
            var shape = input, total = 0
            for (i, layer) in layers.enumerated() {
                let output = (try? layer.outputShape(forInput: shape)) ?? shape
                let index = prefix + String(i)
                let row = rows.count
                rows.append(LayerSummary(index: index, layer: layer.description, outputShape: output,
                                         parameters: layer.parameterCount, forwardFLOPs: 0, depth: depth))
                if let block = layer as? Residual {
                    rows[row].layer = "Residual"
                    rows[row].forwardFLOPs = add(block.layers, input: shape, prefix: index + ".", depth: depth + 1)
                } else if let counted = layer as? FLOPCounting {
                    // without the input gradient, a training step is forward + weight gradient: 2x forward
                    rows[row].forwardFLOPs = counted.trainingFLOPs(inputShape: shape, computeInputGradient: false) / 2
                }
                total += rows[row].forwardFLOPs
                shape = output
            }
            return total
        }
        add(layers, input: inputShape, prefix: "", depth: 0)
        return rows
    }

    /// Forward FLOPs per sample of the matrix products (multiply-add = 2).
    public var forwardFLOPsPerSample: Int {
        layerSummaries.filter { $0.depth == 0 }.reduce(0) { $0 + $1.forwardFLOPs }
    }

    /// A PyTorch-style summary: per layer its repr, output shape (per sample), parameters
    /// and forward FLOPs; then the totals.
    ///
    /// ```
    /// Layer                                        Output shape     Params   FLOPs/sample
    /// (0) Linear(in_features=784, out_features=10, bias=True)  [10]  7,850  15,680
    /// ```
    public func summary() -> String {
        let rows = layerSummaries
        let names = rows.map { String(repeating: "  ", count: $0.depth) + "(\($0.index)) " + $0.layer }
        let shapes = rows.map { "\($0.outputShape)" }
        let params = rows.map { grouped($0.parameters) }
        let flops = rows.map { $0.forwardFLOPs == 0 ? "-" : grouped($0.forwardFLOPs) }
        let w0 = max(5, names.map(\.count).max() ?? 0), w1 = max(12, shapes.map(\.count).max() ?? 0)
        let w2 = max(6, params.map(\.count).max() ?? 0), w3 = max(12, flops.map(\.count).max() ?? 0)
        func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, w - s.count))
            return right ? fill + s : s + fill
        }
        let rule = String(repeating: "-", count: w0 + w1 + w2 + w3 + 6)
        var lines = [pad("Layer", w0) + "  " + pad("Output shape", w1) + "  " + pad("Params", w2, right: true) + "  " + pad("FLOPs/sample", w3, right: true), rule]
        lines.append(pad("input", w0) + "  " + pad("\(inputShape)", w1))
        for i in rows.indices {
            lines.append(pad(names[i], w0) + "  " + pad(shapes[i], w1) + "  " + pad(params[i], w2, right: true) + "  " + pad(flops[i], w3, right: true))
        }
        lines.append(rule)
        let bufferCount = arena.buffers.count
        lines.append("parameters: \(grouped(parameterCount)) (\(megabytes(parameterCount * 4)) as float32)"
                     + (bufferCount > 0 ? "; buffers: \(grouped(bufferCount)) (running statistics)" : ""))
        lines.append("output per sample: \(outputShape)")
        lines.append("FLOPs per sample (matrix products, multiply-add = 2): forward \(grouped(forwardFLOPsPerSample)), "
                     + "training step (forward + backward) \(grouped(trainingFLOPsPerSample))")
        return lines.joined(separator: "\n")
    }
}

/// `1234567` -> `1,234,567`.
private func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// Bytes as `12.3 MB` (decimal) or `456.7 kB`.
private func megabytes(_ bytes: Int) -> String {
    let b = Double(bytes)
    if b >= 1e6 { return "\((b / 1e5).rounded() / 10) MB" }
    return "\((b / 1e2).rounded() / 10) kB"
}
