"""Training-step benchmark: avsnn's multi-step spiking ResNet against its floors and the snnTorch idiom.

``python -m avsnn.bench --width 16 --timesteps 4 --batch 32 --out bench.json`` (or ``avsnn bench ...``)
times one training step (forward + MSE count loss + backward + Adam step; median over ``steps``
after warm-up) of the :data:`NETWORKS`, built from **the same** :class:`~avsnn.models.L2ActSpikeNet`
weights, in the same process, interleaved step by step (so background load hits all alike):

``avsnn``    the model as shipped: stateless layers on ``[T*B, ...]``, fused LIF scans.
``ann``      the floor: the same model with every LIF replaced by ``nn.ReLU`` -- the same convs,
             BNs and head on the same ``T*B`` images, no scan.
``snntorch`` :class:`SnnTorchStyleResNet`: the same layers, written the snnTorch way -- a Python
             loop over T, every stateless layer called per step on ``[B, ...]``, one
             ``snntorch.Leaky`` call per step and layer.
``loop``     the avsnn model with ``LIF(backend="loop")`` (autograd records every step): what the
             fused LIF node buys.

Reported (and written to ``--out`` as JSON): raw step times, ``spiking_over_ann`` (avsnn / ann),
``snntorch_over_avsnn`` (snntorch / avsnn), ``loop_over_fused``, images per second, peak memory
(CUDA: ``max_memory_allocated``; CPU: the autograd-saved bytes of one step, which is the part of
peak memory the design controls -- process RSS is reported too but is not per network), the
autograd-saved bytes of a single LIF layer (fused vs loop), a LIF forward+backward micro
benchmark, the data pipeline against the training steps it feeds (:func:`data_loading`), with
``--breakdown`` the CPU time of a step by category (:func:`time_breakdown`) and with ``--trace``
the top operations of a ``torch.profiler`` trace. ``--channels-last`` and ``--amp`` (bf16
autocast) run all four networks that way; ``--lif-backend`` picks the avsnn network's LIF backend
(:data:`avsnn.core.kernels.BACKENDS`, default ``auto``), and the record states the one that ran
(``lif_backend``), the one asked for and any fallback of ``auto`` with its reason. GPU paths (``--device cuda``) use
``torch.cuda.synchronize`` around each timed step; ``scripts/gpu_check.sh`` runs them.

``--speedup`` instead times the training steps of default-profile runs (vision and audio) with and
without the CPU speed-ups, interleaved in one process, and prints images per second of each and the
ratio (:func:`speedup_bench`; ``python -m avsnn.bench --speedup --data avdigits``).

Modules: :mod:`~avsnn.bench.baselines` (the networks compared), :mod:`~avsnn.bench.timing`
(:func:`run_bench`), :mod:`~avsnn.bench.breakdown` (``torch.profiler``), :mod:`~avsnn.bench.loading`
(:func:`data_loading`), :mod:`~avsnn.bench.table` (:func:`format_table`), :mod:`~avsnn.bench.speedup`
(:func:`speedup_bench`), :mod:`~avsnn.bench.cli`.
"""

from typing import TYPE_CHECKING

from avsnn.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ serves, for type checkers and import-linter
    from .baselines import NETWORKS, SnnTorchStyleResNet, ann_twin, build_networks, loop_twin
    from .breakdown import CATEGORIES, OTHER, time_breakdown, trace_top
    from .cli import add_bench_parser, cmd_bench, main
    from .loading import data_loading
    from .speedup import format_speedup, speedup_bench
    from .table import format_table
    from .timing import SIZE_MINIMA, check_sizes, run_bench, saved_tensor_bytes

#: public name -> the submodule defining it
_WHERE = {
    "NETWORKS": ".baselines",
    "SnnTorchStyleResNet": ".baselines",
    "ann_twin": ".baselines",
    "build_networks": ".baselines",
    "loop_twin": ".baselines",
    "CATEGORIES": ".breakdown",
    "OTHER": ".breakdown",
    "time_breakdown": ".breakdown",
    "trace_top": ".breakdown",
    "add_bench_parser": ".cli",
    "cmd_bench": ".cli",
    "main": ".cli",
    "data_loading": ".loading",
    "format_speedup": ".speedup",
    "speedup_bench": ".speedup",
    "format_table": ".table",
    "SIZE_MINIMA": ".timing",
    "check_sizes": ".timing",
    "run_bench": ".timing",
    "saved_tensor_bytes": ".timing",
}

__all__ = [
    "NETWORKS",
    "SnnTorchStyleResNet",
    "ann_twin",
    "loop_twin",
    "build_networks",
    "saved_tensor_bytes",
    "time_breakdown",
    "trace_top",
    "CATEGORIES",
    "OTHER",
    "data_loading",
    "speedup_bench",
    "format_speedup",
    "run_bench",
    "SIZE_MINIMA",
    "check_sizes",
    "format_table",
    "add_bench_parser",
    "cmd_bench",
    "main",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
