import Testing
@testable import Checkpoints

@Suite struct TensorComparisonTests {
    func record(_ name: String, _ values: [Float]) -> TensorRecord {
        TensorRecord(name: name, shape: [values.count], dtype: .f32, values: values)
    }

    @Test func equalTensorsDifferByNothing() throws {
        let a = ["0.weight": record("0.weight", [1, 2, 3]), "0.bias": record("0.bias", [0])]
        let c = try TensorComparison(a, a)
        #expect(c.largestRelative == 0 && c.largestAbsolute == 0 && c.largestRelativeIn == nil)
    }

    @Test func reportsTheLargestDifferenceAndWhereItIs() throws {
        let a = ["0.weight": record("0.weight", [1, 2, 3]), "2.weight": record("2.weight", [10, 0])]
        let b = ["0.weight": record("0.weight", [1, 2, 3.3]), "2.weight": record("2.weight", [10, 0.0001])]
        let c = try TensorComparison(a, b)
        // 0.0001 against max(|0.0001|, 1e-3): 0.1; 0.3 against 3.3: about 0.091.
        #expect(c.largestRelativeIn == "2.weight")
        #expect(abs(c.largestRelative - 0.1) < 1e-4)
        #expect(abs(c.largestAbsolute - 0.3) < 1e-5)
    }

    @Test func refusesDifferentModels() {
        let a = ["0.weight": record("0.weight", [1, 2, 3])]
        #expect(throws: CheckpointError.self) { try TensorComparison(a, ["0.weight": record("0.weight", [1, 2])]) }
        #expect(throws: CheckpointError.self) { try TensorComparison(a, ["1.weight": record("1.weight", [1, 2, 3])]) }
        #expect(throws: CheckpointError.self) {
            try TensorComparison(a, ["0.weight": record("0.weight", [1, 2, 3]), "0.bias": record("0.bias", [0])])
        }
    }

    @Test func stateDictOrderSortsLayerIndicesNumerically() {
        #expect(["10.weight", "2.weight", "2.bias", "1.running_mean"].sorted(by: stateDictOrder)
                == ["1.running_mean", "2.bias", "2.weight", "10.weight"])
    }
}
