import Foundation
import Testing
@testable import Checkpoints

extension CheckpointTestFiles {
    /// Bytes from a 64-bit LCG; the same generator in Python made the reference digests:
    /// ```python
    /// def gen(n, seed):
    ///     s = seed; out = bytearray()
    ///     for _ in range(n):
    ///         s = (s*6364136223846793005 + 1442695040888963407) % 2**64
    ///         out.append(s >> 56)
    ///     return bytes(out)
    /// hashlib.sha256(gen(n, n)).hexdigest()
    /// ```
    static func pseudoRandom(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }

    /// Lower-case hex SHA-256 of `bytes`.
    static func sha256(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { SHA256.hex(of: $0) }
    }
}

@Suite struct SHA256Tests {
    @Test func standardVectors() {
        #expect(CheckpointTestFiles.sha256([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(CheckpointTestFiles.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(CheckpointTestFiles.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(CheckpointTestFiles.sha256(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8))
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func oneMillionA() {
        let block = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        var hasher = SHA256()
        for _ in 0..<1000 { block.withUnsafeBytes { hasher.update($0) } }
        #expect(SHA256.hexString(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Digests of pseudo-random messages around the block and padding boundaries, from Python's hashlib.
    @Test(arguments: [
        (1, "acac86c0e609ca906f632b0e2dacccb2b77d22b0621f20ebece1a4835b93f6f0"),
        (55, "2c2bc644d674041ad458ca4b8e798e82580b789b60275c66edd5dd97b006de3d"),
        (56, "176ff635dcfe59cab1aa43b138f7fd6881ef2582706d44ceac2d11eab733192e"),
        (63, "b83e3aae5c5ab2f4e94fd7ff2cd0c6411f93136f4bb150d40f63e0016a8c7c76"),
        (64, "4c108cb98eb7aa3b35c6befdbb9c4255e965e12b485042b81abf95f043914740"),
        (65, "49cd3d141f2aa86b2b078ac6b6276f0c76c4606d0caa504ae6a5c36919bedf6f"),
        (119, "1cb1151f5be63cefc898408d7bc0fde3b09f0d33311c35fe8ca7a4b6eb4ffb68"),
        (120, "02498029296489fee53770a3e6e2961256d8101a083d7342ff3bddad280b307c"),
        (127, "b5e024815e2715b8962632f0dfbfc5f95048ed5d5c3e18d8e7172db4cf19b8cb"),
        (128, "7ca3bb28656a5bb964fe717ffb63f8f852ff1efaedb452b36ebbdd2c4dddc38f"),
        (1000, "216dd78be67c926c41d8f51a963c9abbd8e618b3b6a7342b87fd572458eb4e7e"),
        (100_003, "3a19ea70ed09706eaf80f97750d5c1314c0983f83f464b0cff47fb3c15e84220"),
    ])
    func matchesHashlib(length: Int, expected: String) {
        let message = CheckpointTestFiles.pseudoRandom(length, seed: UInt64(length))
        #expect(CheckpointTestFiles.sha256(message) == expected)
        // The same message fed in uneven pieces gives the same digest.
        var hasher = SHA256()
        var start = 0
        var piece = 1
        message.withUnsafeBytes { raw in
            while start < raw.count {
                let end = min(start + piece, raw.count)
                hasher.update(UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                start = end
                piece = piece * 3 % 97 + 1
            }
        }
        #expect(SHA256.hexString(hasher.finalize()) == expected)
    }

    @Test func hashesFiles() throws {
        let directory = try CheckpointTestDirectory()
        let path = directory.path + "/data.bin"
        let message = CheckpointTestFiles.pseudoRandom(100_003, seed: 100_003)
        try Data(message).write(to: URL(fileURLWithPath: path))
        #expect(try SHA256.hex(ofFile: path) == "3a19ea70ed09706eaf80f97750d5c1314c0983f83f464b0cff47fb3c15e84220")
        #expect(throws: CheckpointError.self) { try SHA256.hex(ofFile: directory.path + "/missing.bin") }
    }
}
