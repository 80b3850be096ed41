#!/usr/bin/env python3
"""Alpha-beta model of data-parallel step time: how far would Lockstep scale?

Ring all-reduce of B bytes over N ranks, each link with latency alpha and bandwidth beta:

    t_comm(N) = 2 (N-1) alpha + 2 (N-1)/N * B / beta

Lockstep starts each gradient bucket's non-blocking all-reduce as soon as backward has
produced it, so communication overlaps the rest of backward. Assumption (parameters):
backward takes --backward-fraction of a step's compute (default 2/3); a fraction
--overlap of backward can hide communication (default 0.5; 0 on one node); the last bucket to finish
(the first layers' gradients, --bucket-mb, default 1 MiB as in `lockstep train`) can never
be hidden. So

    exposed(N) = max(t_comm(last bucket), t_comm(N) - overlap * backward_fraction * compute)
    step(N)    = compute(batch per rank) + exposed(N)

compute(b) scales linearly with the batch per rank b from one measured point
(--compute-s at --compute-batch). Efficiency is throughput(N) / (N * throughput(1)):
weak scaling (batch per rank fixed): compute / step(N); strong scaling (global batch
fixed, batch per rank = global / N): compute(global) / (N * step(N)).

Examples
  scripts/comm_model.py                                  # table: both models, 10 and 100 Gbit/s
  scripts/comm_model.py --bench runs/ar.json --model seed-cnn --compute-s 0.018
  scripts/comm_model.py --checkpoint runs/ckpt --network 25g
  scripts/comm_model.py --check runs/scaling/scaling.csv --bench runs/ar.json
where runs/ar.json comes from `scripts/mpirun.sh -np 2 lockstep bench allreduce --json runs/ar.json`.
Stdlib only (no numpy).
"""
import argparse
import csv
import json
import math
import os
import struct
import sys

# Parameter counts of the presets (what `lockstep train` prints in its banner).
MODELS = {
    "seed-mlp": 633_226,   # mlp 784-512-256-256-128-10
    "seed-cnn": 501_834,   # conv16 s2, conv32, fc3872-128, fc128-10 on 28x28
}
# Per-step compute on the 2-core development VM, one BLAS thread, batch 64 per rank
# (lockstep bench step on a quiet machine: 3.27 ms and 7.16 ms). Replace with your own
# measurement (--compute-s) for another machine.
DEFAULT_COMPUTE_S = {"seed-mlp": 0.00327, "seed-cnn": 0.00716}
DEFAULT_COMPUTE_BATCH = 64

# Named networks: link bandwidth (bytes/s) and a typical per-message latency (s).
NETWORKS = {
    "10g": (10e9 / 8, 25e-6, "10 Gbit/s Ethernet, TCP (25 us)"),
    "25g": (25e9 / 8, 15e-6, "25 Gbit/s Ethernet, TCP (15 us)"),
    "100g": (100e9 / 8, 3e-6, "100 Gbit/s InfiniBand/RoCE, RDMA (3 us)"),
}


def ring_time(nbytes, n, alpha, beta):
    """Seconds for one ring all-reduce of nbytes over n ranks."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def fit_bench(path, column):
    """Link (alpha, beta) from `lockstep bench allreduce --json` rows measured at P ranks.

    A weighted least-squares line t = a + b * bytes over the sizes gives, for a ring,
    a = 2 (P-1) alpha and b = 2 (P-1) / (P beta)."""
    try:
        rows = json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit("comm_model.py: cannot read benchmark JSON %s: %s" % (path, e))
    if not isinstance(rows, list) or not rows:
        sys.exit("comm_model.py: %s holds no measurements (expected a list of rows)" % path)
    try:
        xs = [float(r["bytes"]) for r in rows]
        ys = [float(r[column]) for r in rows]
        p = int(rows[0]["worldSize"])
    except (KeyError, TypeError, ValueError) as e:
        sys.exit("comm_model.py: %s is not `lockstep bench allreduce --json` output (missing %s)" % (path, e))
    if p < 2:
        sys.exit("comm_model.py: %s was measured with 1 rank; run the benchmark under mpirun -np 2 or more" % path)
    if len(set(xs)) < 2:
        sys.exit("comm_model.py: %s has one message size; a fit needs at least two" % path)
    # Least squares on the relative error (weights 1/t^2): small messages fix the latency,
    # large ones the bandwidth, and the largest (out-of-cache) sizes cannot swamp the rest.
    ws = [1.0 / (y * y) for y in ys]
    sw = sum(ws)
    sx = sum(w * x for w, x in zip(ws, xs))
    sy = sum(w * y for w, y in zip(ws, ys))
    sxx = sum(w * x * x for w, x in zip(ws, xs))
    sxy = sum(w * x * y for w, x, y in zip(ws, xs, ys))
    det = sw * sxx - sx * sx
    if det == 0:
        sys.exit("comm_model.py: cannot fit %s (degenerate sizes)" % path)
    b = (sw * sxy - sx * sy) / det
    a = (sy - b * sx) / sw
    if b <= 0:
        sys.exit("comm_model.py: the times in %s do not grow with the message size; cannot fit a bandwidth" % path)
    a = max(a, 0.0)
    alpha = a / (2 * (p - 1))
    beta = 2 * (p - 1) / (p * b)
    return alpha, beta, p, len(rows)


def params_from_checkpoint(path):
    """Trainable parameter count from a checkpoint's model.safetensors header."""
    if os.path.isfile(os.path.join(path, "latest")):
        path = os.path.join(path, open(os.path.join(path, "latest")).read().strip())
    f = os.path.join(path, "model.safetensors") if os.path.isdir(path) else path
    try:
        with open(f, "rb") as h:
            (n,) = struct.unpack("<Q", h.read(8))
            header = json.loads(h.read(n))
    except (OSError, ValueError, struct.error) as e:
        sys.exit("comm_model.py: cannot read a safetensors header from %s: %s" % (f, e))
    total = 0
    for name, t in header.items():
        if name == "__metadata__" or name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked"):
            continue
        total += math.prod(t["shape"])
    return total


class Model:
    def __init__(self, params, compute_s, compute_batch, alpha, beta, overlap, backward_fraction, bucket_bytes):
        self.bytes = 4 * params
        self.compute_s, self.compute_batch = compute_s, compute_batch
        self.alpha, self.beta = alpha, beta
        self.overlap, self.bwd = overlap, backward_fraction
        self.last_bucket = min(bucket_bytes, self.bytes)

    def compute(self, batch):
        return self.compute_s * batch / self.compute_batch

    def exposed(self, n, compute):
        comm = ring_time(self.bytes, n, self.alpha, self.beta)
        floor = ring_time(self.last_bucket, n, self.alpha, self.beta)
        return comm, max(floor, comm - self.overlap * self.bwd * compute)

    def weak(self, n, batch):
        c = self.compute(batch)
        comm, exp = self.exposed(n, c)
        return dict(comm=comm, exposed=exp, step=c + exp, eff=c / (c + exp))

    def strong(self, n, global_batch):
        c1 = self.compute(global_batch)
        c = c1 / n
        comm, exp = self.exposed(n, c)
        return dict(comm=comm, exposed=exp, step=c + exp, eff=c1 / (n * (c + exp)))


def ms(s):
    return "%.2f" % (1000 * s)


def table(args, networks, models):
    print("Assumptions: ring all-reduce of fp32 gradients; backward = %.0f%% of compute; %.0f%% of backward "
          "hides communication; last bucket (%.2f MiB) always exposed; compute scales with the batch per rank."
          % (100 * args.backward_fraction, 100 * args.overlap, args.bucket_mb))
    rows = []
    sizes = [2 ** k for k in range(1, int(math.log2(args.max_ranks)) + 1)]
    for net_name, (beta, alpha, desc) in networks:
        for mname, params, comp in models:
            m = Model(params, comp, args.compute_batch, alpha, beta, args.overlap, args.backward_fraction,
                      args.bucket_mb * 2 ** 20)
            print()
            print("%s, %s parameters (%.2f MB of gradients), compute %s ms/step at batch %d; network: %s"
                  % (mname, format(params, ","), 4 * params / 1e6, ms(comp), args.compute_batch, desc))
            print("%6s %10s %10s | %10s %9s | %10s %9s" % ("ranks", "allreduce", "exposed", "weak step", "weak eff",
                                                           "strong stp", "strong eff"))
            print("%6s %10s %10s | %10s %9s | %10s %9s" % ("", "(ms)", "weak (ms)", "(ms)", "", "(ms)", ""))
            for n in sizes:
                w = m.weak(n, args.weak_batch)
                s = m.strong(n, args.strong_batch)
                print("%6d %10s %10s | %10s %8.1f%% | %10s %8.1f%%" % (n, ms(w["comm"]), ms(w["exposed"]), ms(w["step"]),
                                                                      100 * w["eff"], ms(s["step"]), 100 * s["eff"]))
                rows.append(dict(network=net_name, model=mname, params=params, world_size=n,
                                 allreduce_s="%.6g" % w["comm"], weak_exposed_s="%.6g" % w["exposed"],
                                 weak_step_s="%.6g" % w["step"], weak_efficiency="%.4f" % w["eff"],
                                 strong_step_s="%.6g" % s["step"], strong_efficiency="%.4f" % s["eff"]))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print("\ncomm_model.py: wrote %s" % args.csv)


def check(args, alpha, beta, source):
    """Compare predicted efficiency with a scaling.py CSV, world size by world size."""
    try:
        rows = list(csv.DictReader(open(args.check)))
    except OSError as e:
        sys.exit("comm_model.py: cannot read %s: %s" % (args.check, e.strerror))
    need = {"model", "mode", "world_size", "batch_per_rank", "global_batch", "efficiency", "compute_s", "allreduce_s"}
    if not rows or not need <= set(rows[0]):
        sys.exit("comm_model.py: %s is not a scaling.py CSV (needs %s)" % (args.check, ", ".join(sorted(need))))
    print("Check against %s; network: %s" % (args.check, source))
    print("predicted: compute scaled from 1 rank by the batch per rank, communication from the alpha-beta model;")
    print("comm-only: measured compute at that world size, communication from the model (isolates the comm model)")
    print("%-9s %-6s %5s %6s | %9s %9s %8s | %9s %8s | %11s %11s" % (
        "model", "mode", "ranks", "batch", "measured", "predicted", "error", "comm-only", "error",
        "wait (ms)", "model (ms)"))
    errs, errs_comm = [], []
    for mode in sorted({r["mode"] for r in rows}):
        rs = sorted((r for r in rows if r["mode"] == mode), key=lambda r: int(r["world_size"]))
        base = rs[0]
        n0 = int(base["world_size"])
        model = base["model"]
        params = args.params or MODELS.get(model)
        if params is None:
            sys.exit("comm_model.py: unknown parameter count for model '%s'; pass --params or --checkpoint" % model)
        c0 = float(base["compute_s"])
        b0 = int(base["batch_per_rank"])
        m = Model(params, c0, b0, alpha, beta, args.overlap, args.backward_fraction, args.bucket_mb * 2 ** 20)
        t0 = c0 + m.exposed(n0, c0)[1]
        gb0 = int(base["global_batch"])
        for r in rs:
            n, bpr, gb = int(r["world_size"]), int(r["batch_per_rank"]), int(r["global_batch"])
            # efficiency = throughput(N) / (N/N0 * throughput(N0)), throughput = global batch / step
            def eff(step):
                return (gb / step) / ((n / n0) * (gb0 / t0))
            c_pred = m.compute(bpr)
            e_pred = eff(c_pred + m.exposed(n, c_pred)[1])
            c_meas = float(r["compute_s"])
            exp_meas_c = m.exposed(n, c_meas)[1]
            e_comm = eff(c_meas + exp_meas_c)
            meas = float(r["efficiency"])
            if r is not base:   # the baseline is 100 % by definition on both sides
                errs.append(abs(e_pred - meas))
                errs_comm.append(abs(e_comm - meas))
            print("%-9s %-6s %5d %6d | %8.1f%% %8.1f%% %+7.1f | %8.1f%% %+7.1f | %11s %11s" % (
                model, mode, n, bpr, 100 * meas, 100 * e_pred, 100 * (e_pred - meas), 100 * e_comm,
                100 * (e_comm - meas), ms(float(r["allreduce_s"])), ms(exp_meas_c)))
    if not errs:
        print("only one world size per mode: nothing to compare")
        return
    print("mean absolute error over the non-baseline rows: predicted %.1f points of efficiency, comm-only %.1f points"
          % (100 * sum(errs) / len(errs), 100 * sum(errs_comm) / len(errs_comm)))
    print("(error = predicted - measured efficiency, in percentage points; on an oversubscribed machine the "
          "'predicted' column misses the time-sharing of cores, which 'comm-only' includes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="all", help="seed-mlp, seed-cnn or all (default all)")
    ap.add_argument("--params", type=int, help="parameter count (overrides --model's)")
    ap.add_argument("--checkpoint", help="read the parameter count from this checkpoint (or store) directory")
    ap.add_argument("--compute-s", type=float, help="measured compute seconds per step at --compute-batch")
    ap.add_argument("--compute-batch", type=int, default=DEFAULT_COMPUTE_BATCH, help="batch per rank of --compute-s (default 64)")
    ap.add_argument("--bench", help="JSON from `lockstep bench allreduce --json`: fit alpha and beta from it")
    ap.add_argument("--bench-column", default="cSeconds", choices=["cSeconds", "swiftSeconds"],
                    help="which timing of the benchmark to fit (default cSeconds)")
    ap.add_argument("--network", default="10g,100g",
                    help="named networks, comma-separated: %s (default 10g,100g; ignored with --bench)" % ", ".join(NETWORKS))
    ap.add_argument("--alpha-us", type=float, help="latency per message in microseconds (with --bandwidth-gbit)")
    ap.add_argument("--bandwidth-gbit", type=float, help="link bandwidth in Gbit/s (with --alpha-us)")
    ap.add_argument("--overlap", type=float, default=0.5, help="fraction of backward that hides communication (default 0.5: Lockstep polls MPI progress between layers, so a network transfer overlaps only part of backward; use 0 on one node, where shared-memory communication is CPU work on the same cores)")
    ap.add_argument("--backward-fraction", type=float, default=2 / 3, help="backward's share of compute (default 2/3)")
    ap.add_argument("--bucket-mb", type=float, default=1.0, help="all-reduce bucket size in MiB (default 1, as lockstep)")
    ap.add_argument("--weak-batch", type=int, default=64, help="batch per rank for weak scaling (default 64)")
    ap.add_argument("--strong-batch", type=int, default=256, help="global batch for strong scaling (default 256)")
    ap.add_argument("--max-ranks", type=int, default=1024, help="largest world size in the table (default 1024)")
    ap.add_argument("--csv", help="also write the table as CSV")
    ap.add_argument("--check", help="compare predictions with a scaling.py CSV (needs --bench or a network)")
    args = ap.parse_args()

    for name in ("overlap", "backward_fraction"):
        v = getattr(args, name)
        if not 0 <= v <= 1:
            ap.error("--%s must be between 0 and 1, got %g" % (name.replace("_", "-"), v))
    for name in ("compute_batch", "weak_batch", "strong_batch", "max_ranks"):
        if getattr(args, name) < 1:
            ap.error("--%s must be positive" % name.replace("_", "-"))
    if args.compute_s is not None and args.compute_s <= 0:
        ap.error("--compute-s must be positive, got %g" % args.compute_s)
    if args.bucket_mb <= 0:
        ap.error("--bucket-mb must be positive")
    if args.checkpoint:
        args.params = params_from_checkpoint(args.checkpoint)

    if args.bench:
        alpha, beta, p, k = fit_bench(args.bench, args.bench_column)
        desc = "measured (%s, %d sizes at %d ranks): %.1f us, %.3f GB/s" % (os.path.basename(args.bench), k, p, 1e6 * alpha, beta / 1e9)
        networks = [("measured", (beta, alpha, desc))]
    elif args.alpha_us is not None or args.bandwidth_gbit is not None:
        if args.alpha_us is None or args.bandwidth_gbit is None or args.alpha_us < 0 or args.bandwidth_gbit <= 0:
            ap.error("give both --alpha-us >= 0 and --bandwidth-gbit > 0")
        networks = [("custom", (args.bandwidth_gbit * 1e9 / 8, args.alpha_us * 1e-6,
                                "%g Gbit/s, %g us (given)" % (args.bandwidth_gbit, args.alpha_us)))]
    else:
        networks = []
        for n in args.network.split(","):
            if n.strip() not in NETWORKS:
                ap.error("unknown network '%s'; known: %s" % (n, ", ".join(NETWORKS)))
            networks.append((n.strip(), NETWORKS[n.strip()]))

    if args.check:
        if not args.bench and args.alpha_us is None:
            ap.error("--check compares with measurements on this machine: give --bench FILE from "
                     "`scripts/mpirun.sh -np 2 lockstep bench allreduce --json FILE` (or --alpha-us and --bandwidth-gbit)")
        name, (beta, alpha, desc) = networks[0]
        check(args, alpha, beta, desc)
        return

    if args.params:
        label = args.model if args.model in MODELS else "model"
        comp = args.compute_s or DEFAULT_COMPUTE_S.get(args.model)
        if comp is None:
            ap.error("with --params or --checkpoint, give --compute-s (seconds per step at --compute-batch) for a model other than the presets")
        models = [(label, args.params, comp)]
    elif args.model == "all":
        models = [(m, p, args.compute_s or DEFAULT_COMPUTE_S[m]) for m, p in MODELS.items()]
    elif args.model in MODELS:
        models = [(args.model, MODELS[args.model], args.compute_s or DEFAULT_COMPUTE_S[args.model])]
    else:
        ap.error("unknown model '%s'; use seed-mlp, seed-cnn, all, or --params N --compute-s S" % args.model)
    table(args, networks, models)


if __name__ == "__main__":
    main()
