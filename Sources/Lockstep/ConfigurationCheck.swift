import MPI

/// Start-up check that every rank runs the same configuration: one small all-reduce of
/// a hash; on a mismatch, the first differing setting is named with both values.
enum ConfigurationCheck {
    static func verify(_ configuration: TrainingConfiguration, world: Communicator) throws {
        guard world.size > 1 else { return }
        let pairs = configuration.flattened()
        let text = pairs.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")
        let hash = Int64(bitPattern: fnv1a(Array(text.utf8)))
        let range = try world.minMax(hash)
        if range.min == range.max { return }

        // Some rank differs: find the first differing key and the lowest rank that has it.
        let rootText = try Collective.broadcast(string: text, from: 0, world)
        let rootPairs = rootText.split(separator: "\n").map { line -> (String, String) in
            let parts = line.split(separator: "=", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        var firstDiff = Int.max
        for (i, pair) in rootPairs.enumerated() where i >= pairs.count || pairs[i].key != pair.0 || pairs[i].value != pair.1 {
            firstDiff = i
            break
        }
        if firstDiff == Int.max && pairs.count != rootPairs.count { firstDiff = rootPairs.count }
        var where_ = [firstDiff, firstDiff == Int.max ? world.size : world.rank]
        try world.allreduce(&where_, op: .min)
        let key = where_[0] < rootPairs.count ? rootPairs[where_[0]].0 : "?"
        let otherRank = where_[1] < world.size ? where_[1] : 1
        // Rank `otherRank` sends its value of that key.
        let mine = pairs.first(where: { $0.key == key })?.value ?? "(unset)"
        let otherValue = try Collective.broadcast(string: mine, from: otherRank, world)
        let rootValue = rootPairs.first(where: { $0.0 == key })?.1 ?? "(unset)"
        throw CollectiveError(
            "the ranks were started with different configurations: setting '\(key)' is \(rootValue) on rank 0 "
                + "but \(otherValue) on rank \(otherRank); start every rank with the same flags and config file")
    }
}
