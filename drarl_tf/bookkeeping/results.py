"""Where a command's result about a model goes, and whose result a file is.

`evaluate.py`, `play.py`, `visualize.py` and `faithfulness.py` each write a result about
one model (or a few side by side). By default it goes into the model's own run
directory: the directory the SavedModel sits in (`runs/<run>/saved_model`), or the run
directory its metadata records, if that directory exists and holds this SavedModel. A
model outside any run (the shipped demo, a copied export) writes into the current
directory under a name derived from the model's directory (`eval-<model>.json`), never
into another run's directory.

Every result records its models (`models`: absolute path and a fingerprint of the
weights); an existing result that records other models (another place and other
weights) is never replaced: one line, exit 2. The same model re-exported in place
(a run trained longer) may replace its own result. Everything here is TensorFlow-free,
so that these checks run before TensorFlow loads.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from drarl_tf.errors import DrarlError

METADATA_FILE = "drarl_metadata.json"  # a drarl_tf SavedModel's assets/ file (export.py)
MANIFEST = "drarl_models.json"  # the record of a result directory's models


def fingerprint(files) -> str:
    """`sha256:<hex>` over the files' names and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(Path(f) for f in files):
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()[:32]}"


def _weight_files(path: Path) -> list[Path]:
    """The weights of a SavedModel (`variables/`), a checkpoint prefix (`.index`,
    `.data-*`) or a run directory (its milestone and latest checkpoints)."""
    if (path / "saved_model.pb").is_file():
        return [p for p in (path / "variables").glob("*") if p.is_file()]
    if path.is_dir():
        return [p for p in (*path.glob("milestones/ckpt-*"), *path.glob("checkpoints/ckpt-*"))
                if p.is_file()]
    return [p for p in path.parent.glob(f"{path.name}.*") if p.is_file()]


def model_record(path) -> dict:
    """`{"path": absolute path, "fingerprint": sha256 of its weights}` of a SavedModel,
    checkpoint prefix or run directory."""
    path = Path(path).resolve()
    return {"path": str(path), "fingerprint": fingerprint(_weight_files(path))}


def read_metadata(saved_model) -> dict:
    """A drarl_tf SavedModel's metadata (game, net, run, run_dir...), read without
    TensorFlow; {} if the asset is missing or unreadable."""
    try:
        data = json.loads((Path(saved_model) / "assets" / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _inside(path: Path, directory: Path) -> bool:
    return directory == path or directory in path.parents


def owning_run(saved_model, metadata: dict | None = None) -> Path | None:
    """The run directory a SavedModel belongs to, or None: the directory it sits in if
    that is a run directory (holds config.json), else the run directory its metadata
    records if that exists and holds this SavedModel (inside it, or the same weights as
    its `saved_model/`)."""
    path = Path(saved_model).resolve()
    if (path.parent / "config.json").is_file():
        return path.parent
    run_dir = (metadata if metadata is not None else read_metadata(path)).get("run_dir")
    if not run_dir or not Path(run_dir).is_dir():
        return None
    run = Path(run_dir).resolve()
    return run if _inside(path, run) or is_runs_own(run, path) else None


def is_runs_own(run: Path, saved_model) -> bool:
    """Whether `saved_model` is `run`'s own export (its `saved_model/`, or the same weights)."""
    path, own = Path(saved_model).resolve(), run / "saved_model"
    return path == own or ((own / "saved_model.pb").is_file()
                           and model_record(own)["fingerprint"]
                           == model_record(path)["fingerprint"])


def model_label(path) -> str:
    """A file-name-safe name for a model's directory (`saved_model` is named by its parent)."""
    path = Path(path).resolve()
    name = path.name if path.name != "saved_model" else f"{path.parent.name}-saved_model"
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


def default_output(saved_model, filename: str) -> tuple[Path, str]:
    """(where a one-model result named `filename` goes, why): `<run>/<filename>` for a
    run's own model (its `saved_model/`, or the same weights), `<run>/<stem>-<model>
    <suffix>` for another model inside a run (an older checkpoint's export: the run's
    own `eval.json` is the score tables.py reads), else `./<stem>-<model><suffix>`."""
    run = owning_run(saved_model)
    stem, dot, suffix = filename.partition(".")
    name = f"{stem}-{model_label(saved_model)}{dot}{suffix}"
    if run is None:
        return Path(name), "in the current directory: the model is in no run directory"
    if is_runs_own(run, saved_model):
        return run / filename, f"in the model's run directory {run}"
    return run / name, f"in the run directory {run}, named for this model (not the run's own)"


def same_models(recorded: list[dict], current: list[dict]) -> bool:
    """Whether a result recorded for `recorded` is one for `current`: the same places
    (a model re-exported in place) or the same weights (a copy)."""
    return (sorted(r.get("path") for r in recorded) == sorted(c["path"] for c in current)
            or sorted(r.get("fingerprint") for r in recorded)
            == sorted(c["fingerprint"] for c in current))


def check_not_another_models(output, recorded: list[dict] | None, current: list[dict]) -> None:
    """Refuses to replace `output` when it records other models than `current` (a result
    without a record, from an older drarl_tf, may be replaced)."""
    if recorded and not same_models(recorded, current):
        others = ", ".join(r.get("path", "?") for r in recorded)
        raise DrarlError(f"{output} holds the result of another model ({others}); refusing "
                         "to replace it: choose another output or delete it")


def recorded_models(data) -> list[dict] | None:
    """The `models` record of a result's JSON (None if it has none)."""
    models = data.get("models") if isinstance(data, dict) else None
    if isinstance(models, list) and all(isinstance(m, dict) for m in models):
        return models
    return None


def read_json_record(path) -> list[dict] | None:
    try:
        return recorded_models(json.loads(Path(path).read_text()))
    except (OSError, ValueError):
        return None


def claim_result_dir(directory, current: list[dict]) -> Path:
    """Checks that `directory` holds no other models' result and records `current` in
    its manifest (written before the result, so that an interrupted write is still
    known as this model's)."""
    directory = Path(directory)
    check_not_another_models(directory, read_json_record(directory / MANIFEST), current)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MANIFEST).write_text(json.dumps({"models": current}, indent=2) + "\n")
    return directory
