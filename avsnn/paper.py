"""The paper's reported numbers, quoted once (test accuracies in percent; shared/paper/paper.txt).

Chapters and studies set these beside this package's runs; they are never computed here.
"""

from __future__ import annotations

#: Table I (CIFAR10-AV) and Table II (UrbanSound8K-AV): per-modality and fusion accuracy.
TABLE_I = {"vision": 92.74, "audio": 99.60, "fusion": 98.60}
TABLE_II = {"vision": 95.42, "audio": 87.49, "fusion": 97.20}

#: Table III (CIFAR10-AV): the ablation, keyed by (modality, variant); the baselines are Table I's.
TABLE_III = {
    ("vision", "act_after_add"): 92.74,
    ("vision", "lif_after_bn"): 90.40,
    ("vision", "lif_before_add"): 86.82,
    ("audio", "full"): 99.60,
    ("audio", "no_dropout"): 78.16,
    ("audio", "no_third_block"): 72.36,
    ("audio", "no_pooling"): 89.74,
}

#: Table IV: (dataset, reference as printed, model, timesteps, kind, accuracy).
TABLE_IV = [
    ("CIFAR10", "[67]", "ResNet-20", 250, "uni-modal", 92.22),
    ("CIFAR10", "[68]", "ResNet-20", 5, "uni-modal", 92.54),
    ("CIFAR10", "[44]", "ResNet-19", 4, "uni-modal", 92.92),
    ("CIFAR10", "[40]", "ResNet-19", 4, "uni-modal", 94.44),
    ("CIFAR10", "[69]", "ResNet-18", 2, "uni-modal", 93.13),
    ("CIFAR10-AV", "[31]", "Multi-modal Transformer", 4, "multi-modal", 97.01),
    ("CIFAR10-AV", "paper: SMLP", "Multi-modal Fusion", 8, "multi-modal", 98.6),
    ("Urbansound8K", "[68]", "VGG9", 5, "uni-modal", 95.30),
    ("Urbansound8K", "[66]", "Cifar10Net", 8, "uni-modal", 88.60),
    ("Urbansound8K", "[70]", "Spikformer-4-384", 4, "uni-modal", 94.47),
    ("Urbansound8K-AV", "[31]", "Multi-modal Transformer", 4, "multi-modal", 96.85),
    (
        "Urbansound8K-AV",
        "paper: SMLP",
        "Multi-modal Fusion (printed: 'Multi-modal transformer')",
        8,
        "multi-modal",
        97.2,
    ),
]
