import Foundation
import Testing
@testable import NeuralNet

/// Expects `actual` and `expected` to agree element-wise within `atol + rtol·|expected|`.
func assertClose(_ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): \(actual.count) vs \(expected.count) elements", sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    var worst = -1
    var worstExcess: Float = 0
    for i in actual.indices {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= 0) && (worst < 0 || excess > worstExcess || excess.isNaN) { worst = i; worstExcess = excess }
    }
    #expect(worst < 0, "\(what): element \(worst) is \(worst >= 0 ? actual[worst] : 0), expected \(worst >= 0 ? expected[worst] : 0)",
            sourceLocation: sourceLocation)
}

/// Scalar form of ``assertClose(_:_:rtol:atol:_:sourceLocation:)``.
func assertClose(_ actual: Float, _ expected: Float, rtol: Float = 1e-5, atol: Float = 1e-6,
                 _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    assertClose([actual], [expected], rtol: rtol, atol: atol, what, sourceLocation: sourceLocation)
}

/// A tensor of standard normals from `seed`.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = SeededRNG(seed: seed)
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t.data[i] = scale * rng.nextNormal() }
    return t
}

/// A tensor whose elements are distinct, at least `gap` apart, and away from zero (so
/// ReLU kinks and max-pool ties are not crossed by a finite-difference step).
func separatedTensor(_ shape: [Int], seed: UInt64, gap: Float = 0.05) -> Tensor {
    var rng = SeededRNG(seed: seed)
    let t = Tensor(shape: shape)
    let perm = rng.permutation(t.count)
    for i in 0..<t.count {
        let rank = Float(perm[i]) - Float(t.count) / 2
        t.data[i] = (rank + (rank >= 0 ? 0.5 : -0.5)) * gap
    }
    return t
}

/// Wraps one layer in a model so it has an arena; returns the model.
func hosted(_ layer: any Layer, inputShape: [Int], seed: UInt64 = 7) throws -> Sequential {
    try Sequential(inputShape: inputShape, [layer], seed: seed)
}

/// Finite-difference check of a layer's input and parameter gradients for the scalar
/// `L = Σ r ⊙ layer(x)` with fixed random `r`; also checks that backward accumulates.
/// `prepare` runs before every forward (e.g. to reseed dropout).
func checkLayerGradients(_ layer: any Layer, input: Tensor, step h: Float = 1e-2, rtol: Float = 2e-2,
                         atol: Float = 2e-3, prepare: () -> Void = {},
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
    let model = try hosted(layer, inputShape: Array(input.shape.dropFirst()))
    prepare()
    let out = layer.forward(input)
    let r = randomTensor(out.shape, seed: 99)
    func objective() -> Double {
        prepare()
        let y = layer.forward(input)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }
    // analytic
    model.zeroGradients()
    prepare()
    _ = layer.forward(input)
    let dx = layer.backward(r, computeInputGradient: true)!.values
    let grads = Array(model.arena.gradients)
    // numerical, input
    var numeric = [Float](repeating: 0, count: input.count)
    for i in 0..<input.count {
        let saved = input.data[i]
        input.data[i] = saved + h; let plus = objective()
        input.data[i] = saved - h; let minus = objective()
        input.data[i] = saved
        numeric[i] = Float((plus - minus) / Double(2 * h))
    }
    assertClose(dx, numeric, rtol: rtol, atol: atol, "\(layer.description) input gradient", sourceLocation: sourceLocation)
    // numerical, parameters
    let p = model.arena.parameters
    var numericP = [Float](repeating: 0, count: p.count)
    for i in 0..<p.count {
        let saved = p[i]
        p[i] = saved + h; let plus = objective()
        p[i] = saved - h; let minus = objective()
        p[i] = saved
        numericP[i] = Float((plus - minus) / Double(2 * h))
    }
    assertClose(grads, numericP, rtol: rtol, atol: atol, "\(layer.description) parameter gradient", sourceLocation: sourceLocation)
    // accumulation: a second backward doubles the parameter gradients
    if !grads.isEmpty {
        prepare()
        _ = layer.forward(input)
        model.zeroGradients()
        _ = layer.backward(r, computeInputGradient: true)
        _ = layer.backward(r, computeInputGradient: true)
        assertClose(Array(model.arena.gradients), grads.map { 2 * $0 }, rtol: 1e-5, atol: 1e-6,
                    "\(layer.description) accumulation", sourceLocation: sourceLocation)
    }
}

/// The reference fixtures made by scripts/make_nn_fixtures.py.
struct Fixtures {
    let root: [String: Any]
    init() throws {
        let url = try #require(Bundle.module.url(forResource: "reference", withExtension: "json", subdirectory: "Fixtures"))
        root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }
}

/// Reads `{"shape": [...], "values": [...]}` from a fixture dictionary.
func fixtureTensor(_ dict: [String: Any], _ key: String) throws -> Tensor {
    let entry = try #require(dict[key] as? [String: Any], "fixture key \(key)")
    let shape = try #require(entry["shape"] as? [Int])
    let values = try #require(entry["values"] as? [Double]).map(Float.init)
    return Tensor(shape: shape.isEmpty ? [1] : shape, values: values)
}

/// Copies `values` into the arena view named `name`.
func setParameter(_ model: Sequential, _ name: String, _ values: [Float]) throws {
    let view = try #require(model.arena.view(named: name))
    #expect(view.count == values.count)
    for i in 0..<view.count { model.arena.parameters[view.offset + i] = values[i] }
}

/// The gradient values of the arena view named `name`.
func gradient(_ model: Sequential, _ name: String) throws -> [Float] {
    let view = try #require(model.arena.view(named: name))
    return Array(model.arena.gradients[view.range])
}
