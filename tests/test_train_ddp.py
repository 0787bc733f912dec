"""DDP on the CPU: two gloo processes reproduce the single-process run."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.distributed as tdist
from test_train_helpers import tiny_config, tiny_data, tiny_model_nobn

from avsnn.train import train_or_load
from avsnn.train.ddp import launch_local

pytestmark = pytest.mark.skipif(
    not tdist.is_available() or sys.platform == "win32", reason="torch.distributed (gloo) not available"
)


def test_two_process_gloo_matches_single_process(tmp_path):
    # batch 7 over 60 samples: odd global batches and a ragged last batch (4 samples)
    cfg = tiny_config(epochs=2, batch_size=7, lr=5e-3)
    single = train_or_load(
        cfg, tmp_path / "one", progress=False, verbose=False, model_fn=tiny_model_nobn, data_fn=tiny_data
    )
    ddp = launch_local(cfg, 2, tmp_path / "two", model_fn=tiny_model_nobn, data_fn=tiny_data, backend="gloo")
    assert (ddp.path / "DONE").exists() and ddp.path.name == single.path.name
    a, b = single.model.state_dict(), ddp.model.state_dict()
    for k in a:
        # same global batches and mean gradients; only float summation order differs
        torch.testing.assert_close(b[k], a[k], atol=1e-5, rtol=1e-4, msg=k)
    ha, hb = single.history, ddp.history
    assert [h["loss"] for h in hb] == pytest.approx([h["loss"] for h in ha], rel=1e-5)
    assert ddp.metrics["test_accuracy"] == single.metrics["test_accuracy"]
