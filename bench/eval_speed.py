"""Evaluator accuracy and training time, and the time to evaluate 10,000 generated samples.

    GANDASH_DATA_DIR=../shared/data .venv/bin/python bench/eval_speed.py \
        --datasets mnist fashion_mnist --train-repeats 1 --eval-repeats 3

Each evaluator is trained from scratch in a temporary runs directory (the full
default recipe), --train-repeats times. The evaluation timing uses the fast
preset's (conditional) generator (untrained: the cost does not depend on the weights) and the
MNIST evaluator of --eval-root (the usual runs directory by default, where it is
trained first if missing, so it stays there for later use). Results go to stdout
as Markdown table rows for BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def train_once(dataset: str, root: Path) -> tuple[float, float]:
    from gandash.quality import evaluate, evaluator

    evaluator._models.clear()
    t0 = time.perf_counter()
    evaluate.ensure_evaluator(dataset, root, progress=lambda m: print(f"  {m}", flush=True))
    seconds = time.perf_counter() - t0
    return evaluate.evaluator_status(dataset, root)["accuracy"], seconds


def fast_generator():
    import keras

    from gandash.config import make_config
    from gandash.engine.models import build_networks

    cfg = make_config("fast")
    keras.utils.set_random_seed(0)
    return build_networks(cfg)[0], cfg


def time_evaluation(root: Path, n: int, repeats: int) -> list[float]:
    """In-process evaluate_generator: the first call also scores the real test split."""
    from gandash.quality import evaluate

    generator, cfg = fast_generator()
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        result = evaluate.evaluate_generator(generator, cfg, root, n=n)
        times.append(time.perf_counter() - t0)
        print(f"  evaluation {i + 1}: {times[-1]:.1f} s (load {load_average()})", flush=True)
    print(evaluate.format_result(result))
    return times


def time_cli(root: Path, n: int, repeats: int) -> list[float]:
    """``python -m gandash eval RUN --n N`` end to end (a fresh process each time)."""
    from gandash.store.runs import RunStore

    times = []
    with tempfile.TemporaryDirectory(prefix="gandash-bench-runs-") as tmp:
        shutil.copytree(root / "_evaluators", Path(tmp) / "_evaluators", ignore=shutil.ignore_patterns("*.lock"))
        generator, cfg = fast_generator()
        run = RunStore(tmp).create(cfg)
        generator.save(run.generator_path)
        for i in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gandash", "--runs-dir", tmp, "eval", run.id, "--n", str(n)],
                           check=True, capture_output=True, cwd=REPO)
            times.append(time.perf_counter() - t0)
            print(f"  CLI evaluation {i + 1}: {times[-1]:.1f} s (load {load_average()})", flush=True)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    p.add_argument("--train-repeats", type=int, default=1)
    p.add_argument("--eval-repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--eval-root", default=None,
                   help="runs directory whose MNIST evaluator is timed (default: the usual runs directory; "
                        "trained there first if missing)")
    args = p.parse_args()
    from gandash.quality import evaluate
    from gandash.store.runs import RunStore

    lines = []
    with tempfile.TemporaryDirectory(prefix="gandash-bench-") as tmp:
        for dataset in args.datasets:
            accs, secs = [], []
            for r in range(args.train_repeats):
                root = Path(tmp) / f"{dataset}-{r}"
                print(f"training the {dataset} evaluator, repeat {r + 1} (load {load_average()})", flush=True)
                acc, sec = train_once(dataset, root)
                accs.append(acc)
                secs.append(sec)
                ref = evaluate.reference_metrics(dataset, root)
                print(f"  accuracy {100 * acc:.2f}%, {sec:.0f} s; real data: "
                      + ", ".join(f"{k} {ref[k]:.3f}" for k in evaluate.SCALAR_KEYS), flush=True)
            if accs:
                lines.append(f"| {dataset} evaluator | test accuracy {100 * statistics.median(accs):.2f}% "
                             f"(runs: {', '.join(f'{100 * a:.2f}' for a in accs)}) | training "
                             f"{statistics.median(secs):.0f} s (runs: {', '.join(f'{s:.0f}' for s in secs)}) |")
    if args.eval_repeats:
        root = RunStore(args.eval_root).root
        evaluate.ensure_evaluator("mnist", root, progress=lambda m: print(f"  {m}", flush=True))
        evaluate.reference_metrics("mnist", root)
        print(f"evaluating {args.n} samples of the fast preset's generator with the evaluator in {root}", flush=True)
        times = time_evaluation(root, args.n, args.eval_repeats)
        cli = time_cli(root, args.n, args.eval_repeats)
        lines.append(f"| evaluate {args.n} samples, in process | first {times[0]:.1f} s | "
                     f"median {statistics.median(times):.1f} s (runs: {', '.join(f'{t:.1f}' for t in times)}) |")
        lines.append(f"| `python -m gandash eval RUN --n {args.n}`, end to end | "
                     f"median {statistics.median(cli):.1f} s | runs: {', '.join(f'{t:.1f}' for t in cli)} |")
    print("\n".join(lines))
    print(f"load average at the end: {load_average()}; CPUs: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
