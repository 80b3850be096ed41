// libFuzzer entry point for the model-file parser (YAML and JSON descriptions of a network,
// `lockstep train --model FILE`). scripts/fuzz.sh compiles it with the NeuralNet sources,
// Randomness and the Yams library as one module (-sanitize=fuzzer,address) into its own
// binary, because the model-file parser needs the layer library and Yams, which the other
// targets do not.
//
// The input is a file's text. Parsing includes shape inference, so every size a file can
// give reaches the checks in front of arithmetic and allocation. A description that parses
// is built (every layer allocated) when its parameters and activations fit a small budget,
// so a file that passes the checks cannot trap later either.

import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func lockstepFuzzModelFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let text = String(bytes: bytes, encoding: .utf8) else { return 0 }
    guard let description = try? ModelDescription(yaml: text, file: "fuzz.yaml") else { return 0 }
    // The checks passed: building the layers must not trap either.
    if let plan = try? description.checkShapes(), plan.parameterCount <= 1 << 20,
       plan.inputs.values.allSatisfy({ $0.reduce(1, *) <= 1 << 20 }), plan.output.reduce(1, *) <= 1 << 20 {
        _ = try? description.makeModel(seed: 1)
    }
    return 0
}
