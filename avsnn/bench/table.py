"""The benchmark's result as a plain-text table (what ``avsnn bench`` prints)."""

from __future__ import annotations

from .baselines import NETWORKS

__all__ = ["format_table"]


def format_table(res: dict) -> str:
    """Human-readable summary of :func:`~avsnn.bench.run_bench`'s result."""
    lines = [
        f"device={res['device']} torch={res['torch']} threads={res['threads']} "
        f"config={res['config']['width']}w T={res['config']['timesteps']} B={res['config']['batch']} "
        f"steps={res['config']['steps']} channels_last={res['config'].get('channels_last', False)} "
        f"amp={res['config'].get('amp_bf16', False)} lif_backend={res.get('lif_backend', '?')} "
        f"malloc_keeps_freed_memory={res.get('malloc_keeps_freed_memory')}",
        f"{'network':<10}{'step ms (median)':>18}{'min ms':>10}{'img/s':>10}{'mem MB':>10}",
    ]
    for name in NETWORKS:
        lines.append(
            f"{name:<10}{res['step_ms'][name]:>18.1f}{res['step_ms_min'][name]:>10.1f}"
            f"{res['img_per_s'][name]:>10.1f}{res['peak_memory_mb'][name]:>10.1f}"
        )
    lines.append(
        f"spiking_over_ann={res['spiking_over_ann']:.3f}  snntorch_over_avsnn="
        f"{res['snntorch_over_avsnn']:.3f}  loop_over_fused={res['loop_over_fused']:.3f}  "
        f"(from min: {res['ratios_from_min']['spiking_over_ann']:.3f} / "
        f"{res['ratios_from_min']['snntorch_over_avsnn']:.3f} / "
        f"{res['ratios_from_min']['loop_over_fused']:.3f})"
    )
    lines.append(f"memory: {res['peak_memory_method']}")
    if "lif_fwd_bwd" in res:
        m = res["lif_fwd_bwd"]
        lines.append(
            f"LIF fwd+bwd {m['shape']}: fused {m['fused_ms']:.2f} ms, loop {m['loop_ms']:.2f} ms; "
            f"saved {m['fused_saved_bytes'] / 2**20:.1f} MB vs {m['loop_saved_bytes'] / 2**20:.1f} MB"
        )
    d = res.get("data_loading", {})
    for modality in ("vision", "audio"):
        m = d.get(modality, {})
        if "batches_per_s" in m:
            lines.append(
                f"data ({modality}): build from the warm cache {m['items_per_s_warm']:.0f} items/s "
                f"(first build {m['build_first_s']:.1f} s); {m['batches_per_s']:.0f} batches/s vs "
                f"{m['train_steps_per_s']:.2f} train steps/s -> loading is "
                f"{100 * m['data_over_step']:.2f}% of a step"
            )
        elif "skipped" in m:
            lines.append(f"data ({modality}): {m['skipped']}")
    if "skipped" in d:
        lines.append(f"data: {d['skipped']}")
    for name, parts in res.get("breakdown_ms", {}).items():
        lines.append(f"{name} step by category (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    for row in res.get("profile_avsnn_top", [])[:10]:
        lines.append(f"  {row['op']:<45}{row['self_ms_per_step']:>9.1f} ms/step {100 * row['share']:>5.1f}%")
    return "\n".join(lines)
