"""Save and load models as safetensors plus a JSON config, never pickle.

A checkpoint named NAME is two files in `checkpoints/`:
- NAME.safetensors: the weights (half precision where quality holds);
- NAME.json: which class to build, the frozen config dataclass it was built from, and
  metadata (metrics, training recipe, extra numbers such as a latent scaling factor).
`checkpoints/manifest.json` holds the sha256 of every shipped file; `load_pretrained`
refuses a file whose hash differs. A checkpoint trained on others (ldm-digits on vae-digits
and clip-digits) records their weights' sha256 in its metadata ("depends_on"), and loading
refuses it when one of them has changed since. `python -m course_lib.pretrain NAME` rebuilds
one. In the repository the files live in checkpoints/; an installed wheel carries them as
package data (course_lib/_shipped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import tempfile
import typing
import warnings
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from course_lib import checks

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"  # in the repository
PACKAGE_DATA = "_shipped"  # the same files inside an installed wheel: course_lib/_shipped
MANIFEST = "manifest.json"


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint was loaded with no manifest entry to check its sha256 against."""


def checkpoint_dir() -> Path:
    """Where shipped checkpoints live: COURSE_CHECKPOINTS if set, else the repository's
    checkpoints/, else the copy an installed wheel carries."""
    if os.environ.get("COURSE_CHECKPOINTS"):
        return Path(os.environ["COURSE_CHECKPOINTS"])
    packaged = Path(str(resources.files("course_lib") / PACKAGE_DATA))
    if not (CHECKPOINT_DIR / MANIFEST).exists() and (packaged / MANIFEST).exists():
        return packaged
    return CHECKPOINT_DIR


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _qualified_name(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _describe(model: nn.Module, half: bool, metadata: dict | None) -> tuple[dict, str]:
    """A model -> (its state dict on the CPU, fp16 if `half`; the JSON text beside it)."""
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(
            f"{type(model).__name__} has no dataclass `.config`; checkpoints rebuild models "
            "from their config, so build the model from a frozen config dataclass"
        )
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        state[key] = value.half() if half and value.is_floating_point() else value
    description = {
        "model": _qualified_name(type(model)),
        "config_class": _qualified_name(type(config)),
        "config": dataclasses.asdict(config),
        "dtype": "float16" if half else "float32",
        "metadata": metadata or {},
    }
    return state, json.dumps(description, indent=2, sort_keys=True) + "\n"


def save(
    model: nn.Module,
    path: str | Path,
    *,
    half: bool = False,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write `path`.safetensors and `path`.json for a model that has a `.config` dataclass."""
    stem = Path(path).with_suffix("")
    weights_path, config_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    state, text = _describe(model, half, metadata)
    _atomic_write(weights_path, lambda p: save_file(state, str(p)))
    _atomic_write(config_path, lambda p: p.write_text(text))
    return weights_path, config_path


def publish(
    model: nn.Module,
    name: str,
    directory: Path,
    *,
    half: bool = False,
    metadata: dict | None = None,
    **info,
) -> dict:
    """Save NAME's weights and JSON in `directory` and record their sha256 in its manifest, as
    one unit: all three are written in full to temporary files first, then renamed in place
    one after another, so a failure while training or writing leaves the old checkpoint
    loadable. Returns the manifest entry."""
    directory.mkdir(parents=True, exist_ok=True)
    state, text = _describe(model, half, metadata)
    manifest = read_manifest(directory)
    staged = {}
    try:
        for ext, write in (
            (".safetensors", lambda p: save_file(state, str(p))),
            (".json", lambda p: p.write_text(text)),
        ):
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}{ext}.", suffix=".tmp")
            os.close(fd)
            staged[f"{name}{ext}"] = Path(tmp)
            write(Path(tmp))
        manifest[name] = {"files": {f: sha256(p) for f, p in staged.items()}, **info}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{MANIFEST}.", suffix=".tmp")
        os.close(fd)
        staged[MANIFEST] = Path(tmp)
        Path(tmp).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for filename, tmp_path in staged.items():
            os.chmod(tmp_path, 0o644)
            os.replace(tmp_path, directory / filename)
    finally:
        for tmp_path in staged.values():
            tmp_path.unlink(missing_ok=True)
    return manifest[name]


def _import(qualified: str):
    module_name, _, attr = qualified.rpartition(".")
    if not module_name.startswith("course_lib."):
        raise ValueError(
            f"refusing to build {qualified!r}: checkpoints may only name course_lib classes"
        )
    return getattr(importlib.import_module(module_name), attr)


def _build_config(config_class, values: dict):
    """Rebuild a frozen config dataclass from JSON, turning lists back into tuples."""
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for f in dataclasses.fields(config_class):
        if f.name not in values:
            continue
        value = values[f.name]
        if isinstance(value, list) and "tuple" in str(hints.get(f.name, "")):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    return config_class(**kwargs)


def read_description(path: str | Path) -> dict:
    """The JSON beside a checkpoint: model class, config, dtype and metadata."""
    return json.loads(Path(path).with_suffix(".json").read_text())


def load(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model from `path`.json, fill it from `path`.safetensors; eval mode, fp32.

    The files are checked against a manifest.json beside them when it lists them; otherwise
    the load goes ahead with an `UnverifiedCheckpointWarning` (nothing vouches for them).
    """
    if not isinstance(path, str | Path):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    stem = Path(path).with_suffix("")
    missing = [
        p.name
        for p in (stem.with_suffix(".json"), stem.with_suffix(".safetensors"))
        if not p.is_file()
    ]
    if missing:
        raise ValueError(
            f"no checkpoint at {stem}: {' and '.join(missing)} not found in {stem.parent}; pass "
            "the path of a saved checkpoint without its suffix, or a shipped name to "
            "load_pretrained(name)"
        )
    if stem.name in read_manifest(stem.parent, strict=False):
        return _build(verify(stem.name, stem.parent), device)
    warnings.warn(
        f"loading {stem} without a sha256 check: no manifest.json beside it lists "
        f"{stem.name!r} (shipped checkpoints load checked with load_pretrained(name))",
        UnverifiedCheckpointWarning,
        stacklevel=2,
    )
    return _build(stem, device)


def _build(stem: Path, device) -> nn.Module:
    checks.device(device)
    description = read_description(stem)
    config = _build_config(_import(description["config_class"]), description["config"])
    model = _import(description["model"])(config)
    state = load_file(str(stem.with_suffix(".safetensors")))
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    model.load_state_dict(state)
    return model.to(device).eval()


def read_manifest(directory: Path | None = None, strict: bool = False) -> dict:
    """The manifest in `directory` (default: `checkpoint_dir()`): name -> files and sha256.

    strict: a missing folder or manifest raises a ValueError naming where it looked (else {}).
    A manifest that is not valid JSON always raises, naming the file."""
    directory = directory or checkpoint_dir()
    path = directory / MANIFEST
    if not path.exists():
        if not strict:
            return {}
        where = "" if not os.environ.get("COURSE_CHECKPOINTS") else " (from COURSE_CHECKPOINTS)"
        problem = "has no manifest.json" if directory.is_dir() else "does not exist"
        raise ValueError(
            f"the checkpoint folder {directory}{where} {problem}; point COURSE_CHECKPOINTS at "
            "the course's checkpoints/ folder, or unset it to use the shipped one"
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}); restore it from git "
            "(git checkout -- checkpoints/manifest.json) or rebuild with course_lib.pretrain"
        ) from None


def write_manifest_entry(name: str, directory: Path | None = None, **info) -> dict:
    """Record the sha256 of NAME's two files (and any info, e.g. metrics) in the manifest."""
    directory = directory or checkpoint_dir()
    manifest = read_manifest(directory)
    files = {
        f"{name}{ext}": sha256(directory / f"{name}{ext}") for ext in (".safetensors", ".json")
    }
    manifest[name] = {"files": files, **info}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _atomic_write(directory / MANIFEST, lambda p: p.write_text(text))
    return manifest[name]


def verify(name: str, directory: Path | None = None) -> Path:
    """Check NAME's files against the manifest; return the checkpoint stem or raise ValueError."""
    directory = directory or checkpoint_dir()
    manifest = read_manifest(directory, strict=True)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet"
        raise ValueError(f"unknown checkpoint {name!r}; checkpoints in {directory}: {known}")
    for filename, expected in manifest[name]["files"].items():
        path = directory / filename
        if not path.exists():
            raise ValueError(
                f"checkpoint file {path} is missing; restore it from git or rebuild it with "
                f"`python -m course_lib.pretrain {name}`"
            )
        actual = sha256(path)
        if actual != expected:
            raise ValueError(
                f"checkpoint file {path} has sha256 {actual[:12]}..., but the manifest expects "
                f"{expected[:12]}...; the file is damaged or was changed. Restore it from git "
                f"or rebuild it with `python -m course_lib.pretrain {name}`"
            )
    _check_dependencies(name, directory, manifest)
    return directory / name


def weights_sha256(name: str, directory: Path | None = None) -> str:
    """The sha256 of NAME's weights as the manifest records them: what a checkpoint trained
    on NAME pins in its "depends_on"."""
    manifest = read_manifest(directory or checkpoint_dir(), strict=True)
    if name not in manifest:
        raise ValueError(f"no checkpoint {name!r} to depend on; known: {', '.join(manifest)}")
    return manifest[name]["files"][f"{name}.safetensors"]


def _check_dependencies(name: str, directory: Path, manifest: dict) -> None:
    """Refuse NAME when a checkpoint it was trained on has changed since (its sha256 differs)."""
    depends_on = read_description(directory / name)["metadata"].get("depends_on", {})
    for dependency, expected in depends_on.items():
        actual = manifest.get(dependency, {}).get("files", {}).get(f"{dependency}.safetensors")
        if actual != expected:
            now = f"sha256 {actual[:12]}..." if actual else "is missing"
            raise ValueError(
                f"{name} was trained on {dependency} with sha256 {expected[:12]}..., but the "
                f"{dependency} in {directory} {now}: it was rebuilt or replaced after {name}. "
                f"Restore {dependency} from git, or rebuild in order: `python -m "
                f"course_lib.pretrain {dependency} --force`, then `python -m "
                f"course_lib.pretrain {name} --force`"
            )


def load_pretrained(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A shipped model by name ("vit-digits", ...), sha256-checked, in eval mode."""
    if not isinstance(name, str):
        raise TypeError(f"checkpoint name must be a string such as 'vit-digits', got {name!r}")
    return _build(verify(name), device)


def metadata(name: str) -> dict:
    """The metadata saved with shipped checkpoint NAME (metrics, recipe, extra numbers)."""
    return read_description(verify(name))["metadata"]


def write_table(
    name: str, filename: str, table: dict, directory: Path | None = None, compact: bool = False
) -> Path:
    """Save a small JSON table of measurements beside checkpoint NAME (e.g. a benchmark's
    comparison that a notebook shows in fast mode) and record its sha256 in NAME's manifest
    entry under "tables". compact: one line, no indent (a table holding sample pixels)."""
    directory = directory or checkpoint_dir()
    path = directory / filename
    text = json.dumps(table, indent=None if compact else 2, sort_keys=True) + "\n"
    _atomic_write(path, lambda p: p.write_text(text))
    manifest = read_manifest(directory, strict=True)
    manifest[name].setdefault("tables", {})[filename] = sha256(path)
    manifest_text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    _atomic_write(directory / MANIFEST, lambda p: p.write_text(manifest_text))
    return path


def read_table(name: str, filename: str, directory: Path | None = None) -> dict:
    """A table `write_table` stored beside NAME, refused if its sha256 differs from the manifest."""
    directory = directory or checkpoint_dir()
    expected = read_manifest(directory, strict=True).get(name, {}).get("tables", {}).get(filename)
    path = directory / filename
    if expected is None or not path.exists():
        raise ValueError(
            f"no table {filename} recorded for {name}; regenerate it with "
            f"`python -m course_lib.bench {name}`"
        )
    if sha256(path) != expected:
        raise ValueError(f"{path} differs from the sha256 in the manifest; restore it from git")
    return json.loads(path.read_text())
