"""Save and load models as safetensors plus a JSON config, never pickle.

A checkpoint named NAME is two files in `checkpoints/`:
- NAME.safetensors: the weights (half precision where quality holds);
- NAME.json: which class to build, the frozen config dataclass it was built from, and
  metadata (metrics, training recipe, extra numbers such as a latent scaling factor).
`checkpoints/manifest.json` holds the sha256 of every shipped file; `load_pretrained`
refuses a file whose hash differs. `python -m course_lib.pretrain NAME` rebuilds one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import tempfile
import typing
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
MANIFEST = "manifest.json"


def checkpoint_dir() -> Path:
    """Where shipped checkpoints live: COURSE_CHECKPOINTS if set, else the repo's checkpoints/."""
    return Path(os.environ.get("COURSE_CHECKPOINTS", CHECKPOINT_DIR))


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


def save(
    model: nn.Module,
    path: str | Path,
    *,
    half: bool = False,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write `path`.safetensors and `path`.json for a model that has a `.config` dataclass."""
    config = getattr(model, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(
            f"{type(model).__name__} has no dataclass `.config`; checkpoints rebuild models "
            "from their config, so build the model from a frozen config dataclass"
        )
    stem = Path(path).with_suffix("")
    weights_path, config_path = (
        stem.with_suffix(".safetensors"),
        stem.with_suffix(".json"),
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
    _atomic_write(weights_path, lambda p: save_file(state, str(p)))
    text = json.dumps(description, indent=2, sort_keys=True) + "\n"
    _atomic_write(config_path, lambda p: p.write_text(text))
    return weights_path, config_path


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
    """Rebuild the model from `path`.json, fill it from `path`.safetensors; eval mode, fp32."""
    stem = Path(path).with_suffix("")
    description = read_description(stem)
    config = _build_config(_import(description["config_class"]), description["config"])
    model = _import(description["model"])(config)
    state = load_file(str(stem.with_suffix(".safetensors")))
    reference = model.state_dict()
    state = {k: v.to(reference[k].dtype) if k in reference else v for k, v in state.items()}
    model.load_state_dict(state)
    return model.to(device).eval()


def read_manifest(directory: Path | None = None) -> dict:
    path = (directory or checkpoint_dir()) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


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
    manifest = read_manifest(directory)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none yet"
        raise ValueError(f"unknown checkpoint {name!r}; shipped checkpoints: {known}")
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
    return directory / name


def load_pretrained(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A shipped model by name ("vit-digits", ...), sha256-checked, in eval mode."""
    if not isinstance(name, str):
        raise TypeError(f"checkpoint name must be a string such as 'vit-digits', got {name!r}")
    return load(verify(name), device=device)


def metadata(name: str) -> dict:
    """The metadata saved with shipped checkpoint NAME (metrics, recipe, extra numbers)."""
    return read_description(verify(name))["metadata"]
