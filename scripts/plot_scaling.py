#!/usr/bin/env python3
"""Figures from a scaling sweep (scripts/scaling.py): PNGs fit for a paper or a README.

    .venv-plots/bin/python scripts/plot_scaling.py OUT/scaling.csv --accuracy OUT/accuracy.csv \
        --out OUT --machine "2-core VM; 4 ranks oversubscribe"

Writes into --out:
  throughput.png      samples/s against ranks, strong and weak scaling, with the ideal
                      linear line through the smallest world size; bars show min..max
  efficiency.png      parallel efficiency (speedup / ranks) against ranks
  step_time.png       time per step split into compute and gradient communication, per world size
  accuracy.png        test accuracy against epoch, one line per world size (--accuracy)
Needs matplotlib (scripts/requirements-plots.txt); scripts/scaling.py installs it into
.venv-plots/.
"""
import argparse
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator, FuncFormatter  # noqa: E402

MODE_STYLE = {
    "strong": dict(color="#1f77b4", marker="o", label="strong scaling"),
    "weak": dict(color="#d62728", marker="s", label="weak scaling"),
}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_mode(rows):
    modes = {}
    for r in rows:
        modes.setdefault(r["mode"], []).append(r)
    for m in modes:
        modes[m].sort(key=lambda r: int(r["world_size"]))
    return modes


def mode_label(mode, rows):
    r = rows[0]
    if mode == "strong":
        return "strong scaling (global batch %s)" % r["global_batch"]
    return "weak scaling (batch %s per rank)" % r["batch_per_rank"]


def ranks_axis(ax, sizes):
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: "%d" % v))
    ax.set_xlabel("MPI ranks (world size)")
    if len(sizes) == 1:
        ax.set_xlim(sizes[0] / 1.5, sizes[0] * 1.5)
    else:
        ax.set_xlim(sizes[0] / 1.3, sizes[-1] * 1.3)
    ax.grid(True, which="major", alpha=0.3)


def titled(fig, title, subtitle):
    fig.suptitle(title, fontsize=13, fontweight="bold", y=0.98)
    fig.text(0.5, 0.925, subtitle, ha="center", va="top", fontsize=9, color="#444444")
    fig.tight_layout(rect=(0, 0, 1, 0.9 - 0.03 * subtitle.count("\n")))


def plot_throughput(modes, sizes, model, subtitle, path):
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for mode, rows in sorted(modes.items()):
        st = MODE_STYLE.get(mode, dict(color="gray", marker="x", label=mode))
        n = [int(r["world_size"]) for r in rows]
        med = [float(r["samples_per_s_median"]) for r in rows]
        lo = [m - float(r["samples_per_s_min"]) for m, r in zip(med, rows)]
        hi = [float(r["samples_per_s_max"]) - m for m, r in zip(med, rows)]
        ax.errorbar(n, med, yerr=[lo, hi], color=st["color"], marker=st["marker"], capsize=3,
                    linewidth=1.8, label="%s, measured (median)" % mode_label(mode, rows))
        ideal = [med[0] * k / n[0] for k in n]
        ax.plot(n, ideal, color=st["color"], linestyle="--", linewidth=1, alpha=0.7,
                label="%s, ideal linear" % mode)
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
    ranks_axis(ax, sizes)
    ax.set_ylabel("throughput (training samples / s)")
    ax.legend(fontsize=8, loc="best")
    titled(fig, "Training throughput, %s" % model, subtitle)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_efficiency(modes, sizes, model, subtitle, path):
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="ideal (100 %)")
    top = 1.1
    for mode, rows in sorted(modes.items()):
        st = MODE_STYLE.get(mode, dict(color="gray", marker="x", label=mode))
        n = [int(r["world_size"]) for r in rows]
        eff = [float(r["efficiency"]) for r in rows]
        top = max(top, max(eff) * 1.1)
        ax.plot(n, eff, color=st["color"], marker=st["marker"], linewidth=1.8, label=mode_label(mode, rows))
        dy = 7 if mode == "strong" else -13   # strong labels above the points, weak below
        for x, y in zip(n[1:], eff[1:]):
            ax.annotate("%.0f %%" % (100 * y), (x, y), textcoords="offset points", xytext=(0, dy),
                        ha="center", fontsize=8, color=st["color"])
    ranks_axis(ax, sizes)
    ax.set_ylim(0, top)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%.0f %%" % (100 * v)))
    ax.set_ylabel("parallel efficiency (speedup / ranks)")
    ax.legend(fontsize=8, loc="lower left")
    titled(fig, "Scaling efficiency, %s" % model, subtitle)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_step_time(modes, model, subtitle, path):
    names = sorted(modes)
    fig, axes = plt.subplots(1, len(names), figsize=(max(6.4, 4.2 * len(names) + 1), 4.6), squeeze=False)
    for ax, mode in zip(axes[0], names):
        rows = modes[mode]
        labels = [r["world_size"] for r in rows]
        comp = [1000 * float(r["compute_s"]) for r in rows]
        comm = [1000 * float(r["allreduce_s"]) for r in rows]
        x = range(len(rows))
        ax.bar(x, comp, color="#4c72b0", label="compute (forward, backward, step)")
        ax.bar(x, comm, bottom=comp, color="#dd8452", label="gradient all-reduce (communication)")
        for i, (c, a) in enumerate(zip(comp, comm)):
            ax.annotate("%.1f" % (c + a), (i, c + a), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=8)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels)
        ax.set_xlabel("MPI ranks (world size)")
        ax.set_ylabel("time per step on rank 0 (ms)")
        ax.set_title(mode_label(mode, rows), fontsize=10)
        ax.set_ylim(0, max(c + a for c, a in zip(comp, comm)) * 1.35)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", ncol=1)
    titled(fig, "Time per training step, %s" % model, subtitle)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def plot_accuracy(rows, subtitle, path):
    runs = {}
    for r in rows:
        runs.setdefault(int(r["world_size"]), []).append(r)
    model = rows[0]["model"]
    gb = rows[0]["global_batch"]
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    keys = sorted(runs)
    markers = "osD^v<>p*h"
    curves = []
    for i, n in enumerate(keys):
        rs = sorted(runs[n], key=lambda r: int(r["epoch"]))
        color = cmap(i / max(1, len(keys) - 1) * 0.85)
        ys = [100 * float(r["test_acc"]) for r in rs]
        curves.append(ys)
        # Wider lines and bigger markers first, so curves that coincide stay visible.
        ax.plot([int(r["epoch"]) for r in rs], ys, marker=markers[i % len(markers)], color=color,
                linewidth=1.5 + 2.0 * (len(keys) - 1 - i), markersize=4 + 3 * (len(keys) - 1 - i),
                alpha=0.9, label="%d rank%s x batch %s" % (n, "" if n == 1 else "s", rs[0]["batch_per_rank"]))
    if len(curves) > 1 and all(c == curves[0] for c in curves):
        ax.text(0.02, 0.97, "all world sizes give identical accuracy:\nsame global batch, same updates",
                transform=ax.transAxes, va="top", fontsize=8, color="#444444")
    epochs = sorted({int(r["epoch"]) for r in rows})
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", title="world size (global batch %s)" % gb, title_fontsize=8)
    titled(fig, "Test accuracy per epoch, %s" % model, subtitle)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scaling_csv", help="scaling.csv written by scripts/scaling.py")
    ap.add_argument("--accuracy", help="accuracy.csv written by scripts/scaling.py --accuracy-epochs")
    ap.add_argument("--out", default=None, help="directory for the PNGs (default: the CSV's directory)")
    ap.add_argument("--note", default="", help="second subtitle line, e.g. the data set and run length")
    ap.add_argument("--machine", default=None,
                    help="machine description for the subtitle (default: machine.txt beside the CSV)")
    args = ap.parse_args()

    try:
        rows = read_csv(args.scaling_csv)
    except OSError as e:
        sys.exit("plot_scaling.py: cannot read %s: %s" % (args.scaling_csv, e.strerror))
    need = {"model", "world_size", "mode", "samples_per_s_median", "efficiency", "compute_s", "allreduce_s"}
    if not rows or not need <= set(rows[0]):
        sys.exit("plot_scaling.py: %s is not a scaling.py CSV (needs columns %s)"
                 % (args.scaling_csv, ", ".join(sorted(need))))
    out = args.out or os.path.dirname(os.path.abspath(args.scaling_csv))
    os.makedirs(out, exist_ok=True)
    machine = args.machine
    if machine is None:
        info = os.path.join(os.path.dirname(os.path.abspath(args.scaling_csv)), "machine.txt")
        machine = ""
        if os.path.exists(info):
            for line in open(info):
                if line.startswith("machine: "):
                    machine = line[len("machine: "):].strip()
    modes = by_mode(rows)
    sizes = sorted({int(r["world_size"]) for r in rows})
    model = rows[0]["model"]
    subtitle = machine + ("\n" + args.note if args.note else "")

    written = []
    for name, fn in [("throughput.png", lambda p: plot_throughput(modes, sizes, model, subtitle, p)),
                     ("efficiency.png", lambda p: plot_efficiency(modes, sizes, model, subtitle, p)),
                     ("step_time.png", lambda p: plot_step_time(modes, model, subtitle, p))]:
        p = os.path.join(out, name)
        fn(p)
        written.append(p)
    if args.accuracy:
        acc = read_csv(args.accuracy)
        if acc:
            p = os.path.join(out, "accuracy.png")
            plot_accuracy(acc, subtitle, p)
            written.append(p)
        else:
            print("plot_scaling.py: %s is empty; no accuracy plot" % args.accuracy, file=sys.stderr)
    for p in written:
        print("plot_scaling.py: wrote %s" % p)


if __name__ == "__main__":
    main()
