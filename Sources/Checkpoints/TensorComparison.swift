/// How far two sets of named tensors (two checkpoints' parameters) are apart.
public struct TensorComparison: Sendable, Equatable {
    /// The largest `|a - b| / max(|b|, 1e-3)` over every element.
    public var largestRelative: Double = 0
    /// The tensor holding the largest relative difference (`nil` when everything is equal).
    public var largestRelativeIn: String?
    /// The largest `|a - b|` over every element.
    public var largestAbsolute: Double = 0

    /// Compares `a` with `b` element by element. Both must hold the same names with the
    /// same shapes; otherwise the error says which tensor differs.
    public init(_ a: [String: TensorRecord], _ b: [String: TensorRecord]) throws(CheckpointError) {
        for name in a.keys.sorted(by: stateDictOrder) {
            let x = a[name]!
            guard let y = b[name], x.shape == y.shape else {
                throw .notComparable(reason: "the other checkpoint does not hold tensor \(name) with shape \(x.shape); the checkpoints are of different models")
            }
            for (u, v) in zip(x.values, y.values) {
                let d = Double(abs(u - v))
                largestAbsolute = max(largestAbsolute, d)
                let r = d / max(Double(abs(v)), 1e-3)
                if r > largestRelative { largestRelative = r; largestRelativeIn = name }
            }
        }
        if a.count != b.count {
            throw .notComparable(reason: "the checkpoints hold different tensors (\(a.count) and \(b.count))")
        }
    }
}

/// PyTorch's state-dict order: "2.weight" before "10.weight" (the leading layer index
/// numerically), then the rest of the name.
public func stateDictOrder(_ a: String, _ b: String) -> Bool {
    let ia = Int(a.prefix(while: \.isNumber)) ?? Int.max, ib = Int(b.prefix(while: \.isNumber)) ?? Int.max
    return ia != ib ? ia < ib : a < b
}
