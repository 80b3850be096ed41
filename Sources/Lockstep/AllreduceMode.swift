/// How gradients are all-reduced.
public enum AllreduceMode: String, Sendable, CaseIterable {
    /// Buckets start with non-blocking `MPI_Iallreduce` while backward runs (polled between
    /// layers); buckets still unstarted when backward ends go in one blocking call.
    case overlap
    /// One blocking `MPI_Allreduce` over the whole gradient arena after backward.
    case blocking
    /// The ranks of a node share one copy of the parameters and the optimizer state in
    /// MPI-3 shared memory, with their gradient arenas; after backward each rank sums its
    /// slice of every rank's gradients and updates that slice, with no copies and, on one
    /// node, no MPI messages. On several nodes (the same number of ranks on each), each
    /// rank all-reduces its summed slice with the same slice on the other nodes before
    /// updating it (hierarchical; ``SharedMemoryTraining``).
    case shared
    /// `shared` when every rank is on one node, else `overlap` (the default). Across nodes,
    /// where the network can hide bucket all-reduces behind backward, the hierarchical
    /// `shared` must be asked for.
    case auto
}
