"""python -m gandash …: argument parsing; the work happens in the package."""
from __future__ import annotations

import argparse
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gandash", description="Train and explore GANs on MNIST-like data.")
    p.add_argument("--runs-dir", default=None, help="runs directory (default ./checkpoints or $GANDASH_RUNS_DIR)")
    sub = p.add_subparsers(dest="command", required=True)

    from gandash.config import PRESETS, settings_help

    t = sub.add_parser("train", help="train a GAN (foreground, or --detach)", epilog=settings_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--preset", default="fast",
                   help=f"one of {', '.join(PRESETS)} (fast is conditional; on data without labels it gives "
                        "way to fast-unsupervised)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting (repeatable)")
    t.add_argument("--detach", action="store_true", help="start in the background and print the run id")
    backend = dict(choices=("local", "ray"), help="where it trains: this machine (local), or a task on the Ray "
                                                  "cluster at $RAY_ADDRESS (ray; needs requirements-cluster.txt)")
    t.add_argument("--backend", default="local", **backend)
    t.add_argument("--create-only", action="store_true",
                   help="create the run directory and print its id without training (for multi-worker runs)")

    r = sub.add_parser("runs", help="list runs")
    r.add_argument("--json", action="store_true")
    for name, helptext in (("status", "one run's progress and health alerts, with what to try"),
                           ("stop", "stop a running trainer and wait until it has let go of the run"),
                           ("resume", "resume a stopped run"), ("delete", "delete a run directory")):
        sub.add_parser(name, help=helptext).add_argument("run")
    sub.choices["resume"].add_argument("--backend", default=None, **{**backend, "help": backend["help"] + "; "
                                       "default: where it last trained"})
    sub.choices["delete"].add_argument("--stop", action="store_true",
                                       help="stop the run's trainer first, then delete")

    pa = sub.add_parser("pause", help="teach mode: hold a training run after its current step (it keeps its slot)")
    sp = sub.add_parser("step", help="teach mode: train a paused run exactly N more steps, then hold again")
    sp.add_argument("--n", type=int, default=1, help="steps (or updates of one network with --only); default 1")
    sp.add_argument("--only", choices=("d", "g"), default="",
                    help="update only the discriminator (d) or only the generator (g)")
    co = sub.add_parser("continue", help="teach mode: let a paused run train on")
    co.add_argument("--slow", type=float, default=0.0, metavar="SECONDS",
                    help="slow motion: one step every SECONDS, with fresh samples after each")
    for a in (pa, sp, co):
        a.add_argument("run")
    de = sub.add_parser("demo", help="queue the runs a talk needs (the default, no labels, mode collapse, WGAN-GP) "
                        "and a deck named 'demo' that walks through them")
    de.add_argument("--budget", type=float, default=180.0, metavar="SECONDS",
                    help="training time of each run (default 180)")

    s = sub.add_parser("sample", help="generate images from a run's latest generator")
    s.add_argument("run")
    s.add_argument("--n", type=int, default=64)
    s.add_argument("--digit", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=None)
    s.add_argument("--move", action="append", metavar="NAME=AMOUNT",
                   help="move every sample along a direction (see `directions RUN`), AMOUNT in standard "
                        "deviations of the latents along it, e.g. thickness=+2 or sefa-1=-1.5; repeatable")
    s.add_argument("--out", required=True)

    dr = sub.add_parser("directions", help="what directions in a run's latent space mean, and how well each works")
    dr.add_argument("run")
    dr.add_argument("--json", action="store_true")
    dr.add_argument("--gallery", default=None, metavar="PNG",
                    help="write a strip from -3 to +3 for each direction")
    dr.add_argument("--seed", type=int, default=0, help="the gallery's samples")
    dr.add_argument("--digit", type=int, default=None, help="the gallery's digit (or code), for models that take one")

    dx = sub.add_parser("dissect", help="switch G's channels off or amplify them; rank them by what they draw")
    dx.add_argument("run")
    dx.add_argument("--layer", default=None, help="the layer to dissect; without it, the layers are listed")
    dx.add_argument("--off", default="", metavar="C,C,…", help="channels to switch off")
    dx.add_argument("--gain", action="append", metavar="C=FACTOR", help="multiply a channel; repeatable")
    dx.add_argument("--rank", choices=["effect", "region", "reading"], default=None,
                    help="rank the channels: by their effect on the samples, by the ink they draw in --region, "
                         "or by how much the evaluator's reading depends on them")
    dx.add_argument("--region", default=None, metavar="X0,Y0,X1,Y1",
                    help="a box in image pixels (of the first sample) for --rank region")
    dx.add_argument("--n", type=int, default=16, help="samples (default 16)")
    dx.add_argument("--seed", type=int, default=0)
    dx.add_argument("--digit", type=int, default=None)
    dx.add_argument("--top", type=int, default=10, help="channels to print (default 10)")
    dx.add_argument("--out", default=None, help="an .npz of the samples before and after --off/--gain")

    v = sub.add_parser("invert", help="find your digit in a run's latent space: the vector that draws it")
    v.add_argument("run")
    v.add_argument("--image", required=True, help="an image of one digit (PNG, JPEG, …), any size up to 4096 px")
    v.add_argument("--digit", type=int, default=None, help="the digit (or code) to draw it as; default: searched")
    v.add_argument("--steps", type=int, default=200, help="refinement steps (default 200)")
    v.add_argument("--out", required=True, help="an .npz for z, the reconstruction and the target; a .png beside it")

    e = sub.add_parser("eval", help="compute quality metrics of a run's generator")
    e.add_argument("run")
    e.add_argument("--n", type=int, default=10000)
    e.add_argument("--cas", action="store_true",
                   help="also CAS (conditional models): a classifier trained on the samples, scored on real test "
                        "digits; about 20 s more for 10,000 samples")

    q = sub.add_parser("queue", help="list the running and waiting runs; set the number of slots")
    q.add_argument("--slots", default=None, metavar="N",
                   help="how many runs of this folder train at once (an integer, or 'default' for the hardware's)")
    q.add_argument("--front", default=None, metavar="RUN", help="move a waiting run to the front of the line")
    q.add_argument("--json", action="store_true")

    st = sub.add_parser("study", help="compare presets at an equal budget over several seeds")
    ss = st.add_subparsers(dest="study_command", required=True)
    begin = ss.add_parser("start", help="create and queue a study's runs; prints the study id")
    begin.add_argument("--presets", required=True, help="1-6 presets, comma-separated (e.g. fast,acgan,mlp-classic)")
    begin.add_argument("--seeds", type=int, default=3, help="repeats of each variant, 1-5 (default 3)")
    begin.add_argument("--budget", required=True, help="training time per run (5m, 90s) or steps (2000steps)")
    begin.add_argument("--vary", default="", metavar="FIELD=V1,V2", help="also vary one setting over 2-5 values")
    begin.add_argument("--name", default="")
    begin.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    begin.add_argument("--backend", default="local", **backend)
    begin.add_argument("--wait", action="store_true", help="return when the study has finished, with a progress bar")
    ss.add_parser("list", help="every study with its progress")
    show = ss.add_parser("show", help="a study's leaderboard and verdict")
    show.add_argument("study")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--csv", action="store_true")
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--html", metavar="FILE", help="write the offline report (table, curves, grids) to FILE")
    for name, text in (("stop", "stop (or cancel in the queue) every run of a study"),
                       ("delete", "delete a study and its runs")):
        ss.add_parser(name, help=text).add_argument("study")

    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("run_dir")
    w.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    w.add_argument("--slot-fd", type=int, default=None, help=argparse.SUPPRESS)
    w.add_argument("--slot", type=int, default=None, help=argparse.SUPPRESS)
    w.add_argument("--since", type=float, default=None, help=argparse.SUPPRESS)
    for a in (t, r, s, v, e, q, w, pa, sp, co, *ss.choices.values(),
              *[sub.choices[n] for n in ("stop", "resume", "delete")]):
        a.add_argument("--runs-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from gandash import cli

    return cli.run_command(args)


if __name__ == "__main__":
    sys.exit(main())
