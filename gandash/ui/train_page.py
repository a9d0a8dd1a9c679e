"""Train: every hyperparameter, grouped, checked by the engine as you type; Start launches a trainer."""
from __future__ import annotations

from typing import Any

import streamlit as st

from gandash import config as C
from gandash.backends import launcher
from gandash.config import CHOICES, FIELD_TYPES, HELP, PRESETS, ConfigError, RunConfig, applies, make_config
from gandash.engine.data import DataError, load_custom, load_for_config
from gandash.store.runs import RunError
from gandash.ui import common, upload
from gandash.ui.nav import go

DEFAULTS = RunConfig()
GROUPS = {
    "Data and model": ("dataset", "image_size", "output_activation", "architecture", "conditional",
                       "latent_code", "code_weight", "label_encoding", "projection", "latent_dim", "latent_dist",
                       "width", "upsampling",
                       "batch_norm", "dropout", "leaky_slope", "spectral_norm"),
    "Optimisation": ("batch_size", "steps", "epochs", "max_seconds", "g_optimizer", "g_lr", "g_beta1",
                     "g_beta2", "g_clipvalue", "d_optimizer", "d_lr", "d_beta1", "d_beta2", "d_clipvalue", "lr_end"),
    "Stabilisation tricks": ("real_label", "label_noise", "label_flip", "d_steps", "update", "gp_weight",
                             "ema", "augment"),
    "Schedule": ("seed", "log_every", "sample_every", "checkpoint_every", "eval_every", "eval_seconds", "probe_every",
                 "eval_samples", "steps_per_execution", "jit_compile", "distribute", "mixed_precision",
                 "bfloat16"),
}
STEPS = {"g_lr": 1e-5, "d_lr": 1e-5, "width": 0.125, "max_seconds": 60.0, "g_clipvalue": 0.1, "code_weight": 0.1,
         "d_clipvalue": 0.1, "gp_weight": 1.0, "augment": 0.1, "lr_end": 0.05,
         "eval_seconds": 10.0}
CUSTOM = "(your own settings)"


@st.cache_resource(show_spinner="Looking for GPUs…")
def machine_devices() -> tuple[str, str]:
    """What TensorFlow sees on this machine, and why a GPU the driver lists is unused."""
    import tensorflow as tf

    from gandash.engine.distribute import cpu_count, describe_devices, gpu_advice, gpu_name, nvidia_gpus, onednn_enabled

    tf_gpus = [gpu_name(g) for g in tf.config.list_physical_devices("GPU")]
    return describe_devices(tf_gpus, cpu_count(), onednn_enabled()), gpu_advice(tf_gpus, nvidia_gpus())


def load_values(values: dict[str, Any]) -> None:
    for name in FIELD_TYPES:
        st.session_state[f"f_{name}"] = values.get(name, getattr(DEFAULTS, name))


def _on_preset() -> None:
    st.session_state.pop("train_note", None)
    preset = st.session_state["train_preset"]
    if preset in PRESETS:
        st.query_params["preset"] = preset
    else:
        st.query_params.pop("preset", None)
    if preset in PRESETS:
        keep = {k: st.session_state[f"f_{k}"] for k in ("name", "dataset", "data_path")
                if f"f_{k}" in st.session_state}
        load_values({**DEFAULTS.to_dict(), **PRESETS[preset], **keep})  # a recipe, on the user's data


def current_values() -> dict[str, Any]:
    """The form's values; fields that do not apply fall back to their neutral default."""
    v = {name: st.session_state.get(f"f_{name}", getattr(DEFAULTS, name)) for name in FIELD_TYPES}
    v["data_path"] = st.session_state.get("f_data_path", "") if v["dataset"] == "custom" else ""
    return {k: (val if k == "data_path" or applies(k, v) else getattr(DEFAULTS, k)) for k, val in v.items()}


def check(values: dict[str, Any]) -> tuple[RunConfig | None, dict[str, str]]:
    """Validate with the engine; collect one message per wrong field (not just the first)."""
    errors: dict[str, str] = {}
    trial = dict(values)
    for name, val in values.items():
        if val is None:
            errors[name] = f"{name}: enter a value"
            trial[name] = getattr(DEFAULTS, name)
    for _ in range(len(FIELD_TYPES)):
        try:
            cfg = make_config(C.DEFAULT_PRESET, trial)
            return (cfg if not errors else None), errors
        except (ConfigError, TypeError) as e:
            field = getattr(e, "field", "")
            if field in errors:  # still wrong with its neutral default: already reported
                return None, errors
            if field not in FIELD_TYPES:
                errors["form"] = str(e)
                return None, errors
            errors[field] = str(e)
            trial[field] = getattr(DEFAULTS, field)
    return None, errors


def render() -> None:
    st.title("Train a GAN")
    if common.presenting():
        st.info("Presentation mode hides the training controls. Switch it off in the sidebar to start a run.")
        return
    devices, advice = machine_devices()
    st.caption(f"Trains on {devices}. Runs wait in the queue for a free slot (see Runs).")
    if advice:
        st.warning(advice, icon=":material/memory:")
    _init_form()
    values = current_values()
    cfg, errors = check(values)
    top = st.columns([2, 2, 3])
    top[0].selectbox("Preset", [*PRESETS, CUSTOM], key="train_preset", on_change=_on_preset,
                     help="Loads a tested recipe into every field below; change anything afterwards.")
    top[1].text_input("Name", key="f_name", help=HELP["name"], persist_state="session")
    _inline_error(errors, "name", top[1])
    if st.session_state.get("train_note") and st.session_state.get("train_preset") == C.UNSUPERVISED_PRESET:
        st.info(st.session_state["train_note"], icon=":material/info:")
    for i, (group, names) in enumerate(GROUPS.items()):
        with st.expander(group, expanded=i == 0 or any(n in errors for n in names)):
            if group == "Optimisation":
                fields_grid([n for n in names if n[:2] not in ("g_", "d_")], values, errors)
                sides(values, errors)
            else:
                fields_grid(list(names), values, errors)
            if group == "Data and model":
                _model_notes(values)
                if _unlabelled_default():  # just uploaded: load the fallback before anything is started
                    st.rerun()
    if "form" in errors:
        st.error(errors["form"])
    start_button(cfg, errors)


def _init_form() -> None:
    source = st.session_state.pop("train_from", None)
    if source:
        try:
            run = common.store().get(source)
            cfg = run.config()
            change = st.session_state.pop("train_change", None)  # (label, {setting: value}) from a health alert
            load_values({**cfg.to_dict(), **(change[1] if change else {})})
            suffix = f" ({change[0].lower()})" if change else " (copy)"
            st.session_state.update(train_preset=CUSTOM, f_name=f"{cfg.name or run.id}{suffix}"[:100],
                                    f_study="")  # a copy is a run of its own, outside the study
            if cfg.dataset == "custom":
                st.session_state.update(upload_ok=True, upload_summary=f"the dataset of run {run.id}",
                                        upload_preview=None)
            if change:
                from gandash.ui.alerts import change_text

                st.info(f"Settings copied from run {run.id}, with one change: {change_text(cfg, change[1])}. "
                        "Check them, then start.", icon=":material/healing:")
            else:
                st.info(f"Settings copied from run {run.id}: change what you like, then start.")
        except RunError as e:
            st.error(f"Cannot copy that run's settings: {e}")
    if "f_architecture" not in st.session_state:  # the preset in the address bar (a bookmark), else the default
        preset = st.query_params.get("preset")
        preset = preset if preset in PRESETS else C.DEFAULT_PRESET
        st.session_state["train_preset"] = preset
        load_values({**DEFAULTS.to_dict(), **PRESETS[preset]})
    if _unlabelled_default():
        st.session_state["train_preset"] = C.UNSUPERVISED_PRESET
        _on_preset()
        st.session_state["train_note"] = f"Note: {C.UNLABELLED_NOTE}."


def _unlabelled_default() -> bool:
    """Whether the default (conditional) preset is loaded on an uploaded dataset without labels."""
    s = st.session_state
    if s.get("train_preset") != C.DEFAULT_PRESET or s.get("f_dataset") != "custom" or not s.get("upload_ok"):
        return False
    if s.get("f_architecture") not in C.CONDITIONAL_ONLY or not s.get("f_data_path"):
        return False
    return not _has_labels(s["f_data_path"], int(s.get("f_image_size") or 28))


@st.cache_data(max_entries=8, show_spinner=False)
def _has_labels(path: str, size: int) -> bool:
    try:
        return load_custom(path, size).labels is not None
    except (DataError, OSError):
        return True  # the upload's own check reports what is wrong with it


def fields_grid(names: list[str], values: dict[str, Any], errors: dict[str, str]) -> None:
    shown = [n for n in names if applies(n, values)]
    cols = st.columns(3)
    for i, name in enumerate(shown):
        with cols[i % 3]:
            field_widget(name)
            _inline_error(errors, name, st)
            if name == "dataset" and values["dataset"] == "custom":
                if not upload.dataset_uploader(values["image_size"]) and not st.session_state.get("upload_error"):
                    _inline_error(errors, "data_path", st)


def sides(values: dict[str, Any], errors: dict[str, str]) -> None:
    """Generator and discriminator optimisers side by side."""
    for col, (side, title) in zip(st.columns(2, border=True), (("g", "Generator"), ("d", "Discriminator"))):
        with col:
            st.markdown(f"**{title}**")
            for name in GROUPS["Optimisation"]:
                if name.startswith(f"{side}_") and applies(name, values):
                    field_widget(name)
                    _inline_error(errors, name, st)


def _inline_error(errors: dict[str, str], name: str, where) -> None:
    if name in errors:
        where.error(errors[name], icon=":material/error:")


def field_widget(name: str) -> None:
    key, help_text, want = f"f_{name}", HELP.get(name), FIELD_TYPES[name]
    kw = dict(key=key, help=help_text, persist_state="session")
    if name in CHOICES:
        st.selectbox(name, CHOICES[name], **kw)
    elif want is bool:
        st.toggle(name, **kw)
    elif want is int:
        st.number_input(name, step=1, **kw)
    elif want is float:
        st.number_input(name, step=STEPS.get(name, 0.01), format="%g", **kw)
    else:
        st.text_input(name, **kw)


def _model_notes(values: dict[str, Any]) -> None:
    arch = values["architecture"]
    if arch in C.CONDITIONAL_ONLY:
        st.caption(f"{arch} is always conditional: it learns one generator for all ten classes.")
    if values["dataset"] != "custom" and values["dataset"] == "fashion_mnist":
        st.caption("Fashion-MNIST: ten clothing classes instead of digits.")


def start_button(cfg: RunConfig | None, errors: dict[str, str]) -> None:
    st.divider()
    c1, c2 = st.columns([1, 3], vertical_alignment="center")
    clicked = c1.button("Start training", type="primary", icon=":material/play_arrow:",
                        disabled=cfg is None, key="start_training")
    if cfg is None:
        c2.warning(f"Fix {len(errors)} setting(s) marked above to start.")
        return
    c2.caption(f"{cfg.architecture} on {cfg.dataset}, {cfg.steps or cfg.epochs} "
               f"{'steps' if cfg.steps else 'epochs'}, batch {cfg.batch_size}: runs as its own process; "
               "several runs can train at once.")
    backend = common.backend_choice("train_backend")
    if clicked:
        launch(cfg, backend)


def launch(cfg: RunConfig, backend: str = "local") -> None:
    try:
        if cfg.dataset == "custom":
            with st.spinner("Checking the dataset…"):
                load_for_config(cfg)
        run = launcher.start(common.store(), cfg, backend=backend)
    except (DataError, RunError, ConfigError) as e:
        st.error(f"Cannot start: {e}")
        return
    except OSError as e:
        st.error(f"Cannot start: could not write the run directory ({e.strerror or e}).")
        return
    go("monitor", run.id)

