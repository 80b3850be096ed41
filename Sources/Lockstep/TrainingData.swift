import Datasets
import Foundation
import NeuralNet

/// The training and test sets a configuration names, loaded and normalised identically
/// on every rank (each rank reads the files itself; no rank waits on another's I/O).
public struct TrainingData: Sendable {
    public var train: Dataset
    public var test: Dataset?
    /// Held out from the training set (`validationSplit`) or read from `validationData`.
    public var validation: Dataset?
    public var normalization: Normalization?
    /// What was read, before normalisation: counts and a hash, compared across ranks.
    public var fingerprint: DataFingerprint

    /// `fingerprint` defaults to one of the given sets.
    public init(train: Dataset, test: Dataset?, validation: Dataset? = nil, normalization: Normalization?, fingerprint: DataFingerprint? = nil) {
        self.train = train
        self.test = test
        self.validation = validation
        self.normalization = normalization
        self.fingerprint = fingerprint ?? DataFingerprint(
            train: (train.features, train.labels), test: test.map { ($0.features, $0.labels) },
            validation: validation.map { ($0.features, $0.labels) })
    }

    /// Loads the data a configuration names; errors say which file and what to do.
    public static func load(_ c: TrainingConfiguration) throws -> TrainingData {
        var train: Dataset
        var test: Dataset?
        switch c.dataset {
        case .fashionMNIST, .mnist:
            (train, test) = try FashionMNIST.load(directory: c.data)
        case .csv:
            let dir = c.data!
            let trainPath = FileIO.isDirectory(dir) ? dir + "/train.csv" : dir
            train = try CSVDataset.load(path: trainPath, sampleShape: nil, classCount: nil, hasHeader: nil)
            let testPath = FileIO.isDirectory(dir) ? dir + "/test.csv" : ""
            test = FileIO.isFile(testPath)
                ? try CSVDataset.load(path: testPath, sampleShape: train.sampleShape, classCount: train.classCount, hasHeader: nil) : nil
        case .npy:
            let dir = c.data!
            guard FileIO.isDirectory(dir) else {
                throw CollectiveError("--data \(dir) is not a directory; for --dataset npy give a directory holding train_x.npy and train_y.npy (and optionally test_x.npy, test_y.npy)")
            }
            train = try NPYDataset.load(featuresPath: dir + "/train_x.npy", labelsPath: dir + "/train_y.npy", sampleShape: nil, classCount: nil)
            test = FileIO.isFile(dir + "/test_x.npy")
                ? try NPYDataset.load(featuresPath: dir + "/test_x.npy", labelsPath: dir + "/test_y.npy", sampleShape: train.sampleShape, classCount: train.classCount) : nil
        case .synthetic:
            let shape = [1, 28, 28]
            // One draw split in two, so both halves share the class patterns.
            let testCount = max(1, c.syntheticCount / 5)
            let what = "--synthetic-count \(c.syntheticCount): \(c.syntheticCount + testCount) samples of \(shape.reduce(1, *)) floats"
            do {
                try MemoryBudget.require(MemoryBudget.bytes(count: c.syntheticCount + testCount, of: shape.reduce(1, *) * MemoryLayout<Float>.stride, for: what), for: what)
            } catch { throw CollectiveError(error) }
            let all = SyntheticDataset.make(count: c.syntheticCount + testCount, sampleShape: shape, classCount: 10, seed: c.seed)
            train = all.slice(0..<c.syntheticCount)
            test = all.slice(c.syntheticCount..<(c.syntheticCount + testCount))
        }
        if let limit = c.trainLimit, limit < train.count { train = train.slice(0..<limit) }
        if let limit = c.testLimit, let t = test, limit < t.count { test = t.slice(0..<limit) }
        var validation: Dataset?
        if let fraction = c.validationSplit {
            guard train.count >= 2 else {
                throw CollectiveError("--validation-split needs at least 2 training samples, but the training set holds \(train.count)")
            }
            (train, validation) = train.holdingOut(fraction: fraction, seed: c.seed)
        } else if let path = c.validationData {
            if c.dataset == .csv {
                validation = try CSVDataset.load(path: path, sampleShape: train.sampleShape, classCount: train.classCount, hasHeader: nil)
            } else {
                guard FileIO.isDirectory(path) else {
                    throw CollectiveError("--validation-data \(path) is not a directory; for --dataset npy give a directory holding val_x.npy and val_y.npy")
                }
                validation = try NPYDataset.load(featuresPath: path + "/val_x.npy", labelsPath: path + "/val_y.npy", sampleShape: train.sampleShape, classCount: train.classCount)
            }
        }
        let fingerprint = DataFingerprint(train: (train.features, train.labels), test: test.map { ($0.features, $0.labels) },
                                          validation: validation.map { ($0.features, $0.labels) })
        var normalization: Normalization?
        if c.normalize {
            // Fitted on the samples trained on only: the validation set stays unseen.
            let n = Normalization.fit(train)
            train.normalize(n)
            test?.normalize(n)
            validation?.normalize(n)
            normalization = n
        }
        return TrainingData(train: train, test: test, validation: validation, normalization: normalization, fingerprint: fingerprint)
    }
}
