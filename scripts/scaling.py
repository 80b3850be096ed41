#!/usr/bin/env python3
"""Scaling sweep: runs `lockstep train` for a list of world sizes in strong scaling (fixed
global batch split over the ranks) and weak scaling (fixed batch per rank), several
repetitions each, and writes ONE CSV of medians; optionally an accuracy-vs-epoch run per
world size (a second CSV); then draws the plots (scripts/plot_scaling.py, matplotlib in
.venv-plots/, created on first use).

  scripts/scaling.py --quick                               # smoke run, ~1 minute
  scripts/scaling.py --model seed-mlp --world-sizes "1 2 4" --repeats 3 --steps 200 \\
      --accuracy-epochs 5 --out runs/scaling-mlp           # a full sweep
  scripts/scaling.py --hostfile cluster/hostfile --world-sizes "1 2 4 8 16"   # cluster

Every run writes its JSON-lines metrics under OUT/runs/; the figures come from the
`end` line (samples_per_s, compute_s, allreduce_s, steps), because with --max-steps a
run may stop mid-epoch and then writes no epoch line. Per-step times are end-line
totals divided by steps. Relative paths (--out, --bin, --hostfile) are taken from the
repository root. Standard library only; the plots run scripts/plot_scaling.py in
.venv-plots/.
"""
import argparse
import csv
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOT_VENV = os.path.join(ROOT, ".venv-plots")

# Defaults of the options that --quick shrinks: (normal, quick).
QUICK = {
    "world_sizes": ("1 2 4", "1 2"),
    "repeats": ("3", "1"),
    "steps": ("200", "20"),
    "accuracy_epochs": ("0", "2"),
    "accuracy_count": ("16384", "2048"),
}

RUNS_COLUMNS = ["model", "mode", "world_size", "batch_per_rank", "global_batch", "repeat", "steps",
                "samples_per_s", "compute_s", "allreduce_s", "train_s", "test_acc", "metrics"]
SCALING_COLUMNS = ["model", "world_size", "mode", "batch_per_rank", "global_batch", "repeats",
                   "samples_per_s_median", "samples_per_s_min", "samples_per_s_max", "speedup",
                   "efficiency", "compute_s", "allreduce_s", "test_acc"]
ACCURACY_COLUMNS = ["model", "world_size", "global_batch", "batch_per_rank", "epoch", "step", "test_acc",
                    "test_loss", "train_acc", "train_loss", "samples_per_s", "epoch_s"]


def say(*parts, **kw):
    print("scaling.py:", *parts, flush=True, **kw)


def die(message):
    print("scaling.py: %s" % message, file=sys.stderr)
    sys.exit(2)


def parser():
    ap = argparse.ArgumentParser(
        prog="scripts/scaling.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog="Outputs in OUT: scaling.csv, runs.csv (every run), accuracy.csv (with --accuracy-epochs), "
               "machine.txt, runs/*.jsonl and *.log, and the PNGs.")
    ap.add_argument("--model", default="seed-mlp", metavar="NAME",
                    help='model preset or spec (default seed-mlp); several, space-separated ("seed-mlp seed-cnn"), '
                         "sweep each into OUT/NAME/")
    ap.add_argument("--world-sizes", metavar='"1 2 4"', help='world sizes to run (default "1 2 4")')
    ap.add_argument("--modes", default="strong weak", metavar='"strong weak"', help="which sweeps (default both)")
    ap.add_argument("--repeats", metavar="N", help="repetitions per point; the CSV holds median/min/max (default 3)")
    ap.add_argument("--steps", "--max-steps", dest="steps", metavar="N",
                    help="optimizer steps per run, passed as --max-steps (default 200)")
    ap.add_argument("--strong-batch", default="256", metavar="N",
                    help="global batch for strong scaling, split over ranks (default 256)")
    ap.add_argument("--weak-batch", default="64", metavar="N", help="batch per rank for weak scaling (default 64)")
    ap.add_argument("--dataset", default="synthetic", metavar="D", help="synthetic (default) or fashion-mnist")
    ap.add_argument("--synthetic-count", metavar="N",
                    help="training samples for --dataset synthetic (default: steps x global batch, so each run is "
                         "exactly one epoch and reports test accuracy)")
    ap.add_argument("--accuracy-epochs", metavar="E",
                    help="also train E epochs per world size (global batch --strong-batch) and write accuracy.csv "
                         "(default 0: off)")
    ap.add_argument("--accuracy-count", metavar="N",
                    help="synthetic training samples for the accuracy runs (default 16384)")
    ap.add_argument("--hostfile", default="", metavar="FILE",
                    help="launch across the hosts of FILE (mpirun --hostfile)")
    ap.add_argument("--mpi-args", default="", metavar='"ARGS"',
                    help='extra mpirun arguments, e.g. "--mca btl tcp,self"')
    ap.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "lockstep"), metavar="PATH",
                    help="lockstep binary (default .build/release/lockstep)")
    ap.add_argument("--out", default="", metavar="DIR", help="output directory (default runs/scaling-<UTC time>)")
    ap.add_argument("--run-timeout", default="900", metavar="S",
                    help="seconds before one run is killed as hung (default 900)")
    ap.add_argument("--machine", default="", metavar='"TEXT"',
                    help="machine description for the plots' subtitle (default: detected)")
    ap.add_argument("--no-plots", dest="plots", action="store_false", help="write the CSVs only")
    ap.add_argument("--quick", action="store_true",
                    help='smoke run: world sizes "1 2", 1 repeat, 20 steps, 2 accuracy epochs on a small synthetic set')
    return ap


def parse(argv):
    args = parser().parse_args(argv)
    for name, (normal, quick) in QUICK.items():   # options given explicitly still win over --quick
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else normal)
    return args


def whole(name, value, positive=True):
    """The integer in an option's text; exits with a message naming the option otherwise."""
    if not re.fullmatch(r"[0-9]+", value) or (positive and int(value) == 0):
        die("--%s must be %s, got '%s'" % (name, "a positive integer" if positive else "a whole number", value))
    return int(value)


def hostfile_slots(path):
    """Slots as mpirun counts them: 'host slots=K' gives K, a bare 'host' line one slot."""
    total = 0
    for line in open(path):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        slots = 1
        for f in fields[1:]:
            if f.startswith("slots="):
                digits = re.match(r"[0-9]*", f[len("slots="):]).group()
                slots = int(digits or 0)
        total += slots
    return total


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(": ", 1)[1].strip()
    except OSError:
        pass
    return ""


def first_line(cmd):
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).stdout
    except OSError:
        return ""
    return out.splitlines()[0] if out else ""


class Sweep:
    """One model's sweep into one output directory: validated settings, the runs, the CSVs and plots."""

    def __init__(self, args, command):
        self.args = args
        self.command = command
        self.model = args.model
        self.dataset = args.dataset
        self.validate()

    # --- validate everything before starting a single process ---------------------------------
    def validate(self):
        a = self.args
        words = a.world_sizes.split()
        if not words:
            die('--world-sizes is empty; give e.g. "1 2 4"')
        for n in words:
            if not re.fullmatch(r"[0-9]+", n):
                die("world size '%s' is not a number; give e.g. --world-sizes \"1 2 4\"" % n)
            if int(n) == 0:
                die("world size 0 is not allowed: a run needs at least one rank")
        self.sizes = sorted({int(n) for n in words})
        max_n = self.sizes[-1]
        self.repeats = whole("repeats", a.repeats)
        self.steps = whole("steps", a.steps)
        self.strong_batch = whole("strong-batch", a.strong_batch)
        self.weak_batch = whole("weak-batch", a.weak_batch)
        self.run_timeout = whole("run-timeout", a.run_timeout)
        self.accuracy_epochs = whole("accuracy-epochs", a.accuracy_epochs, positive=False)
        self.accuracy_count = whole("accuracy-count", a.accuracy_count)
        self.synthetic_count = whole("synthetic-count", a.synthetic_count) if a.synthetic_count else None
        self.modes = a.modes.split()
        for m in self.modes:
            if m not in ("strong", "weak"):
                die("unknown mode '%s' in --modes (use strong and/or weak)" % m)
        if self.dataset not in ("synthetic", "fashion-mnist"):
            die("--dataset must be synthetic or fashion-mnist, got '%s'" % self.dataset)
        if "strong" in self.modes or self.accuracy_epochs > 0:
            for n in self.sizes:
                if self.strong_batch % n:
                    die("strong scaling splits the global batch %d over the ranks, but %d does not divide it; "
                        "change --strong-batch or --world-sizes" % (self.strong_batch, n))
        self.bin = a.bin
        if not (os.path.isfile(self.bin) and os.access(self.bin, os.X_OK)):
            die("no lockstep binary at %s; build it with 'swift build -c release' or pass --bin" % self.bin)

        self.hostfile, self.slots = a.hostfile, 0
        slurm_job, slurm_tasks = os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_NTASKS")
        if self.hostfile:
            if not os.access(self.hostfile, os.R_OK):
                die("hostfile '%s' does not exist or is not readable" % self.hostfile)
            self.hostfile = os.path.abspath(self.hostfile)
            self.slots = hostfile_slots(self.hostfile)
            if self.slots <= 0:
                die("hostfile '%s' names no hosts" % self.hostfile)
            if max_n > self.slots:
                die("world size %d needs %d slots but hostfile '%s' has only %d; remove the larger sizes from "
                    "--world-sizes or add hosts" % (max_n, max_n, self.hostfile, self.slots))
        elif slurm_job and slurm_tasks and max_n > int(slurm_tasks):
            die("world size %d exceeds this Slurm allocation's %s tasks" % (max_n, slurm_tasks))

    # --- output directory and machine.txt --------------------------------------------------------
    def prepare(self):
        a = self.args
        out = a.out or os.path.join(ROOT, "runs", "scaling-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
        os.makedirs(os.path.join(out, "runs"), exist_ok=True)
        self.out = os.path.abspath(out)
        self.cores = cpu_count()
        self.machine = a.machine
        if not self.machine:
            cpu = cpu_model()
            if self.hostfile:
                self.machine = "hosts of %s (%d slots)" % (os.path.basename(self.hostfile), self.slots)
            elif os.environ.get("SLURM_JOB_ID"):
                self.machine = "Slurm job %s (%s nodes)" % (os.environ["SLURM_JOB_ID"],
                                                            os.environ.get("SLURM_JOB_NUM_NODES") or "?")
            else:
                self.machine = "%d-core machine%s" % (self.cores, " (%s)" % cpu if cpu else "")
                if self.sizes[-1] > self.cores:
                    self.machine += "; ranks > %d oversubscribe the cores" % self.cores
        with open(os.path.join(self.out, "machine.txt"), "w") as f:
            f.write("machine: %s\n" % self.machine)
            f.write("cores: %d\n" % self.cores)
            f.write("date: %s\n" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            f.write("commit: %s\n" % (first_line(["git", "rev-parse", "--short", "HEAD"]) or "unknown"))
            f.write("command: %s\n" % self.command)
            f.write("model: %s; dataset: %s; steps: %d; repeats: %d; world sizes: %s\n"
                    % (self.model, self.dataset, self.steps, self.repeats, " ".join(map(str, self.sizes))))
            f.write("openmpi: %s\n" % first_line(["mpirun", "--version"]))
        self.launch = ["bash", os.path.join(ROOT, "scripts", "mpirun.sh")]
        if self.hostfile:
            self.launch += ["--hostfile", self.hostfile]
        self.launch += a.mpi_args.split()

    # --- one `lockstep train` under mpirun ----------------------------------------------------------
    def run_job(self, log, n, train_args):
        """Runs one training job with a timeout; on failure prints the log's tail and stops the sweep.
        The job is always stopped if the sweep is interrupted."""
        cmd = self.launch + ["-np", str(n), self.bin, "train"] + train_args + ["--progress", "lines"]
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        try:
            try:
                status = proc.wait(timeout=self.run_timeout)
            except subprocess.TimeoutExpired:
                status = 124 if stop(proc, grace=15) else 137
        finally:
            if proc.poll() is None:
                print("scaling.py: stopping the running job (pid %d)" % proc.pid, file=sys.stderr)
                stop(proc, grace=5)
        if status < 0:
            status = 128 - status
        if status == 0:
            return
        timed_out = ", timed out after %ds" % self.run_timeout if status in (124, 137) else ""
        print("scaling.py: run with %d ranks failed (exit %d%s); last lines of %s:" % (n, status, timed_out, log),
              file=sys.stderr)
        lines = open(log, errors="replace").read().splitlines()
        for line in lines[-15:]:
            print("    " + line, file=sys.stderr)
        tail = "\n".join(lines[-30:])
        if "not enough slots" in tail:
            print("scaling.py: the hostfile or allocation has too few slots for %d ranks" % n, file=sys.stderr)
        elif any(s in tail for s in ("ORTE was unable to reliably start", "ssh:", "Could not resolve",
                                     "No route to host")):
            print("scaling.py: a host could not be reached; check the hostfile and that every host accepts ssh "
                  "without a password", file=sys.stderr)
        sys.exit(1)

    def data_args(self, synthetic_count):
        return ["--dataset", self.dataset] + (
            ["--synthetic-count", str(synthetic_count)] if self.dataset == "synthetic" else [])

    # --- the strong and weak sweeps: runs.csv, then scaling.csv ------------------------------------
    def sweep(self):
        runs_csv = os.path.join(self.out, "runs.csv")
        with open(runs_csv, "w") as f:
            f.write(",".join(RUNS_COLUMNS) + "\n")
        total = len(self.modes) * len(self.sizes) * self.repeats
        say("%s on %s, world sizes %s, modes: %s, %d repeats x %d steps (%d runs); output in %s"
            % (self.model, self.dataset, " ".join(map(str, self.sizes)), " ".join(self.modes), self.repeats,
               self.steps, total, self.out))
        say(self.machine)
        k = 0
        for mode in self.modes:
            for n in self.sizes:
                bpr = self.strong_batch // n if mode == "strong" else self.weak_batch
                gb = bpr * n
                for r in range(1, self.repeats + 1):
                    k += 1
                    tag = "%s-n%d-r%d" % (mode, n, r)
                    metrics = os.path.join(self.out, "runs", tag + ".jsonl")
                    if os.path.exists(metrics):
                        os.remove(metrics)
                    say("[%d/%d] %-6s %3d ranks x batch %4d (global %5d), repeat %d ... "
                        % (k, total, mode, n, bpr, gb, r), end="")
                    self.run_job(os.path.join(self.out, "runs", tag + ".log"), n,
                                 ["--model", self.model] + self.data_args(self.synthetic_count or self.steps * gb)
                                 + ["--batch-size", str(bpr), "--epochs", "1", "--max-steps", str(self.steps),
                                    "--seed", str(41 + r), "--metrics", metrics])
                    row = run_row(metrics, self.model, mode, n, bpr, gb, r)
                    with open(runs_csv, "a") as f:
                        f.write(",".join(str(x) for x in row) + "\n")
                    print("%.0f samples/s" % float(row[7]), flush=True)
        scaling_csv = os.path.join(self.out, "scaling.csv")
        aggregate(runs_csv, scaling_csv)
        say("wrote %s" % scaling_csv)
        print_table(scaling_csv)

    # --- accuracy vs epoch, one run per world size (same global batch for every size) -------------
    def accuracy(self):
        acc_csv = os.path.join(self.out, "accuracy.csv")
        with open(acc_csv, "w") as f:
            f.write(",".join(ACCURACY_COLUMNS) + "\n")
        for n in self.sizes:
            bpr = self.strong_batch // n
            metrics = os.path.join(self.out, "runs", "accuracy-n%d.jsonl" % n)
            if os.path.exists(metrics):
                os.remove(metrics)
            say("accuracy run, %d ranks x batch %d, %d epochs ..." % (n, bpr, self.accuracy_epochs))
            self.run_job(os.path.join(self.out, "runs", "accuracy-n%d.log" % n), n,
                         ["--model", self.model] + self.data_args(self.accuracy_count)
                         + ["--batch-size", str(bpr), "--epochs", str(self.accuracy_epochs), "--seed", "42",
                            "--metrics", metrics])
            with open(acc_csv, "a") as f:
                for d in read_events(metrics):
                    if d.get("event") == "epoch":
                        f.write(",".join(str(x) for x in [
                            self.model, n, self.strong_batch, bpr, d["epoch"], d["step"], d["test_acc"],
                            d["test_loss"], d["train_acc"], d["train_loss"], d["samples_per_s"], d["epoch_s"]]) + "\n")
        say("wrote %s" % acc_csv)

    # --- plots ------------------------------------------------------------------------------------
    def plot(self):
        python = plot_python()
        if python is None:
            print("scaling.py: could not install matplotlib; the CSVs are in %s; plot later with "
                  "scripts/plot_scaling.py" % self.out, file=sys.stderr)
            sys.exit(1)
        cmd = [python, os.path.join(ROOT, "scripts", "plot_scaling.py"), os.path.join(self.out, "scaling.csv"),
               "--out", self.out, "--machine", self.machine,
               "--note", "%s data; %d steps per run, median of %d; compute and all-reduce per step on rank 0"
               % (self.dataset, self.steps, self.repeats)]
        if os.path.isfile(os.path.join(self.out, "accuracy.csv")):
            cmd += ["--accuracy", os.path.join(self.out, "accuracy.csv")]
        status = subprocess.run(cmd).returncode
        if status:
            sys.exit(status)

    def run(self):
        self.prepare()
        self.sweep()
        if self.accuracy_epochs > 0:
            self.accuracy()
        if self.args.plots:
            self.plot()
        say("done; results in %s" % self.out)


def stop(proc, grace):
    """SIGTERM, then SIGKILL after `grace` seconds; True when SIGTERM was enough."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_row(path, model, mode, n, bpr, gb, r):
    """One runs.csv row from a run's metrics: the end line's totals, and the test accuracy of
    the end line or else of the last epoch line."""
    end, acc = None, ""
    for d in read_events(path):
        if d.get("event") == "epoch" and "test_acc" in d:
            acc = d["test_acc"]
        if d.get("event") == "end":
            end = d
    if end is None:
        sys.exit("scaling.py: %s has no end line" % path)
    acc = end.get("test_acc", acc)
    return [model, mode, n, bpr, gb, r, end["steps"], end["samples_per_s"], end["compute_s"], end["allreduce_s"],
            end.get("train_s", ""), acc, path]


def aggregate(runs_csv, scaling_csv):
    """Medians per (mode, world size) from runs.csv into scaling.csv."""
    with open(runs_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    groups = {}
    for r in rows:
        groups.setdefault((r["mode"], int(r["world_size"])), []).append(r)
    out = []
    for mode in sorted({m for m, _ in groups}):
        sizes = sorted(n for m, n in groups if m == mode)
        base_n = sizes[0]
        base = statistics.median(float(r["samples_per_s"]) for r in groups[(mode, base_n)])
        for n in sizes:
            g = groups[(mode, n)]
            sps = [float(r["samples_per_s"]) for r in g]
            med = statistics.median(sps)
            # Speedup against the smallest world size measured (1 rank in a normal sweep),
            # scaled so that a sweep starting at N0 ranks still reads as "x times one rank".
            speedup = base_n * med / base
            comp = statistics.median(float(r["compute_s"]) / int(r["steps"]) for r in g)
            comm = statistics.median(float(r["allreduce_s"]) / int(r["steps"]) for r in g)
            accs = [float(r["test_acc"]) for r in g if r["test_acc"] != ""]
            out.append(dict(model=g[0]["model"], world_size=n, mode=mode,
                            batch_per_rank=g[0]["batch_per_rank"], global_batch=g[0]["global_batch"],
                            repeats=len(g), samples_per_s_median="%.1f" % med,
                            samples_per_s_min="%.1f" % min(sps), samples_per_s_max="%.1f" % max(sps),
                            speedup="%.3f" % speedup, efficiency="%.3f" % (speedup / n),
                            compute_s="%.6f" % comp, allreduce_s="%.6f" % comm,
                            test_acc=("%.4f" % statistics.median(accs)) if accs else ""))
    with open(scaling_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SCALING_COLUMNS)
        w.writeheader()
        w.writerows(out)


def print_table(path):
    """The CSV as aligned columns, two spaces apart (as `column -s, -t` prints it)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    for r in rows:
        print("  ".join([c.ljust(w) for c, w in zip(r[:-1], widths)] + r[-1:]))
    sys.stdout.flush()


def plot_python():
    """The Python of .venv-plots/ with matplotlib, created from scripts/requirements-plots.txt on
    first use; None when it cannot be installed."""
    python = os.path.join(PLOT_VENV, "bin", "python")
    if os.access(python, os.X_OK) and subprocess.run([python, "-c", "import matplotlib"],
                                                     stderr=subprocess.DEVNULL).returncode == 0:
        return python
    say("creating %s with matplotlib (scripts/requirements-plots.txt)" % PLOT_VENV)
    requirements = os.path.join(ROOT, "scripts", "requirements-plots.txt")
    if subprocess.run([sys.executable, "-m", "venv", PLOT_VENV]).returncode != 0:
        return None
    if subprocess.run([os.path.join(PLOT_VENV, "bin", "pip"), "install", "-q", "-r", requirements]).returncode != 0:
        return None
    return python


def without_model_and_out(argv):
    """argv less --model X and --out X (also --model=X), for the per-model sweeps' commands."""
    rest, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--model", "--out"):
            skip = True
        elif not a.startswith(("--model=", "--out=")):
            rest.append(a)
    return rest


def main(argv):
    args = parse(argv)
    models = args.model.split()
    if len(models) > 1:
        # Several models (--model "seed-mlp seed-cnn"): one sweep each, into OUT/MODEL/, with the
        # same options; each is validated as it starts.
        base_out = args.out or os.path.join(ROOT, "runs",
                                            "scaling-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()))
        rest = without_model_and_out(argv)
        for m in models:
            out = os.path.join(base_out, m)
            say("model %s -> %s" % (m, out))
            one = rest + ["--model", m, "--out", out]
            Sweep(parse(one), "scripts/scaling.py " + shlex.join(one)).run()
        say("all models done; results in %s/*/" % base_out)
        return
    args.model = models[0] if models else args.model
    Sweep(args, "scripts/scaling.py " + shlex.join(argv)).run()


def terminated(signum, frame):
    sys.exit(128 + signum)


if __name__ == "__main__":
    os.chdir(ROOT)
    signal.signal(signal.SIGTERM, terminated)
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(130)
