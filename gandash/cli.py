"""The commands behind ``python -m gandash``: each returns an exit code and prints one-line errors."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from gandash import backends
from gandash.config import fit_to_labels, make_config
from gandash.errors import GandashError
from gandash.quality import health
from gandash.store.runs import Run, RunStore


class UserError(GandashError):
    """Bad input from the command line: printed as one line, exit code 2."""


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def progress_line(run: Run) -> str:
    st = run.status()
    step, total = int(st.get("step") or 0), int(st.get("total") or 0)
    pct = f"{100 * step / total:5.1f}%" if total else "   - "
    ips = st.get("images_per_sec")
    speed = f"{ips:7.0f} img/s" if isinstance(ips, (int, float)) else "      - img/s"
    line = f"{run.id:40s} {st.get('state', '?'):9s} {step:>8d}/{total:<8d} {pct} {speed}"
    if st.state == "queued" and (why := backends.of(st).waiting_text(st)):
        line += f"  ({why})"
    if st.lost:
        line += f"  ({st.error})"
    elif st.get("not_responding"):
        line += f"  (not responding for {st['not_responding']} s)"
    return line


def cmd_train(args, store: RunStore) -> int:
    overrides = parse_overrides(args.overrides)
    cfg = make_config(args.preset, overrides)
    if cfg.dataset == "custom":  # check the data before creating anything
        from gandash.engine.data import load_custom, load_for_config

        has_labels = load_custom(cfg.data_path, cfg.image_size).labels is not None
        cfg, note = fit_to_labels(args.preset, overrides, has_labels)
        if note:
            print(f"note: {note}", file=sys.stderr)
        load_for_config(cfg)
    if args.create_only:
        print(store.create(cfg).id)
        return 0
    if args.detach or args.backend != "local":  # elsewhere: follow it from here
        from gandash.backends.launcher import start

        run = start(store, cfg, backend=args.backend)
        print(run.id)
        return 0 if args.detach else _follow(run)
    from gandash.engine.train import train

    run = store.create(cfg)
    lock = run.take_trainer_lock()  # `stop RUN` from another shell signals this process
    print(f"run {run.id}", file=sys.stderr)
    bar = _ProgressBar(run)
    state = train(run, lock=lock, on_row=bar.update)
    bar.close()
    print(run.id)
    return 0 if state in ("finished", "stopped") else 1


def _follow(run: Run, poll_s: float = 2.0) -> int:
    """Print a run's progress until it ends (it trains elsewhere: Ctrl-C leaves it training)."""
    import time

    from gandash.store.runs import ACTIVE_STATES

    where = backends.LABELS.get(run.status().backend, "backend")
    print(f"run {run.id} on the {where}; Ctrl-C stops following (the run goes on; "
          f"`python -m gandash stop {run.id}` stops it)", file=sys.stderr)
    last = ""
    while (state := run.status().get("state")) in ACTIVE_STATES:
        line = progress_line(run)
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        time.sleep(poll_s)
    print(progress_line(run), file=sys.stderr)
    return 0 if state in ("finished", "stopped") else 1


class _ProgressBar:
    """One line on stderr, redrawn per metrics row."""

    def __init__(self, run: Run):
        self.run = run

    def update(self, row: dict) -> None:
        total = int(self.run.status().get("total") or 0) or 1
        frac = min(1.0, row["step"] / total)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        print(f"\r[{bar}] {row['step']}/{total} d_loss {row.get('d_loss', float('nan')):.3f} "
              f"g_loss {row.get('g_loss', float('nan')):.3f} {row['images_per_sec']:.0f} img/s",
              end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def cmd_runs(args, store: RunStore) -> int:
    runs = store.list()
    if args.json:
        out = []
        for run in runs:
            item = {"id": run.id, "status": run.status().to_json(), "alerts": [a.to_dict() for a in health.read(run)]}
            try:
                cfg = run.config()
                item.update(architecture=cfg.architecture, dataset=cfg.dataset, name=cfg.name)
            except GandashError as e:
                item["error"] = str(e)
            out.append(item)
        print(json.dumps(out, indent=2))
        return 0
    if not runs:
        print(f"no runs in {store.root}")
    for run in runs:
        print(progress_line(run))
        found = health.read(run)
        if found:
            print(f"{'':4s}⚠ {health.summary(found)}")
    return 0


def cmd_status(args, store: RunStore) -> int:
    """One run: its progress, device and error, and each health alert with what to try."""
    run = store.get(args.run)
    status = run.status()
    print(progress_line(run))
    for key in ("device", "error"):
        if status.get(key):
            print(f"{key}: {status[key]}")
    found = health.read(run, status)
    if not found:
        print("health: no alert")
    for a in found:
        since = f"from step {a.step:,}" + ("" if a.ongoing else f" to {a.last_step:,}, then passed")
        print(f"\n⚠ {a.title} ({since})\n  {a.message}" + (f"\n  {a.sure}" if a.sure else ""))
        for r in a.remedies:
            changes = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.changes.items())
            print(f"  try: {r.label}: --set {changes.replace(', ', ' --set ')}  ({r.why})")
    return 0


STOP_WAIT_S = 60.0


def cmd_stop(args, store: RunStore) -> int:
    from gandash.backends.launcher import stop

    run = store.get(args.run)
    state = stop(run, wait=STOP_WAIT_S)
    print(state)
    if state == "stopping":
        waited = run.status().get("not_responding")
        why = f"it has not responded for {waited} s (paused or stuck?)" if waited else "it is still saving"
        print(f"error: the trainer of {run.id} has not stopped within {STOP_WAIT_S:.0f} s: {why}; "
              f"the stop request stays pending", file=sys.stderr)
        return 1
    return 0


def cmd_resume(args, store: RunStore) -> int:
    from gandash.backends.launcher import resume

    run = store.get(args.run)
    resume(run, backend=args.backend)
    print(run.id)
    return 0


def _teach(args, store: RunStore, action: str, **fields) -> tuple[int, object]:
    """Ask the run's trainer for ``action`` and wait until it is carried out: (the step before, the status then).
    A run that ended meanwhile (stopped, or its last step reached) is said on stderr."""
    from gandash.store import control

    run = store.get(args.run)
    before = run.status().step
    req = control.ask(run, action, **fields)
    status = control.wait(run, req)
    if not status.active:
        print(f"note: run {run.id} {status.state} at step {status.step:,}" +
              (f": {status.error}" if status.error else ""), file=sys.stderr)
    return before, status


def cmd_pause(args, store: RunStore) -> int:
    status = store.get(args.run).status()
    if status.state != "paused":
        _, status = _teach(args, store, "pause")
    print(f"{status.state} at step {status.step:,}")
    return 0


def cmd_step(args, store: RunStore) -> int:
    before, status = _teach(args, store, "step", n=args.n, only=args.only)
    if args.only == "d":
        logs = status.get("teach_logs") or {}
        figures = ", ".join(f"{k} {logs[k]:.3f}" for k in ("d_loss", "d_real", "d_fake") if k in logs)
        print(f"step {status.step:,}: the discriminator updated {args.n} time{'s' * (args.n != 1)} alone, "
              f"the generator's weights unchanged" + (f" ({figures})" if figures else ""))
    else:
        print(f"step {status.step:,} (was {before:,})")
    return 0


def cmd_continue(args, store: RunStore) -> int:
    _, status = _teach(args, store, "continue", slow=args.slow)
    print(f"{status.state} at step {status.step:,}" + (f", one step every {args.slow:g} s" if args.slow else ""))
    return 0


def cmd_demo(args, store: RunStore) -> int:
    from gandash.talks import deck, demo

    if not 10 <= args.budget <= 24 * 3600:
        raise UserError(f"--budget must be from 10 seconds to a day, got {args.budget:g}")
    runs, views = demo.queue(store, args.budget)
    for run, part in zip(runs, demo.PARTS):
        print(f"{run.id}  {part.name}: {part.shows}")
    print(f"{demo.ready_in(store, args.budget).capitalize()}.")
    print(f"deck {demo.DECK!r}: {len(views)} views, in {store.root / deck.DECKS_DIR}. In the dashboard: the sidebar's "
          f"'Deck for a talk', then 'Present this deck'; the arrow keys step through it.")
    return 0


def cmd_delete(args, store: RunStore) -> int:
    if args.stop:
        from gandash.backends.launcher import stop_then_delete

        stop_then_delete(store, store.get(args.run), wait=STOP_WAIT_S)
    else:
        store.delete(args.run)
    print(f"deleted {args.run}")
    return 0


def _npz_out(path: str) -> Path:
    out = Path(path)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {path!r}")
    if not out.parent.is_dir():
        raise UserError(f"--out: folder {str(out.parent)!r} does not exist")
    return out


def _check_digit(run, cfg, digit: int | None) -> None:
    if digit is not None and not cfg.takes_label:
        raise UserError(f"--digit needs a conditional model (or a latent code); "
                        f"run {run.id} is {cfg.architecture} (unconditional)")
    if not run.generator_path.exists():
        raise UserError(f"run {run.id} has no generator.keras yet (it saves one at its first checkpoint)")


def _write_npz(out: Path, **arrays) -> None:
    import io

    import numpy as np

    from gandash.store.runs import atomic_write_bytes

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(out, buf.getvalue())


def _space(run: Run, cfg, generator, store: RunStore):
    """The run's latent directions (fitted in a few seconds; said on stderr)."""
    from gandash.explore import directions
    from gandash.quality.evaluate import reader

    print("fitting the latent directions…", file=sys.stderr, flush=True)
    return directions.fit(generator, cfg, reader(cfg.dataset, store.root))


def cmd_sample(args, store: RunStore) -> int:
    from gandash.explore import directions
    from gandash.explore.sampling import load_generator, sample

    run = store.get(args.run)
    cfg = run.config()
    out = _npz_out(args.out)
    _check_digit(run, cfg, args.digit)
    moves = directions.parse_moves(args.move)
    known = directions.names(cfg)
    for name, _ in moves:
        if name not in known:
            raise UserError(f"no direction {name!r}; this run has: {', '.join(known)}")
    gen = load_generator(run.generator_path)
    edit = None
    if moves:
        space = _space(run, cfg, gen, store)
        steps = [(space.get(name), amount) for name, amount in moves]
        edit = lambda z: directions.move(z, cfg, steps)  # noqa: E731
    images, labels = sample(gen, cfg, args.n, args.digit, args.seed, args.size, edit=edit)
    arrays = {"images": images}
    if labels is not None:  # the digits asked for, or the InfoGAN codes used
        arrays["labels" if cfg.is_conditional else "codes"] = labels
    _write_npz(out, **arrays)
    print(f"wrote {len(images)} images to {out}")
    return 0


def cmd_directions(args, store: RunStore) -> int:
    import numpy as np

    from gandash.explore import directions
    from gandash.explore.images import png_bytes, to_grid_image
    from gandash.explore.sampling import latents, load_generator
    from gandash.store.runs import atomic_write_bytes

    run = store.get(args.run)
    cfg = run.config()
    _check_digit(run, cfg, args.digit)
    if args.gallery and not str(args.gallery).lower().endswith(".png"):
        raise UserError(f"--gallery must end in .png, got {args.gallery!r}")
    gen = load_generator(run.generator_path)
    space = _space(run, cfg, gen, store)
    if args.json:
        print(json.dumps({"run": run.id, "sd": space.sd, "directions": [
            {"name": d.name, "kind": d.kind, "changes": d.main, "effect": d.effect, "agrees": d.agrees,
             "holds": d.holds, "scale": d.scale, "vector": [round(float(v), 6) for v in d.vector]}
            for d in space.directions.values()]}, indent=2))
    else:
        print(f"{'direction':12s} {'changes':11s} {'per unit':>9s} {'pairs':>6s} {'same digit':>11s}  + means")
        for d in space.directions.values():
            a = d.main
            held = "-" if d.holds is None else f"{d.holds:.0%}"
            print(f"{d.name:12s} {a:11s} {d.effect[a]:+8.2f}σ {d.agrees[a]:6.0%} {held:>11s}  "
                  f"{directions.ATTRIBUTES[a]}")
        print(f"Tried on 200 samples moved to -{directions.ASSESS_AMOUNT:g} and +{directions.ASSESS_AMOUNT:g}: "
              "the attribute's change per unit (in its standard deviation over samples), the pairs that move "
              "that way, and the pairs the evaluator reads as the same digit at both ends.")
    if args.gallery:
        amounts = np.linspace(-3, 3, 7)
        z = latents(2, cfg.latent_dim, cfg.latent_dist, seed=args.seed)
        strips = [directions.strip(gen, cfg, z, d, amounts, args.digit) for d in space.directions.values()]
        atomic_write_bytes(Path(args.gallery), png_bytes(to_grid_image(np.concatenate(strips), 7, scale=2)))
        print(f"wrote {args.gallery}: two rows per direction, in the order above, from -3 to +3", file=sys.stderr)
    return 0


def _channels(text: str) -> list[int]:
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise UserError(f"--off takes channel numbers separated by commas, got {text!r}") from None


def _gains(texts: list[str] | None) -> dict[int, float]:
    gains = {}
    for text in texts or []:
        c, _, f = str(text).partition("=")
        try:
            gains[int(c)] = float(f)
        except ValueError:
            raise UserError(f"--gain takes CHANNEL=FACTOR, e.g. 12=3, got {text!r}") from None
    return gains


def _box(text: str, size: int):
    import numpy as np

    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--region takes X0,Y0,X1,Y1 in pixels, got {text!r}") from None
    if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size):
        raise UserError(f"--region must be a box inside the {size}×{size} image with X0<X1 and Y0<Y1, got {text!r}")
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def cmd_dissect(args, store: RunStore) -> int:
    import numpy as np

    from gandash.explore import dissect
    from gandash.explore.sampling import latents, load_generator
    from gandash.quality.evaluate import reader

    run = store.get(args.run)
    cfg = run.config()
    _check_digit(run, cfg, args.digit)
    out = _npz_out(args.out) if args.out else None
    if not 1 <= args.n <= 256:
        raise UserError(f"--n must be from 1 to 256, got {args.n}")
    gen = load_generator(run.generator_path)
    if args.layer is None:
        for name, shape in dissect.dissectable(gen):
            print(dissect.describe(name, shape))
        return 0
    split = dissect.split(gen, args.layer)
    z = latents(args.n, cfg.latent_dim, cfg.latent_dist, seed=args.seed)
    labels = None
    if cfg.takes_label:
        labels = np.full(args.n, args.digit) if args.digit is not None else np.arange(args.n) % cfg.num_classes
    acts = dissect.activations(split, cfg, z, labels)
    off, gains = _channels(args.off), _gains(args.gain)
    edited = dissect.edited(split, acts, off, gains)
    if args.rank:
        if args.rank == "region":
            if not args.region:
                raise UserError("--rank region needs --region X0,Y0,X1,Y1")
            ranking = dissect.region(split, cfg, acts[:1], _box(args.region, cfg.image_size))
        elif args.rank == "reading":
            read = reader(cfg.dataset, store.root)
            if read is None:
                raise UserError(f"--rank reading needs the {cfg.dataset} evaluator: run `eval` once to make it")
            ranking = dissect.reading(split, cfg, acts, read)
        else:
            ranking = dissect.effect(split, cfg, acts)
        print(f"{'channel':>8s} {ranking.what:>44s} {ranking.other_what:>32s}")
        for c in ranking.top(args.top):
            print(f"{c:8d} {ranking.score[c]:44.2%} {ranking.other[c]:32.2%}")
    if out is not None:
        before, after = dissect.render(split, cfg, acts), dissect.render(split, cfg, edited)
        _write_npz(out, before=before, after=after, off=np.asarray(off, np.int32),
                   gain=np.asarray(sorted(gains.items()), np.float32).reshape(-1, 2))
        print(f"wrote {len(after)} samples before and after to {out}")
    elif not args.rank:
        raise UserError("give --rank to rank the channels, or --out to write the samples with --off/--gain")
    return 0


def cmd_invert(args, store: RunStore) -> int:
    import numpy as np

    from gandash.explore import inversion
    from gandash.explore.images import png_bytes, to_grid_image
    from gandash.explore.sampling import load_generator
    from gandash.quality.evaluator import load_cached
    from gandash.store.runs import atomic_write_bytes

    run = store.get(args.run)
    cfg = run.config()
    out = _npz_out(args.out)
    _check_digit(run, cfg, args.digit)
    target = inversion.prepare_digit(inversion.read_image(Path(args.image).read_bytes()))
    evaluator = load_cached(cfg.dataset, store.root) if cfg.dataset != "custom" else None
    found = inversion.invert(load_generator(run.generator_path), cfg, target, args.digit, evaluator,
                             steps=args.steps)
    label = {} if found.label is None else {"label" if cfg.is_conditional else "code": np.int32(found.label)}
    _write_npz(out, z=found.z, image=found.image, target=target, distance=np.float32(found.distance), **label)
    pair = np.stack([target, inversion.resized(found.image, len(target))])
    png = out.with_suffix(".png")
    atomic_write_bytes(png, png_bytes(to_grid_image(pair, 2).resize((2 * 28 * 4 + 8, 28 * 4 + 4))))
    what = "" if found.label is None else f", {'digit' if cfg.is_conditional else 'code'} {found.label}"
    print(f"distance {found.distance:.3f} (mean absolute pixel error, 0 to 1){what}, in {found.seconds:.1f} s"
          + ("" if evaluator is not None else " (pixels only: this runs folder has no evaluator yet)"))
    print(f"wrote {out} (z, image, target) and {png} (your digit, then its reconstruction)")
    return 0


def cmd_eval(args, store: RunStore) -> int:
    from gandash.quality import evaluate

    run = store.get(args.run)
    result = evaluate.evaluate_run(run, n=args.n, progress=lambda msg: print(msg, file=sys.stderr), with_cas=args.cas)
    print(evaluate.format_result(result))
    return 0


def cmd_queue(args, store: RunStore) -> int:
    from gandash.store.queue import RunQueue

    queue = RunQueue(store.root)
    if args.slots is not None:
        text = args.slots.strip().lower()
        if text != "default" and not text.isdigit():
            raise UserError(f"--slots expects a whole number from 1 up, or 'default'; got {args.slots!r}")
        queue.set_slots(None if text == "default" else int(text))
    if args.front:
        queue.move_to_front(store.get(args.front).id)
    info = queue.describe()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    origin = "set for this folder" if info["explicit"] else "the default for this machine"
    print(f"{info['slots']} slot(s), {origin}; {info['cpu_cores']} cores, "
          f"{info['threads_per_trainer']} thread(s) per trainer")
    for item in info["training"]:
        print(f"  slot {item['slot']}: {item.get('run', '?'):40s} training (pid {item.get('pid', '?')})")
    for k in info["warm"]:
        print(f"  slot {k}: {'(free)':40s} warm: TensorFlow loaded, takes the next run at once")
    for i, run_id in enumerate(info["waiting"], 1):
        print(f"  #{i}      {run_id:40s} waiting")
    if not info["training"] and not info["waiting"]:
        print("  nothing is training or waiting")
    return 0


def cmd_study(args, store: RunStore) -> int:
    from gandash.studies import compare
    from gandash.studies import study as S

    studies = S.Studies(store)
    if args.study_command == "start":
        plan = studies.plan(args.presets.split(","), args.seeds, args.budget, vary=args.vary, name=args.name,
                            dataset=args.dataset)
        from gandash.quality.evaluator import evaluator_status

        # every run is scored by the same, ready evaluator; the shipped one counts as ready (its first use installs it)
        if evaluator_status(args.dataset, store.root)["state"] != "ready":
            from gandash.quality.evaluate import ensure_evaluator

            ensure_evaluator(args.dataset, store.root, progress=lambda m: print(m, file=sys.stderr))
        plan = studies.start(plan, backend=args.backend)
        budget = S.Budget.parse(plan['budget'])
        print(f"study {plan['id']}: {len(plan['members'])} runs of {budget.describe()} each; "
              f"{budget.describe_evaluations()}", file=sys.stderr)
        print(plan["id"])
        if args.wait:
            return _wait_for_study(studies, plan)
        return 0
    if args.study_command == "list":
        items, damaged = studies.list(), studies.damaged()
        for item in items:
            p = S.progress(studies, item)
            print(f"{item['id']:50s} {p['done']:>3d}/{p['total']:<3d} done  {item.get('budget', '')}")
        for study_id, why in damaged:
            print(f"{study_id:50s} damaged: {why}")
        if not items and not damaged:
            print(f"no studies in {store.root}")
        return 0
    if args.study_command == "stop":
        print(f"stopped {studies.stop(args.study)} run(s)")
        return 0
    if args.study_command == "delete":
        studies.delete(args.study)
        print(f"deleted study {args.study}")
        return 0
    item = studies.get(args.study)
    rows, comparisons = S.analysis(studies, item)
    if args.csv:
        print(S.to_csv(rows), end="")
        return 0
    if args.html:
        from gandash.studies.report import study_html

        Path(args.html).write_text(study_html(studies, item), encoding="utf-8")
        print(f"wrote {args.html}")
        return 0
    if args.json:
        print(json.dumps(S.plain_json({"study": item, "leaderboard": rows, "comparisons": comparisons,
                                        "verdict": S.verdict(rows, comparisons)}), indent=2, default=lambda v: None))
        return 0
    p = S.progress(studies, item)
    print(f"{item['name']} ({item['id']}): {p['done']}/{p['total']} runs done, budget {item['budget']}")
    widths = {key: max([len(title), *(len(S.cell(r, key)) + 1 for r in rows)]) + 2 for key, title, _ in S.COLUMNS}
    print(f"{'variant':24s}{'runs':>6s}{'failed':>8s}" + "".join(f"{t:>{widths[k]}s}" for k, t, _ in S.COLUMNS))
    best = S.best_by_column(rows)
    for r in rows:
        cells = "".join((S.cell(r, k) + ("*" if best.get(k) == r["variant"] else " "))
                        .rjust(widths[k]) for k, _, _ in S.COLUMNS)
        print(f"{r['variant'][:24]:24s}{r['runs']:>6d}{r['failed']:>8d}{cells}")
    print("Mean over seeds ± the half-width of its 95 % interval (min-max over seeds); * marks the best mean.")
    print(S.fairness(studies, item))
    if comparisons:
        print("\nDecisions (each metric's pairs Holm-adjusted to a 5 % family-wise error):")
        for c in comparisons:
            print("  " + compare.describe(c))
    print(S.verdict(rows, comparisons))
    return 0


def _wait_for_study(studies, plan) -> int:
    import time

    from gandash.studies import study as S

    while True:
        p = S.progress(studies, studies.get(plan["id"]))
        frac = p["done"] / max(1, p["total"])
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        print(f"\r[{bar}] {p['done']}/{p['total']} runs", end="", file=sys.stderr, flush=True)
        if p["done"] >= p["total"]:
            print(file=sys.stderr)
            return 0
        time.sleep(1.0)


def cmd_worker(args, store: RunStore) -> int:
    import time

    booted = time.time()  # before TensorFlow: the Monitor shows the imports as their own phase
    from gandash.backends import warm
    from gandash.engine.train import work

    stay = args.slot_fd is not None and warm.enabled()  # a warm slot: it may train the next waiting run too
    try:
        state = work(args.run_dir, lock_fd=args.lock_fd, slot_fd=args.slot_fd, slot=args.slot, since=args.since,
                     booted=booted, keep_slot=stay)
    except ValueError as e:  # a descriptor that is not the run's lock
        raise UserError(str(e)) from None
    if stay and state in ("finished", "stopped", "diverged"):  # after a failure, start the next run afresh
        warm.after_run(args.run_dir, args.slot_fd, args.slot)
    return 0 if state in ("finished", "stopped", "diverged") else 1


COMMANDS = {"train": cmd_train, "runs": cmd_runs, "status": cmd_status, "stop": cmd_stop, "resume": cmd_resume,
            "delete": cmd_delete, "sample": cmd_sample, "invert": cmd_invert, "eval": cmd_eval, "queue": cmd_queue,
            "directions": cmd_directions, "dissect": cmd_dissect, "pause": cmd_pause, "step": cmd_step,
            "continue": cmd_continue, "demo": cmd_demo,
            "study": cmd_study, "worker": cmd_worker}


def run_command(args) -> int:
    """Run one command; every error a user can cause (GandashError, or a file that cannot be used) is
    printed as one line with exit code 2, here and nowhere else."""
    store = RunStore(getattr(args, "runs_dir", None))
    try:
        return COMMANDS[args.command](args, store)
    except GandashError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {f'{e.strerror or e}: {e.filename or chr(32)}'.strip()}", file=sys.stderr)
        return 2

