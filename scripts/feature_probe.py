"""Does a spiking network lose to its ANN twin in its features or in its readout? Issue #30, round 12.

For one transfer set, modality and seed: the L2 spiking network and its twin are trained (or read from the run
store, as the suite trains them), and a logistic regression is fitted on each one's time-averaged last-hidden
features (``z_av``, Eq. 10, L2-normalised as the fusion reads them) of the training split and scored on the test
split, beside the network's own test accuracy. The same regression on the features of the untrained networks (input
normalisation fitted, batch norm on batch statistics, dropout off) says how much of the class the forward pass
keeps before any training. Prints one line per network. One thread, as in the suite's workers, so a run the suite
trained is read, not trained again with other rounding.

    python scripts/feature_probe.py hb2-letters-on-texture --seed 0 --set per_class=100 --set beta=0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from avsnn.data.batching import as_array_data  # noqa: E402
from avsnn.data.transfer import ensure_transfer  # noqa: E402
from avsnn.train import build_model, load_datasets, make_config, train_or_load  # noqa: E402
from avsnn.train.fit import fit_input_norm  # noqa: E402


def probe(train: tuple, test: tuple) -> tuple[float, float]:
    """(train, test) accuracy of a logistic regression fitted on ``train = (features, labels)``."""
    clf = LogisticRegression(max_iter=3000).fit(*train)
    return clf.score(*train), clf.score(*test)


@torch.no_grad()
def untrained_features(cfg, data) -> torch.Tensor:
    """``z_av`` of a freshly built network (seed ``cfg.seed``), batch statistics in BN, no dropout, L2-normalised."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, int(data.labels.max()) + 1)
    fit_input_norm(model, data)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    out = [model(x).z_av.float().flatten(1) for x, _ in data.batches(256, "cpu")]
    return F.normalize(torch.cat(out), dim=1)


def main(argv=None) -> None:
    """Train or read both networks of one set and seed, and print the probes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset", help="a transfer set's name (avsnn.data.transfer.TRANSFER_SETS)")
    p.add_argument("--modality", default="audio", choices=["vision", "audio"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as the suite's workers train (avsnn.studies.train_all): the same runs, the same numbers
    folder = str(ensure_transfer(args.dataset))
    for arm, extra in (("L2 SNN", []), ("ANN twin", ["neuron=relu"])):
        cfg = make_config(args.modality, "default", folder, [*args.overrides, f"seed={args.seed}", *extra])
        run = train_or_load(cfg, progress=False)
        tr, te = (run.features(split) for split in ("train", "test"))
        fit, test = probe((tr["features"], tr["labels"]), (te["features"], te["labels"]))
        train_data, test_data = (as_array_data(d, args.modality) for d in load_datasets(cfg))
        untrained = probe(
            (untrained_features(cfg, train_data), train_data.labels),
            (untrained_features(cfg, test_data), test_data.labels),
        )
        print(
            f"{args.dataset} {args.modality} seed {args.seed} {arm}: own test accuracy "
            f"{100 * run.metrics['test_accuracy']:.1f}; "
            f"probe on trained z_av train {100 * fit:.1f} test {100 * test:.1f}; "
            f"on untrained z_av train {100 * untrained[0]:.1f} test {100 * untrained[1]:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
