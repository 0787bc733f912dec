"""What a dataset's content fingerprint costs: cold (every file hashed) and warm (one stat per file).

Writes ``--pairs`` tiny image + WAV pairs (a 16x16 PNG and a 0.1-s 16-kHz WAV each, 10 classes) in the
paired release layout under ``--out`` (kept if it is already there), sets their mtimes an hour back
(older files are trusted by their size and mtime), then times :func:`avsnn.data.dataset_fingerprint`
with an empty hash index (cold) and again (warm), in a private cache.

    python scripts/fingerprint_cost.py --out /tmp/fp60k --pairs 60000
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from PIL import Image


def write_pairs(out: Path, pairs: int, classes: int = 10) -> None:
    """``pairs`` pairs ``vision/c<k>/<i>.png`` + ``audio/c<k>/<i>.wav`` (random content, same sizes)."""
    rng = np.random.default_rng(0)
    for i in range(pairs):
        c = f"c{i % classes}"
        img = out / "vision" / c / f"{i:06d}.png"
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), "RGB").save(img)
        wav = out / "audio" / c / f"{i:06d}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(rng.integers(-3000, 3000, 1600, dtype=np.int16).tobytes())
        wav.write_bytes(buf.getvalue())
    hour_ago = time.time_ns() - 3600 * 10**9
    for p in out.rglob("*.*"):
        os.utime(p, ns=(hour_ago, hour_ago))


def main() -> None:
    """Generate the set if needed, then print the cold and warm fingerprint times."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pairs", type=int, default=60000)
    args = ap.parse_args()
    if not (args.out / "audio").is_dir():
        t0 = time.perf_counter()
        write_pairs(args.out, args.pairs)
        print(f"wrote {args.pairs} pairs in {time.perf_counter() - t0:.1f} s")
    os.environ["AVSNN_CACHE"] = tempfile.mkdtemp(prefix="fpcache-")
    from avsnn.data import dataset_fingerprint

    files = sum(1 for _ in args.out.rglob("*.*"))
    size = sum(p.stat().st_size for p in args.out.rglob("*.*"))
    print(f"{files} files, {size / 1e6:.0f} MB")
    for what in ("cold (hashing)", "warm (stat only)", "warm again"):
        t0, c0 = time.perf_counter(), time.process_time()
        fp = dataset_fingerprint(str(args.out))
        print(f"{what}: {time.perf_counter() - t0:.2f} s wall, {time.process_time() - c0:.2f} s CPU; fingerprint {fp}")


if __name__ == "__main__":
    main()
