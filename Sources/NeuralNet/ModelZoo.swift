/// Models by name or spec, laid out like the equivalent PyTorch `nn.Sequential` (index =
/// position, so parameter names match its state_dict).
///
/// Presets:
/// - `seed-mlp`: 784-512-256-256-128-10 with ReLU between (input `[784]`);
/// - `seed-cnn`: Conv2d(1,16,3,s2), ReLU, Conv2d(16,32,3), ReLU, Flatten, Linear(3872,128),
///   ReLU, Linear(128,10) (input `[1, 28, 28]`);
/// - `sigmoid-net`: 784-128-10 with Sigmoid after each Linear; `sigmoid-net:2,4,1` picks sizes;
/// - `bn-cnn`: [Conv2d(k3,p1), BatchNorm2d, ReLU, MaxPool2d(2)] with 32 then 64 channels,
///   Flatten, Linear(3136,128), ReLU, Linear(128,10).
///
/// Specs: `mlp:784,256,128,10` (Linear + ReLU between, nothing after the last).
///
/// ```swift
/// let model = try ModelZoo.make("mlp:784,256,10", seed: 42)
/// model.inputShape      // [784]
/// ```
public enum ModelZoo {
    /// The preset names `make` accepts.
    public static let presetNames: [String] = ["seed-mlp", "seed-cnn", "sigmoid-net", "bn-cnn"]

    /// The named preset or parsed spec, initialised from `seed` (PyTorch default init).
    /// Throws ``NeuralNetError`` naming a bad name or spec.
    public static func make(_ nameOrSpec: String, seed: UInt64) throws -> Sequential {
        let text = nameOrSpec.trimmingCharacters(in: .whitespaces)
        switch text {
        case "seed-mlp":
            return try mlp([784, 512, 256, 256, 128, 10], seed: seed)
        case "seed-cnn":
            return try Sequential(inputShape: [1, 28, 28], [
                Conv2d(1, 16, kernelSize: 3, stride: 2), ReLU(),
                Conv2d(16, 32, kernelSize: 3), ReLU(),
                Flatten(), Linear(3872, 128), ReLU(), Linear(128, 10),
            ], seed: seed)
        case "bn-cnn":
            return try Sequential(inputShape: [1, 28, 28], [
                Conv2d(1, 32, kernelSize: 3, padding: 1), BatchNorm2d(32), ReLU(), MaxPool2d(kernelSize: 2),
                Conv2d(32, 64, kernelSize: 3, padding: 1), BatchNorm2d(64), ReLU(), MaxPool2d(kernelSize: 2),
                Flatten(), Linear(64 * 7 * 7, 128), ReLU(), Linear(128, 10),
            ], seed: seed)
        case "sigmoid-net":
            return try sigmoidNet([784, 128, 10], seed: seed)
        default:
            break
        }
        if let colon = text.firstIndex(of: ":") {
            let kind = String(text[..<colon])
            let sizes = try parseSizes(String(text[text.index(after: colon)...]), spec: text)
            switch kind {
            case "mlp":
                guard sizes.count >= 2 else { throw NeuralNetError.malformedSpec(text, reason: "an MLP needs at least two sizes") }
                return try mlp(sizes, seed: seed)
            case "sigmoid-net":
                guard sizes.count == 3 else {
                    throw NeuralNetError.malformedSpec(text, reason: "sigmoid-net takes exactly D_in,H,D_out")
                }
                return try sigmoidNet(sizes, seed: seed)
            default:
                throw NeuralNetError.malformedSpec(text, reason: "unknown kind \"\(kind)\" (known: mlp, sigmoid-net)")
            }
        }
        throw NeuralNetError.unknownModel(text, known: presetNames)
    }

    private static func parseSizes(_ list: String, spec: String) throws -> [Int] {
        try list.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let s = part.trimmingCharacters(in: .whitespaces)
            guard !s.isEmpty else { throw NeuralNetError.malformedSpec(spec, reason: "empty layer size") }
            guard let v = Int(s) else { throw NeuralNetError.malformedSpec(spec, reason: "layer size \"\(s)\" is not an integer") }
            guard v > 0 else { throw NeuralNetError.malformedSpec(spec, reason: "layer size \(v) must be positive") }
            return v
        }
    }

    private static func mlp(_ sizes: [Int], seed: UInt64) throws -> Sequential {
        var layers: [any Layer] = []
        for i in 0..<(sizes.count - 1) {
            layers.append(Linear(sizes[i], sizes[i + 1]))
            if i < sizes.count - 2 { layers.append(ReLU()) }
        }
        return try Sequential(inputShape: [sizes[0]], layers, seed: seed)
    }

    private static func sigmoidNet(_ sizes: [Int], seed: UInt64) throws -> Sequential {
        try Sequential(inputShape: [sizes[0]], [Linear(sizes[0], sizes[1]), Sigmoid(), Linear(sizes[1], sizes[2]), Sigmoid()],
                       seed: seed)
    }
}

import Foundation
