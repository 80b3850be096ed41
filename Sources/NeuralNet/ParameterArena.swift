/// A named, shaped window into one of a model's flat arenas.
///
/// `offset` and `count` are element positions in ``ParameterArena/parameters`` (and the
/// identical layout of ``ParameterArena/gradients`` and optimizer state) for trainable
/// views, or in ``ParameterArena/buffers`` for non-trainable ones.
///
/// ```swift
/// let w = model.arena.views[0]   // name "0.weight", shape [512, 784], offset 0
/// ```
public struct ParameterView: Sendable, Equatable {
    /// The PyTorch state_dict key, e.g. `0.weight`, `1.running_mean`.
    public let name: String
    /// The PyTorch shape: Linear weight `[out, in]`, Conv2d weight `[out, in/groups, kh, kw]`.
    public let shape: [Int]
    /// First element in its arena.
    public let offset: Int
    /// Number of elements (product of `shape`).
    public let count: Int
    /// True for integer-valued buffers (`num_batches_tracked`): stored as Float, written as int64.
    public let isInteger: Bool

    /// A view; `count` is computed from `shape`.
    public init(name: String, shape: [Int], offset: Int, isInteger: Bool = false) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.count = shape.reduce(1, *)
        self.isInteger = isInteger
    }

    /// The element range of this view in its arena.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// What a layer asks the arena for: a name suffix (`weight`) and a shape.
public struct TensorSpec: Sendable, Equatable {
    /// The suffix after the layer index, e.g. `weight`, `running_var`.
    public let name: String
    /// The PyTorch shape.
    public let shape: [Int]
    /// True for integer-valued buffers.
    public let isInteger: Bool
    /// A spec.
    public init(_ name: String, _ shape: [Int], isInteger: Bool = false) {
        self.name = name
        self.shape = shape
        self.isInteger = isInteger
    }
}

/// The flat storage of a model: all trainable parameters in ONE contiguous buffer, their
/// gradients in a second buffer of identical layout, and non-trainable state (BatchNorm
/// running statistics) in a separate buffers arena. Layers hold pointers into these
/// buffers; layers are laid out in forward order.
///
/// Zeroing gradients is one fill, averaging them is one scale, an all-reduce bucket is one
/// contiguous range, and a checkpoint writes each buffer once.
///
/// ```swift
/// let arena = model.arena
/// arena.gradients.update(repeating: 0)
/// for v in arena.views { print(v.name, v.shape) }
/// ```
public final class ParameterArena {
    /// Every trainable parameter, contiguous, in forward order.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// Gradients; same layout as `parameters`. Owned by the arena unless placed elsewhere
    /// with ``Sequential/placeGradients(in:)``.
    public private(set) var gradients: UnsafeMutableBufferPointer<Float>
    private var ownsGradients = true
    /// Non-trainable buffers (BatchNorm running stats); may be empty.
    public let buffers: UnsafeMutableBufferPointer<Float>
    /// The trainable views, in arena order.
    public let views: [ParameterView]
    /// The non-trainable views, in arena order.
    public let bufferViews: [ParameterView]

    /// An arena holding the given views (zero-filled). Offsets must tile `0..<total`.
    public init(views: [ParameterView], bufferViews: [ParameterView]) {
        self.views = views
        self.bufferViews = bufferViews
        let p = views.reduce(0) { $0 + $1.count }
        let b = bufferViews.reduce(0) { $0 + $1.count }
        parameters = .allocate(capacity: p)
        parameters.initialize(repeating: 0)
        gradients = .allocate(capacity: p)
        gradients.initialize(repeating: 0)
        buffers = .allocate(capacity: b)
        buffers.initialize(repeating: 0)
    }

    deinit {
        parameters.deallocate()
        if ownsGradients { gradients.deallocate() }
        buffers.deallocate()
    }

    /// Moves the gradients (values kept) into `storage`, which the caller owns and keeps
    /// alive while the arena uses it, or back into memory of the arena's own when `nil`.
    func moveGradients(to storage: UnsafeMutableBufferPointer<Float>?) {
        let target: UnsafeMutableBufferPointer<Float>
        if let storage {
            precondition(storage.count == gradients.count,
                         "ParameterArena: gradient storage of \(storage.count) floats, expected \(gradients.count)")
            target = storage
        } else {
            target = .allocate(capacity: gradients.count)
        }
        guard target.baseAddress != gradients.baseAddress else { return }
        _ = target.update(fromContentsOf: gradients)
        if ownsGradients { gradients.deallocate() }
        gradients = target
        ownsGradients = storage == nil
    }

    /// Number of trainable elements.
    public var parameterCount: Int { parameters.count }

    /// The trainable or buffer view with this state_dict name, if any.
    public func view(named name: String) -> ParameterView? {
        views.first { $0.name == name } ?? bufferViews.first { $0.name == name }
    }
}
