/// Fashion-MNIST (and any directory holding the four MNIST-style IDX files, MNIST itself
/// included): 60,000 training and 10,000 test images of 28x28 pixels in 10 classes.
///
/// The files are looked up as `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (also with `.` before `idx`), each
/// plain or with `.gz`. Pixels become `Float` in `[0, 1]`; the sample shape is `[1, 28, 28]`.
///
/// ```swift
/// let (train, test) = try FashionMNIST.load()          // /usr/share/datasets/fashion-mnist
/// let (mTrain, mTest) = try FashionMNIST.load(directory: "/data/mnist")
/// ```
public enum FashionMNIST {
    /// Where the Debian package `dataset-fashion-mnist` installs the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The number of classes.
    public static let classCount = 10
    /// The class names, indexed by label.
    public static let classNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]

    /// What to do when the files are missing.
    static let installHint =
        "Install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (Debian package "
        + "dataset-fashion-mnist, into \(defaultDirectory)), or pass `--data DIR` naming a directory "
        + "with the four MNIST-style files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        + "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, plain or .gz)"

    /// Loads the training and test splits from `directory` (default ``defaultDirectory``).
    /// Throws ``DataError`` with the install hint when the directory or a file is missing,
    /// and the reader's error when a file is corrupt.
    public static func load(directory: String? = nil) throws -> (train: Dataset, test: Dataset) {
        let dir = directory ?? defaultDirectory
        guard FileIO.isDirectory(dir) else {
            throw DataError.directoryNotFound(path: dir, hint: installHint)
        }
        let name = dir == defaultDirectory ? "fashion-mnist" : lastComponent(dir)
        let train = try MNISTStyle.load(
            imagesPath: find("train-images", "idx3", in: dir),
            labelsPath: find("train-labels", "idx1", in: dir),
            classCount: classCount, name: "\(name)/train")
        let test = try MNISTStyle.load(
            imagesPath: find("t10k-images", "idx3", in: dir),
            labelsPath: find("t10k-labels", "idx1", in: dir),
            classCount: classCount, name: "\(name)/test")
        guard train.sampleShape == test.sampleShape else {
            throw DataError.unsupportedFormat(
                path: dir,
                reason: "train images are \(train.sampleShape) but test images are \(test.sampleShape); "
                    + "both splits must have the same image size")
        }
        return (train, test)
    }

    /// The path of the first existing candidate for one of the four files.
    static func find(_ stem: String, _ kind: String, in dir: String) throws -> String {
        let base = dir.hasSuffix("/") ? dir : dir + "/"
        let candidates = ["\(stem)-\(kind)-ubyte", "\(stem).\(kind)-ubyte"].flatMap { [$0, $0 + ".gz"] }
        for c in candidates where FileIO.isFile(base + c) { return base + c }
        throw DataError.fileNotFound(path: base + candidates[0], tried: candidates, hint: installHint)
    }

    private static func lastComponent(_ path: String) -> String {
        let parts = path.split(separator: "/")
        return parts.last.map(String.init) ?? path
    }
}
