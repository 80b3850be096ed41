/// A dense, contiguous, row-major tensor of `Float` with 1 to 5 dimensions.
///
/// Shapes follow PyTorch: `[N]` labels, `[N, F]` for `Linear`, `[N, C, H, W]` for `Conv2d`.
/// A tensor either owns its storage or is a view of another tensor's storage (what
/// `Flatten` returns). Layers keep their output tensors and reuse them from step to step,
/// so a tensor returned by `forward` stays valid only until the next `forward`.
///
/// ```swift
/// let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
/// x.reshape([3, 2])      // metadata only
/// x.values               // [1, 2, 3, 4, 5, 6]
/// ```
public final class Tensor {
    /// The dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Number of elements (the product of `shape`).
    public private(set) var count: Int
    /// The first element; `count` elements follow contiguously.
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int
    private var ownsMemory: Bool

    /// A zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        precondition(shape.count >= 1 && shape.count <= 5, "Tensor: rank of \(shape) must be 1...5")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = max(count, 1)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
        ownsMemory = true
    }

    /// A tensor holding `values` (row-major); `values.count` must equal the shape's product.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of `count` elements at `data`, owned elsewhere (internal: `Flatten`).
    init(viewing data: UnsafeMutablePointer<Float>, shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        capacity = count
        self.data = data
        ownsMemory = false
    }

    deinit { if ownsMemory { data.deallocate() } }

    /// A copy of the elements, row-major.
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The elements as a buffer pointer (no copy).
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// Changes the shape without touching the data; the element count must stay the same.
    ///
    /// `x.reshape([64, 784])` turns a `[64, 1, 28, 28]` batch into MLP input for free.
    public func reshape(_ newShape: [Int]) {
        precondition(newShape.reduce(1, *) == count, "Tensor.reshape: \(shape) has \(count) elements, \(newShape) does not")
        if newShape != shape { shape = newShape }
    }

    /// Makes this tensor hold `newShape`, growing its storage when needed (contents are then
    /// unspecified). Layers call it only when their input shape changes, so a steady-state
    /// step never allocates.
    public func resize(to newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(ownsMemory || n <= capacity, "Tensor.resize: a view cannot grow from \(shape) to \(newShape)")
        if n > capacity {
            data.deallocate()
            capacity = n
            data = .allocate(capacity: n)
            data.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    /// Points this view at other storage (internal: `Flatten` re-aims its view every step).
    func aim(at pointer: UnsafeMutablePointer<Float>, shape newShape: [Int]) {
        precondition(!ownsMemory, "Tensor.aim: only views can be re-aimed")
        data = pointer
        if newShape != shape {
            shape = newShape
            count = newShape.reduce(1, *)
            capacity = count
        }
    }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }
}

extension Tensor: CustomStringConvertible {
    /// `Tensor([2, 3])`.
    public var description: String { "Tensor(\(shape))" }
}
