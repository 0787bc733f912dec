"""Run configuration: one frozen, JSON-able record per trained model.

A :class:`RunConfig` fully describes an experiment (data, model, loss, optimiser,
schedule, seed). :meth:`RunConfig.hash` is a short stable hash of its canonical
JSON and names the run's folder in the run store (``runs/<hash>/``), so the same
settings always map to the same trained model.

Fields that do not change the result are left out of the hash (:data:`COSMETIC`):
``profile`` (the name of the preset the config came from), ``progress`` (progress
bars), ``device`` (where it runs: a model trained on a GPU is reused on a CPU),
``lif_backend`` (the code that runs the LIF scans, :data:`avsnn.core.kernels.BACKENDS`) and
``channels_last`` (a memory layout for the convolutions); the last two compute the same
function up to float rounding. ``channels_last=None`` (auto) uses it on CUDA only: on CPU an
explicit ``True`` is an opt-in, checked first by :func:`avsnn.device.use_channels_last`, because
a channels-last 1x1 strided convolution backward hangs in some torch/oneDNN builds on AVX2-only CPUs.

A folder ``dataset`` (and ``data_root``) is stored as an absolute path, so ``emb``, ``emb/``, ``./emb``
and ``/abs/emb`` name the same run; the dataset names stay as given, an alias becomes the name it stands
for (``"embedded"``: ``"synthetic"``, :data:`avsnn.data.datasets.DATASET_ALIASES`). The run store
names a run's folder by a *run key* that adds fingerprints of the data and the code to this hash
(:func:`avsnn.train.store.run_key`).

Recipe fields added after the first runs were stored (:data:`RECIPE_OFF`: input normalisation,
zero-initialised residual branches, a validation split with best-checkpoint selection and early
stopping, warm-up and cosine schedules, the ANN twin, a read-time image side) are left out of the canonical JSON while
they hold their "off" value, so every config that does not use them keeps its old hash.

``modality="fusion"`` configs carry the complete configs of the unimodal runs whose
frozen features they consume (``vision_config`` / ``audio_config``, canonical dicts),
so a fusion hash changes whenever a feature extractor's settings change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from avsnn.console import did_you_mean
from avsnn.core.kernels import BACKENDS as LIF_BACKENDS
from avsnn.core.loss import LOSSES
from avsnn.core.spike_pool import POOL_GRADS
from avsnn.core.surrogate import KINDS as SURROGATES
from avsnn.data.audio import AudioConfig
from avsnn.data.augment import TIME_SHIFT_MAX
from avsnn.data.datasets import NAMED_DATASETS, dataset_name
from avsnn.device import DEVICES
from avsnn.models.audio import AUDIO_VARIANTS, SPECTROGRAM_NORMS
from avsnn.models.heads import HEADS
from avsnn.models.resnet import IMAGE_NORMS, VISION_BLOCKS

from .modalities import MODALITIES

# Allowed values of the fields the core, model, data and device layers implement are imported from
# there (HEADS, SURROGATES, LIF_BACKENDS, DEVICES, the variants); the other training-level ones are defined here.
OPTIMIZERS = ("adam", "adamw", "sgd")
FUSION_INPUTS = ("both", "vision", "audio")
#: what ``variant`` selects, per modality: the residual block of L2ActSpikeNet (``block=``, the paper's
#: network and the Table III block ablations), the audio network with one part ablated (``variant=`` of
#: SpikingAudioNet), and for fusion the one network there is (the SMLP)
VARIANTS = {"vision": VISION_BLOCKS, "audio": AUDIO_VARIANTS, "fusion": ("smlp",)}
#: ``variant="auto"``: the first of each list, the paper's network (the constructors' default)
DEFAULT_VARIANT = {modality: variants[0] for modality, variants in VARIANTS.items()}
COSMETIC = ("profile", "progress", "device", "channels_last", "lif_backend")
SCHEDULES = ("step", "cosine")
NEURONS = ("lif", "relu")
#: other tools' names for some fields: the hint of an unknown key (:func:`check_key`)
KEY_ALIASES = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "T": "timesteps",
    "time_steps": "timesteps",
    "num_steps": "timesteps",
    "batch": "batch_size",
    "bs": "batch_size",
    "wd": "weight_decay",
    "data": "dataset",
}
#: the fields only some modalities read (a run of another one ignores them); every other field is read by all
READ_BY = {
    "width": ("vision",),
    "zero_init_residual": ("vision",),
    "image_size": ("vision",),
    "image_norm": ("vision",),
    "spectrogram_norm": ("audio",),
    "head_threshold": ("audio",),
    "pool_grad": ("audio",),
    "input_norm": ("vision", "audio"),
    "audio_channels": ("audio",),
    "dropout": ("audio",),
    "time_shift": ("audio",),
    **{f.name: ("audio",) for f in dataclasses.fields(AudioConfig)},
    **{k: ("fusion",) for k in ("fusion_inputs", "hidden", "project_dim", "vision_config", "audio_config")},
}
#: recipe fields and their "off" values: dropped from :meth:`RunConfig.canonical` while off (old hashes hold)
RECIPE_OFF = {
    "input_norm": False,
    "zero_init_residual": False,
    "image_norm": "dataset",
    "spectrogram_norm": "dataset",
    "head_threshold": None,
    "pool_grad": "max",
    "loss": "count",
    "image_size": None,
    "neuron": "lif",
    "val_frac": 0.0,
    "patience": None,
    "warmup_epochs": 0,
    "schedule": "step",
    "min_steps": None,
    "rising_extension": None,
    "time_shift": 0.0,
    "learn_beta": False,
    "learn_threshold": False,
}


def normalise_data_path(path: Optional[str]) -> Optional[str]:
    """The absolute form of a dataset folder path; an alias its dataset's name; ``None``, ``""`` and names unchanged."""
    path = dataset_name(path)
    if path is None or path in NAMED_DATASETS or not str(path).strip():
        return path
    return str(Path(os.path.expanduser(str(path))).resolve())


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run (see the module docstring)."""

    modality: str = "vision"
    # data
    dataset: str = "synthetic"  # a dataset name (NAMED_DATASETS) or a folder holding a release
    data_root: Optional[str] = None  # passed to build_datasets(root=...)
    per_class: Optional[int] = None  # samples per class to keep (None: all)
    train_frac: float = 0.7
    split_seed: int = 0  # train/test split seed (shared by fusion and its inputs)
    # model
    # the network of the modality, VARIANTS: vision, the residual block (VISION_BLOCKS); audio, the
    # network or one ablation of it (AUDIO_VARIANTS); fusion, "smlp"; "auto": the paper's network
    variant: str = "auto"
    head: str = "l2"
    width: int = 64  # vision: ResNet18 base width (features = 8*width)
    timesteps: int = 8
    beta: float = 0.9
    threshold: float = 1.0
    head_threshold: Optional[float] = None  # audio: the output LIF's own threshold (None: threshold)
    surrogate: str = "atan"
    surrogate_scale: float = 2.0
    audio_channels: tuple[int, ...] = (16, 32, 64)
    dropout: float = 0.5
    pool_grad: str = "max"  # audio: how max-pools over spikes are differentiated (POOL_GRADS: "max", "or")
    time_shift: float = 0.0  # training clips rolled in time by up to this share of their frames (data.augment)
    input_norm: bool = False  # normalise inputs with training-part statistics (per channel / mel band)
    # vision, with input_norm: "dataset" (per-channel training statistics) or "image" (each image's own, IMAGE_NORMS)
    image_norm: str = "dataset"
    # audio, with input_norm: "dataset" (per-band training statistics), "clip" (each clip's bands) or "clip_stats"
    # (that, and the clip's band statistics as two more channels): SPECTROGRAM_NORMS
    spectrogram_norm: str = "dataset"
    image_size: Optional[int] = None  # vision: side the images are read at (None: the side the dataset stores)
    zero_init_residual: bool = False  # vision: last BN of each residual branch starts at 0 (block = identity path)
    neuron: str = "lif"  # "relu": the ANN twin (ReLU for every LIF, cross-entropy on the logits)
    # audio front end: the fields of avsnn.data.AudioConfig, with its defaults
    sample_rate: int = AudioConfig.sample_rate
    duration_s: float = AudioConfig.duration_s
    n_fft: int = AudioConfig.n_fft
    hop_length: int = AudioConfig.hop_length
    n_mels: int = AudioConfig.n_mels
    f_max: float = AudioConfig.f_max
    top_db: float = AudioConfig.top_db
    # fusion (SMLP on frozen unimodal features)
    fusion_inputs: str = "both"
    hidden: tuple[int, ...] = (512,)
    project_dim: Optional[int] = None
    vision_config: Optional[dict] = None
    audio_config: Optional[dict] = None
    # loss (Eqs. 14-16)
    correct_rate: float = 0.9
    incorrect_rate: float = 0.1
    truncate_targets: bool = False
    loss: str = "count"  # spiking networks: "count" (Eqs. 14-16) or "cosine_ce" (the twin's loss; LOSSES)
    # spiking layers: beta / threshold trainable, one scalar a layer (snnTorch's learn_beta / learn_threshold)
    learn_beta: bool = False
    learn_threshold: bool = False
    # optimisation
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    milestones: tuple[int, ...] = (150, 275)
    gamma: float = 0.1
    batch_size: int = 128
    epochs: int = 300  # with patience: the maximum
    min_steps: Optional[int] = None  # optimizer-step budget: the epoch cap rises to ceil(min_steps / steps an epoch)
    rising_extension: Optional[float] = None  # a run still rising at its cap goes on, up to this multiple of the cap
    val_frac: float = 0.0  # validation share carved from the training split (stratified, split_seed)
    patience: Optional[int] = None  # stop after this many epochs without a better validation accuracy
    warmup_epochs: int = 0  # linear learning-rate warm-up (per step) over this many epochs
    schedule: str = "step"  # "step": milestones/gamma; "cosine": cosine decay to 0 after warm-up
    max_train_batches: Optional[int] = None  # cap on batches per epoch (smoke runs)
    seed: int = 0
    amp: bool = False
    # cosmetic (not hashed)
    device: str = "auto"
    channels_last: Optional[bool] = None  # channels-last convs; None: on CUDA, off on CPU (see above)
    lif_backend: str = "auto"  # LIF scan backend: "auto", "cpp", "triton", "torch" or "loop"
    profile: str = "custom"
    progress: bool = True

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen)
        # normalise containers so equal settings compare and hash equal
        for name in ("audio_channels", "hidden", "milestones"):
            set_(name, tuple(int(v) for v in getattr(self, name)))
        for name in ("vision_config", "audio_config"):
            sub = getattr(self, name)
            if isinstance(sub, RunConfig):
                sub = sub.canonical()
            if sub is not None:
                set_(name, RunConfig.from_dict(sub).canonical())
        set_("dataset", normalise_data_path(self.dataset))
        set_("data_root", normalise_data_path(self.data_root))
        if self.variant == "auto" and self.modality in DEFAULT_VARIANT:
            set_("variant", DEFAULT_VARIANT[self.modality])
        if self.neuron == "relu":  # the ANN twin has no decay rate or threshold to learn, no spikes to OR: one hash
            set_("learn_beta", False)
            set_("learn_threshold", False)
            set_("pool_grad", "max")
            set_("loss", "count")
        _validate(self)

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """All fields as plain JSON types (tuples become lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def canonical(self) -> dict:
        """The hashed part: :meth:`to_dict` without the cosmetic fields and the recipe fields that are off."""
        return {
            k: v
            for k, v in self.to_dict().items()
            if k not in COSMETIC and not (k in RECIPE_OFF and v == RECIPE_OFF[k])
        }

    def hash(self, length: int = 12) -> str:
        """Stable short hash of the canonical JSON (sorted keys, no whitespace)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:length]

    def __hash__(self) -> int:  # frozen dataclasses with dict fields need this
        return int(self.hash(16), 16)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """The :class:`RunConfig` of a dict such as :meth:`to_dict` writes; unknown keys are a ``ValueError``."""
        for key in d:
            check_key(key)
        return cls(**d)

    def replace(self, **changes) -> "RunConfig":
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @property
    def sub_configs(self) -> dict[str, "RunConfig"]:
        """The unimodal configs a fusion run consumes (empty for vision/audio)."""
        out = {}
        for name in ("vision", "audio"):
            sub = getattr(self, f"{name}_config")
            if sub is not None:  # cosmetic fields follow the fusion config
                out[name] = RunConfig.from_dict({**sub, **{k: getattr(self, k) for k in COSMETIC}})
        return out

    def audio_settings(self):
        """The :class:`avsnn.data.AudioConfig` these fields describe."""
        return AudioConfig(
            sample_rate=self.sample_rate,
            duration_s=self.duration_s,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            n_mels=self.n_mels,
            f_max=self.f_max,
            top_db=self.top_db,
        )

    def describe(self) -> str:
        """Compact ``key=value`` listing (printed at the start of training)."""
        items = []
        for k, v in self.to_dict().items():
            if k in ("vision_config", "audio_config"):
                if v is None:
                    continue
                k, v = k.replace("_config", "_run"), RunConfig.from_dict(v).hash()
            items.append(f"{k}={v}")
        lines, line = [f"RunConfig with config hash {self.hash()} ({self.modality}, profile {self.profile})"], "  "
        for it in items:
            if len(line) + len(it) > 100:
                lines.append(line.rstrip())
                line = "  "
            line += it + "  "
        lines.append(line.rstrip())
        return "\n".join(lines)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def check_key(key: str, where: str = "") -> None:
    """A ``ValueError`` unless ``key`` is a :class:`RunConfig` field: with the nearest field, else all of them.

    ``where`` follows the key in the message (`` in 'vision.lr'``).
    """
    if key not in _FIELDS:
        hint = did_you_mean(key, _FIELDS, KEY_ALIASES) or f"; expected one of {sorted(_FIELDS)}"
        raise ValueError(f"unknown config key {key!r}{where}{hint}")


def reads(modality: str, key: str) -> bool:
    """Whether a run of ``modality`` reads the field ``key`` (:data:`READ_BY`)."""
    return modality in READ_BY.get(key, (modality,))


def check_read(modality: str, key: str) -> None:
    """A ``ValueError`` when a run of ``modality`` would ignore the field ``key`` (set by the user)."""
    if not reads(modality, key):
        users = READ_BY[key]
        hint = " or ".join(f"{m}.{key}" for m in users if m != "fusion") if modality == "fusion" else ""
        raise ValueError(
            f"{key} is not used by {modality} runs (only by {' and '.join(users)} runs)"
            + (f"; did you mean {hint}?" if hint else "")
        )


def check_finite(key: str, value) -> None:
    """A ``ValueError`` naming ``key`` when ``value`` is an inf or NaN number (it trains or runs to garbage)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")


def _expect(key, value, expected) -> None:
    if value not in expected:
        raise ValueError(f"{key} must be one of {list(expected)}, got {value!r}")


def _validate(c: RunConfig) -> None:
    for key, tp in _HINTS.items():
        v = getattr(c, key)
        if _strip_optional(tp)[0] is float and v is not None:
            check_finite(key, float(v))
    _expect("modality", c.modality, MODALITIES)
    _expect("variant", c.variant, VARIANTS[c.modality])
    _expect("head", c.head, HEADS)
    _expect("surrogate", c.surrogate, SURROGATES)
    _expect("optimizer", c.optimizer, OPTIMIZERS)
    _expect("device", c.device, DEVICES)
    _expect("lif_backend", c.lif_backend, LIF_BACKENDS)
    _expect("fusion_inputs", c.fusion_inputs, FUSION_INPUTS)
    _expect("schedule", c.schedule, SCHEDULES)
    _expect("neuron", c.neuron, NEURONS)
    _expect("image_norm", c.image_norm, IMAGE_NORMS)
    _expect("spectrogram_norm", c.spectrogram_norm, SPECTROGRAM_NORMS)
    _expect("pool_grad", c.pool_grad, POOL_GRADS)
    _expect("loss", c.loss, LOSSES)
    if not 0.0 <= c.val_frac < 1.0:
        raise ValueError(f"val_frac must lie in [0, 1), got {c.val_frac!r}")
    if c.patience is not None and (c.patience < 1 or c.val_frac == 0):
        raise ValueError(
            f"patience must be a positive integer used with val_frac > 0, got patience={c.patience!r}, "
            f"val_frac={c.val_frac!r}"
        )
    if c.warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be >= 0, got {c.warmup_epochs!r}")
    for key in ("correct_rate", "incorrect_rate", "beta"):
        if not 0.0 <= float(getattr(c, key)) <= 1.0:
            raise ValueError(f"{key} must lie in [0, 1], got {getattr(c, key)!r}")
    if not c.incorrect_rate < c.correct_rate:  # else the loss rewards the wrong classes' spikes
        raise ValueError(
            f"incorrect_rate must be below correct_rate (the target firing rates of the wrong and the right "
            f"class), got incorrect_rate={c.incorrect_rate!r}, correct_rate={c.correct_rate!r}"
        )
    for key in ("seed", "split_seed"):
        if int(getattr(c, key)) < 0:
            raise ValueError(f"{key} must be an integer >= 0, got {getattr(c, key)!r}")
    if not 0.0 < c.train_frac < 1.0:
        raise ValueError(f"train_frac must lie in (0, 1), got {c.train_frac!r}")
    for key in ("width", "timesteps", "batch_size"):
        if int(getattr(c, key)) < 1:
            raise ValueError(f"{key} must be a positive integer, got {getattr(c, key)!r}")
    for key in ("per_class", "max_train_batches", "project_dim", "image_size", "min_steps"):
        v = getattr(c, key)
        if v is not None and int(v) < 1:
            raise ValueError(f"{key} must be a positive integer or None, got {v!r}")
    if c.epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {c.epochs!r}")
    if c.rising_extension is not None and not (
        float(c.rising_extension) >= 1.0 and c.val_frac > 0 and c.schedule != "cosine"
    ):
        raise ValueError(
            f"rising_extension must be a multiple >= 1 of the epoch cap, used with val_frac > 0 and a schedule "
            f"that does not end at the cap (not 'cosine'), got rising_extension={c.rising_extension!r}, "
            f"val_frac={c.val_frac!r}, schedule={c.schedule!r}"
        )
    for key in ("lr", "threshold", "surrogate_scale", "head_threshold"):
        if getattr(c, key) is not None and not float(getattr(c, key)) > 0:
            raise ValueError(f"{key} must be > 0, got {getattr(c, key)!r}")
    if c.weight_decay < 0 or not 0 < c.gamma <= 1:
        raise ValueError(f"weight_decay must be >= 0 and gamma in (0, 1], got {c.weight_decay!r}, {c.gamma!r}")
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {c.dropout!r}")
    if not 0.0 <= c.time_shift <= TIME_SHIFT_MAX:
        raise ValueError(
            f"time_shift must lie in [0, {TIME_SHIFT_MAX}] (a share of the clip's frames), got {c.time_shift!r}"
        )
    if list(c.milestones) != sorted(c.milestones) or any(m < 1 for m in c.milestones):
        raise ValueError(f"milestones must be increasing positive epochs, got {list(c.milestones)}")
    c.audio_settings()  # the audio front end: AudioConfig checks its fields
    if not c.dataset:
        raise ValueError("dataset must be 'avdigits', 'synthetic' or a folder, got an empty string")
    if c.modality == "fusion":
        need = ("vision", "audio") if c.fusion_inputs == "both" else (c.fusion_inputs,)
        for name in need:
            sub = getattr(c, f"{name}_config")
            if sub is None:
                raise ValueError(f"{name}_config must be set for a fusion run with fusion_inputs={c.fusion_inputs!r}")
            if sub["modality"] != name:
                raise ValueError(f"{name}_config must be a {name} config, got modality {sub['modality']!r}")


# ---- parsing "key=value" overrides ----------------------------------------------------------
_HINTS = typing.get_type_hints(RunConfig)


def _strip_optional(tp):
    origin = typing.get_origin(tp)
    if origin in (Union, getattr(types, "UnionType", Union)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def parse_value(key: str, raw: Any) -> Any:
    """Convert ``raw`` (a string from the command line, or a Python value) to ``key``'s type."""
    check_key(key)
    return parse_as(key, raw, _HINTS[key])


def parse_as(name: str, raw: Any, hint: Any) -> Any:
    """Convert ``raw`` (a command-line string or a Python value) to the type ``hint``.

    ``hint`` is ``bool`` (``true/false``, ``yes/no``, ``on/off``, ``1/0``, any case), ``int``, ``float``
    (``1e-3``), ``str``, ``dict`` (JSON), ``tuple[int, ...]`` (``5,8``, ``5 8`` or ``[5, 8]``), or
    ``Optional`` of one (``none``, ``null`` or an empty string give ``None``); a number must be finite.
    The one parser of config overrides and chapter parameters; ``name`` names the value in the error.
    """
    value = _parse(name, raw, hint)
    check_finite(name, value)
    return value


def _parse(name: str, raw: Any, hint: Any) -> Any:
    tp, optional = _strip_optional(hint)
    if not isinstance(raw, str):
        if raw is None and optional:
            return None
        if typing.get_origin(tp) is tuple and isinstance(raw, (list, tuple)):
            return tuple(raw)
        if tp is float and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        base = typing.get_origin(tp) or tp
        if isinstance(raw, base) and not (base is int and isinstance(raw, bool)):
            return raw
        raise ValueError(f"{name} expects {_type_name(tp, optional)}, got {raw!r}")
    text = raw.strip()
    try:
        if optional and text.lower() in ("none", "null", ""):
            return None
        if tp is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if typing.get_origin(tp) is tuple:
            body = text.strip("[]() ")
            return tuple(int(v) for v in body.replace(",", " ").split()) if body else ()
        if tp is dict:
            return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        pass
    raise ValueError(f"{name} expects {_type_name(tp, optional)}, got {raw!r}")


def _type_name(tp, optional: bool) -> str:
    name = {
        bool: "a boolean (true/false)",
        int: "an integer",
        float: "a number",
        str: "a string",
        dict: "a JSON object",
    }.get(tp, "a comma-separated list of integers")
    return name + (" or none" if optional else "")


def parse_overrides(overrides) -> dict:
    """``{"k": v}`` or ``["k=v", ...]`` -> dict of raw values (keys may be dotted: ``vision.lr``)."""
    if overrides is None:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    out = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out
