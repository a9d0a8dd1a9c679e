"""Dataset uploads: saved only inside ``<runs root>/_uploads/`` under random names, then validated.

Uploads that no run uses are removed an hour after they were made (``RunStore.remove_unused_uploads``).
"""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import numpy as np
import streamlit as st

from gandash.engine.data import MAX_CUSTOM_IMAGES, DataError, load_custom
from gandash.explore.images import to_grid_image
from gandash.ui import common

MAX_UPLOAD_MB = 200  # also server.maxUploadSize in .streamlit/config.toml
IMAGE_TYPES = ("png", "jpg", "jpeg")


def uploads_dir() -> Path:
    return common.store().uploads_dir


def _save(files) -> Path:
    """Write the uploaded bytes under a fresh random name; browser file names are never used."""
    suffixes = [Path(f.name).suffix.lower().lstrip(".") for f in files]
    if any(s not in IMAGE_TYPES + ("npz",) for s in suffixes):
        raise DataError("only .npz files or PNG/JPEG images can be uploaded")
    if "npz" in suffixes and len(files) > 1:
        raise DataError("upload either one .npz file or a set of PNG/JPEG images, not both or several .npz")
    root = uploads_dir()
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(8)
    if suffixes == ["npz"]:
        path = root / f"{token}.npz"
        path.write_bytes(files[0].getbuffer())
        return path
    folder = root / token
    folder.mkdir()
    for i, (f, suffix) in enumerate(zip(files, suffixes)):
        (folder / f"{i:06d}.{suffix}").write_bytes(f.getbuffer())
    return folder


def _remove(path: Path) -> None:
    root = uploads_dir()
    if path.resolve().parent != root:  # only ever delete what this module wrote
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def dataset_uploader(image_size: int) -> str:
    """Upload widget; returns the saved, validated dataset path ('' until there is one)."""
    files = st.file_uploader(
        "Your dataset: one .npz with an `images` array (+ optional `labels` 0–9), or PNG/JPEG images",
        type=["npz", *IMAGE_TYPES], accept_multiple_files=True, max_upload_size=MAX_UPLOAD_MB,
        key="upload_files", help=f"At most {MAX_UPLOAD_MB} MB in all. Images are converted to grayscale.",
    )
    if not files:
        if st.session_state.get("upload_ok") and st.session_state.get("f_data_path"):
            st.caption("Using the dataset uploaded earlier in this session.")
            _preview()
            return st.session_state["f_data_path"]
        return ""
    signature = tuple((f.file_id, f.size) for f in files)
    if st.session_state.get("upload_sig") != signature or not (
            st.session_state.get("upload_ok") or st.session_state.get("upload_error")):
        st.session_state.update(upload_sig=signature, upload_ok=False, upload_error="", f_data_path="")
        error = size_error(files)  # before a byte is written to disk
        if error:
            st.session_state["upload_error"] = error
        else:
            _store_and_check(files, image_size)
    if not st.session_state.get("upload_ok"):
        why = st.session_state.get("upload_error") or "it could not be read"
        st.error(f"This dataset cannot be used: {common.plain(why)}")  # it names the user's files
        return ""
    _preview()
    return st.session_state["f_data_path"]


def size_error(files) -> str:
    """Why a set of uploaded files is too much to store ('' when it is not)."""
    total = sum(f.size for f in files)
    if total > MAX_UPLOAD_MB * 2**20:
        return f"the upload is {total / 2**20:.0f} MB in all; at most {MAX_UPLOAD_MB} MB"
    if len(files) > MAX_CUSTOM_IMAGES:
        return f"{len(files):,} files; at most {MAX_CUSTOM_IMAGES:,} images"
    return ""


def _store_and_check(files, image_size: int) -> None:
    path = None
    try:
        with st.spinner("Checking the dataset…"):
            path = _save(files)
            ds = load_custom(path, image_size)
    except Exception as e:  # noqa: BLE001 - whatever a file does, the page says so and keeps nothing
        text = str(e) if isinstance(e, (DataError, OSError)) else f"it could not be read ({type(e).__name__})"
        st.session_state["upload_error"] = _user_words(text, path, files)
        if path is not None:
            _remove(path)
        return
    common.store().remove_unused_uploads(keep=[path])
    labels = "with labels 0–9" if ds.labels is not None else "without labels (unconditional models only)"
    pick = np.linspace(0, len(ds) - 1, min(16, len(ds))).astype(int)
    st.session_state.update(upload_ok=True, f_data_path=str(path),
                            upload_summary=f"{len(ds):,} images {labels}.",
                            upload_preview=to_grid_image(ds.images[pick], 8))


def _user_words(message: str, path: Path | None, files) -> str:
    """An error about a saved upload, phrased with the names the user uploaded."""
    message = message.replace(str(uploads_dir()), "upload")
    if path is None:
        return message
    if path.is_dir():
        for i, f in enumerate(files):
            message = message.replace(f"{i:06d}{Path(f.name).suffix.lower()}", Path(f.name).name)
        return message.replace(str(path), "the uploaded images")
    return message.replace(path.name, Path(files[0].name).name)


def _preview() -> None:
    st.success(st.session_state.get("upload_summary", "Dataset ready."))
    common.show_image(st.session_state.get("upload_preview"), caption="a few of your images")
