import Testing
@testable import NeuralNet

/// Model specs with sizes no machine can train are refused before anything is allocated.
/// (Regression tests: `mlp:784,99999999999,10` and `mlp:2147483648,16,10` once crashed.)
@Suite struct ModelSizeLimitTests {
    @Test(arguments: ["mlp:784,99999999999,10", "mlp:2147483648,16,10", "sigmoid-net:9223372036854775807,2,2"])
    func sizesBeyondTheLayerLimitAreRefused(spec: String) {
        #expect {
            _ = try ModelZoo.make(spec, seed: 1)
        } throws: { error in
            guard case NeuralNetError.malformedSpec(spec, let reason) = error else { return false }
            return reason.contains("is larger than")
        }
    }

    @Test func parametersBeyondMemoryAreRefusedWithTheSize() {
        // Every size within the per-layer limit (2^24), but 2^48 weights in the middle: 4 PiB
        // with gradients and optimizer state.
        let n = 1 << 24, parameters = 784 * n + n + n * n + n + n * 10 + 10
        #expect {
            _ = try ModelZoo.make("mlp:784,\(n),\(n),10", seed: 1)
        } throws: { error in
            guard case NeuralNetError.tooLarge(let what, let bytes?, let available) = error else { return false }
            return what.contains("\(parameters) parameters") && bytes == parameters * 16 && available == MemoryBudget.physicalBytes
        }
        #expect((NeuralNetError.tooLarge(what: "x", bytes: 25_439_999_999_840_160, available: 1 << 34).errorDescription ?? "")
            .contains("needs 22.6 PiB, more memory than the machine holds (this machine has 16.0 GiB)"))
    }

    @Test func describeUsesBinaryUnits() {
        #expect(MemoryBudget.describe(512) == "512 bytes")
        #expect(MemoryBudget.describe(1536) == "1.5 KiB")
        #expect(MemoryBudget.describe(313 << 40) == "313 TiB")
    }

    @Test func overflowingByteCountsAreRefused() throws {
        #expect(throws: NeuralNetError.self) { _ = try MemoryBudget.bytes(count: Int.max / 2, of: 16, for: "x") }
        #expect((try? MemoryBudget.bytes(count: 1 << 20, of: 4, for: "x")) == 4 << 20)
    }

    @Test func anMLPThatFitsIsBuilt() throws {
        #expect(try ModelZoo.make("mlp:784,32,10", seed: 1).parameterCount == 784 * 32 + 32 + 32 * 10 + 10)
    }
}
