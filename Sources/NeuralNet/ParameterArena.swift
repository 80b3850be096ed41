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
    /// Every trainable parameter, contiguous, in forward order. Owned by the arena unless
    /// placed elsewhere with ``Sequential/placeParameters(in:)``.
    public var parameters: UnsafeMutableBufferPointer<Float> { parameterStorage.buffer }
    /// Gradients; same layout as `parameters`. Owned by the arena unless placed elsewhere
    /// with ``Sequential/placeGradients(in:)``.
    public var gradients: UnsafeMutableBufferPointer<Float> { gradientStorage.buffer }
    private var parameterStorage: PlaceableBuffer
    private var gradientStorage: PlaceableBuffer
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
        parameterStorage = PlaceableBuffer(count: p)
        gradientStorage = PlaceableBuffer(count: p)
        buffers = .allocate(capacity: b)
        buffers.initialize(repeating: 0)
    }

    deinit {
        parameterStorage.release()
        gradientStorage.release()
        buffers.deallocate()
    }

    /// Moves the parameters into `storage`, which the caller owns and keeps alive while the
    /// arena uses it, or back into memory of the arena's own when `nil`. The values go along
    /// unless `keepingValues` is false (storage that already holds them, written by another).
    func moveParameters(to storage: UnsafeMutableBufferPointer<Float>?, keepingValues: Bool = true) {
        parameterStorage.move(to: storage, what: "parameter", keepingValues: keepingValues)
    }

    /// Moves the gradients (values kept), like ``moveParameters(to:)``.
    func moveGradients(to storage: UnsafeMutableBufferPointer<Float>?) {
        gradientStorage.move(to: storage, what: "gradient")
    }

    /// Length of ``parameters`` (and of ``gradients``).
    public var parameterCount: Int { parameters.count }

    /// The trainable or buffer view with this state_dict name, if any.
    public func view(named name: String) -> ParameterView? {
        views.first { $0.name == name } ?? bufferViews.first { $0.name == name }
    }
}

/// A float buffer in memory of its own or in storage that a caller placed it in (an MPI
/// shared-memory window, say); moving takes the values along unless told the storage
/// already holds them, and moving back home always does. Not copyable in meaning: its
/// owner calls ``release()`` once, from its `deinit`.
struct PlaceableBuffer {
    private(set) var buffer: UnsafeMutableBufferPointer<Float>
    private var owned = true

    /// `count` zeros in memory of its own.
    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }

    /// Moves into `storage` (same count), or into memory of its own when `nil`, taking the
    /// values along unless `keepingValues` is false (then `storage`'s values are kept).
    mutating func move(to storage: UnsafeMutableBufferPointer<Float>?, what: String, keepingValues: Bool = true) {
        let target: UnsafeMutableBufferPointer<Float>
        if let storage {
            precondition(storage.count == buffer.count,
                         "\(what) storage of \(storage.count) floats, expected \(buffer.count)")
            target = storage
        } else {
            guard !owned else { return }
            target = .allocate(capacity: buffer.count)
        }
        guard target.baseAddress != buffer.baseAddress else { return }
        if keepingValues || storage == nil { _ = target.update(fromContentsOf: buffer) }
        if owned { buffer.deallocate() }
        buffer = target
        owned = storage == nil
    }

    /// Frees memory of its own (placed storage belongs to whoever placed it).
    func release() {
        if owned { buffer.deallocate() }
    }
}
