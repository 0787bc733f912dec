"""A finished run in the store: its config, metrics, history, model and data, loaded lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from avsnn.data.batching import ArrayData, as_array_data

from .config import RunConfig
from .factories import build_model, load_datasets
from .features import feature_sets, unimodal_features
from .store import RunStore

__all__ = ["Run"]


@dataclass
class Run:
    """A finished run in the store. ``model`` is loaded lazily (eval mode, CPU).

    ``model_fn`` / ``data_fn`` build the network and the datasets (as in :func:`avsnn.train.train_or_load`).
    ``sub_run(cfg)`` returns the finished run of one of a fusion config's unimodal configs (trained if
    missing); :func:`avsnn.train.train_or_load` supplies it.
    """

    path: Path
    config: RunConfig
    store_root: Optional[Path] = None
    model_fn: Callable = build_model
    data_fn: Callable = load_datasets
    trained_now: bool = False
    sub_run: Optional[Callable[[RunConfig], Run]] = field(default=None, repr=False)
    _model: Optional[torch.nn.Module] = field(default=None, init=False, repr=False)
    _data: Optional[tuple] = field(default=None, init=False, repr=False)
    _datasets: Optional[tuple] = field(default=None, init=False, repr=False)

    @property
    def store(self) -> RunStore:
        """The :class:`RunStore` of this run's folder."""
        return RunStore(self.config, self.store_root, key=self.path.name)

    @property
    def model(self) -> torch.nn.Module:
        """The trained network from ``checkpoint.pt`` (eval mode, CPU), loaded on first access."""
        if self._model is None:
            ck = self.store.load_checkpoint()
            if ck is None:
                raise FileNotFoundError(f"{self.path}: no checkpoint.pt")
            m = self.model_fn(self.config, ck["num_classes"], ck.get("input_dims"))
            m.load_state_dict(ck["model"])
            self._model = m.eval()
        return self._model

    @property
    def metrics(self) -> dict:
        """The run's ``metrics.json`` (empty when missing)."""
        return self.store.read_json(RunStore.METRICS, {})

    @property
    def history(self) -> list:
        """The per-epoch records of ``history.json`` (empty when missing)."""
        return self.store.read_json(RunStore.HISTORY, [])

    def hold_data(self, train: ArrayData, test: ArrayData, datasets: Optional[tuple] = None) -> None:
        """Keep the ``(train, test)`` already loaded (and the datasets they came from) instead of loading them again."""
        self._data = (train, test)
        if datasets is not None:
            self._datasets = datasets

    def hold_trained(self, model: torch.nn.Module) -> None:
        """Keep the model just trained (moved to the CPU, eval mode); ``trained_now`` becomes True."""
        self._model = model.cpu().eval()
        self.trained_now = True

    def datasets(self):
        """``(train, test)``: the avsnn.data datasets (vision/audio) or the feature sets (fusion)."""
        if self._datasets is None:
            if self.config.modality == "fusion":
                self._datasets = self.array_data()
            else:
                self._datasets = self.data_fn(self.config)
        return self._datasets

    def array_data(self) -> tuple[ArrayData, ArrayData]:
        """``(train, test)`` as :class:`ArrayData` (what the engine trains on)."""
        if self._data is None:
            if self.config.modality == "fusion":
                if self.sub_run is None:
                    raise ValueError(f"{self.path}: a fusion run needs sub_run to load its unimodal runs")
                self._data = feature_sets({name: self.sub_run(sub) for name, sub in self.config.sub_configs.items()})
            else:
                tr, te = self.datasets()
                self._data = (as_array_data(tr, self.config.modality), as_array_data(te, self.config.modality))
        return self._data

    def features(self, split: str = "test") -> dict:
        """Frozen fusion features of a unimodal run: ``{"features", "labels", "keys"}`` (cached on disk)."""
        return unimodal_features(self, split)
