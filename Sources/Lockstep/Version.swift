/// Lockstep's version, printed by `lockstep --version` and recorded in checkpoints.
public enum LockstepVersion {
    public static let string = "0.1.0"
}
