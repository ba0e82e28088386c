"""The saved user-embedding artifact: a small folder next to a reference to the base model.

``FOLDER/uemb_weights.safetensors`` holds the conditioner (aggregator + projector, and the style
centroids of the control variant); ``FOLDER/uemb_config.json``, written last (so a folder
without it is unfinished), holds the task, the conditioner's architecture, the base model's name
and exact identity (:func:`lamp.generation.models.model_identity`: a hash of every file of the folder), the
encoder's name and identity (:attr:`retrievers.dense.Encoder.identity`), the training settings and
what training saw. Loading against another base model or encoder is refused by identity; a
conditioner whose shapes do not fit the model is refused as a dimension mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamp.core.errors import LampError
from lamp.core.writing import atomic_write, write_json
from lamp.methods.uemb.model import UembSpec, UserConditioner

FORMAT = "lamp-uemb/1"
CONFIG = "uemb_config.json"
WEIGHTS = "uemb_weights.safetensors"
CENTROIDS = "control.centroids"


@dataclass
class Artifact:
    """Everything in an artifact folder (no model loaded)."""

    task: str
    spec: UembSpec
    base_model: str
    base_identity: str
    encoder: str
    encoder_identity: str
    settings: dict[str, Any] = field(default_factory=dict)
    control_values: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    centroids: np.ndarray | None = None
    folder: Path | None = None

    def conditioner(self) -> UserConditioner:
        """A conditioner with the stored weights (a shape that does not fit is a clear error)."""
        module = UserConditioner(self.spec)
        want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        have = {k: tuple(v.shape) for k, v in self.state.items()}
        if want != have:
            diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            raise LampError(f"{self.folder}: dimension mismatch between {WEIGHTS} and {CONFIG} in "
                            f"{', '.join(f'{k} {have.get(k)} vs {want.get(k)}' for k in diff[:3])}")
        module.load_state_dict(self.state)
        module.eval()
        return module

    def check(self, base_identity: str, encoder_identity: str) -> None:
        """Refuse a base model or an encoder other than the ones the artifact was trained with."""
        if base_identity != self.base_identity:
            raise LampError(f"{self.folder}: this user-embedding artifact was made for base model "
                            f"{self.base_model!r} ({self.base_identity}), not {base_identity}; pass the "
                            f"model it was trained with (--base_model)")
        if encoder_identity != self.encoder_identity:
            raise LampError(f"{self.folder}: this user-embedding artifact was made for encoder {self.encoder!r} "
                            f"({self.encoder_identity}), not {encoder_identity}; pass that encoder (--encoder)")

    def size_bytes(self) -> int:
        if self.folder is None:
            return 0
        return sum(p.stat().st_size for p in (self.folder / CONFIG, self.folder / WEIGHTS) if p.exists())


def is_artifact(folder: str | Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def save_artifact(folder: str | Path, art: Artifact, conditioner: UserConditioner) -> Path:
    """Weights first, then the config (the completion marker); each written atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in conditioner.state_dict().items()}
    if art.centroids is not None:
        tensors[CENTROIDS] = torch.from_numpy(np.ascontiguousarray(art.centroids))
    with atomic_write(folder / WEIGHTS, "wb") as fh:
        fh.write(save(tensors, metadata={"format": FORMAT}))
    write_json(folder / CONFIG, {
        "format": FORMAT, "task": art.task, "spec": art.spec.to_json(), "base_model": art.base_model,
        "base_identity": art.base_identity, "encoder": art.encoder, "encoder_identity": art.encoder_identity,
        "settings": art.settings, "control_values": art.control_values, "info": art.info}, indent=1)
    art.folder = folder
    return folder


def read_artifact(folder: str | Path) -> Artifact:
    """Read an artifact folder; a missing or foreign folder is a clear error naming the file."""
    from safetensors.torch import load

    folder = Path(folder)
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise LampError(f"{folder}: not a user-embedding artifact (no {CONFIG}; was training finished?)")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LampError(f"{config_path}: cannot read ({exc})") from None
    if raw.get("format") != FORMAT:
        raise LampError(f"{config_path}: field 'format' is {raw.get('format')!r}, expected {FORMAT!r}")
    try:
        spec = UembSpec(**raw["spec"])
        tensors = load((folder / WEIGHTS).read_bytes())
    except (KeyError, TypeError) as exc:
        raise LampError(f"{config_path}: field 'spec' is not a user-embedding spec ({exc})") from None
    except OSError as exc:
        raise LampError(f"{folder / WEIGHTS}: cannot read ({exc})") from None
    centroids = tensors.pop(CENTROIDS, None)
    return Artifact(task=raw["task"], spec=spec, base_model=raw["base_model"], base_identity=raw["base_identity"],
                    encoder=raw["encoder"], encoder_identity=raw["encoder_identity"],
                    settings=raw.get("settings", {}), control_values=list(raw.get("control_values", [])),
                    info=raw.get("info", {}), state=tensors,
                    centroids=None if centroids is None else centroids.numpy(), folder=folder)
