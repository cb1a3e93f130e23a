"""Peak memory and cache bytes of ``melrec recommend`` against library size, extrapolated to 100,000 tracks.

Run: ``python bench/recommend_memory.py [--sizes 100,200,400] [--seconds 30] [--pipelines best,corrected]``

For each pipeline and library size, a library of synthesised WAV files (``recommend_speed.synthesise``:
seeded tones and noise, 44.1 kHz mono, 25 artist folders; the playlist is its first 10 tracks)
is ranked by a fresh ``melrec recommend --quiet`` process with an empty cache (**cold**), then
again (**warm**, every file from the cache).  Every 20 ms the resident memory (RSS, psutil) of
the process and of its whole tree (the local worker processes too) is read; printed are the
peaks of both.  The tree's sum counts the libraries every worker maps twice, so it overstates
what the machine needs; the main process is where the library's data is gathered.

A least-squares line through the sizes gives each peak's growth per track (a few KiB per track
are within RSS's run-to-run noise of some 20-30 MiB at these sizes: read them as rough).  The
fit's pool of negatives (at most ``recommend.POOL_FRAGMENTS`` fragments) has not filled in runs this
small: the runs with a small pool give the growth without it (the catalogue's), and what the
full pool adds is scaled up from the largest run's difference between the two.  The summary
line puts them together, on paper: the largest cold run's peak, plus the small-pool growth (at
least 0) to 100,000 tracks, plus the rest of the pool.  Scoring reads one chunk of the cache at
a time; decoding runs at most two windows of ``library.AHEAD_BYTES`` ahead of the network.

The cache (``data/processed/library/``) is measured from its chunk files: bytes on disk per
track, split into the float16 fragment embeddings and the rest (per-track mean, tags, catalogue
strings), and, with the fragments a 4-minute track gives (the embedder's own extraction of one
synthesised 240 s file), the bytes per 4-minute track and for 100,000 of them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recommend_speed import synthesise  # noqa: E402

from melrec_lib.app import recommend  # noqa: E402
from melrec_lib.errors import AudioError  # noqa: E402

LIBRARY_TRACKS = 100_000
POLL_S = 0.02
POOL = recommend.POOL_FRAGMENTS


def poll_peaks(proc: subprocess.Popen, poll_s: float = POLL_S) -> tuple[int, int]:
    """Until ``proc`` ends: its peak RSS in bytes, and that of its process tree, every ``poll_s`` s."""
    import psutil

    top = psutil.Process(proc.pid)
    peak_main = peak_tree = 0
    while proc.poll() is None:
        try:
            main = top.memory_info().rss
            tree = main
            for child in top.children(recursive=True):
                try:
                    tree += child.memory_info().rss
                except psutil.Error:  # a worker that just exited
                    pass
        except psutil.Error:  # the process itself just exited
            break
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        time.sleep(poll_s)
    return peak_main, peak_tree


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Run ``cmd``; its wall seconds and peak RSS in bytes of the process and of its process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_main, peak_tree = poll_peaks(proc)
    err = proc.communicate()[1]
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return time.perf_counter() - t0, peak_main, peak_tree


def cache_bytes(folder: Path) -> dict[str, dict[str, float]]:
    """Per embedder folder of the library cache: tracks, fragments, dimension, bytes on disk, fragment bytes."""
    out = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        chunks = sorted(sub.glob("chunk-*.npz"))
        tracks = fragments = frag_bytes = dim = 0
        for c in chunks:
            with np.load(c) as z:
                tracks += len(z["keys"])
                fragments += z["E"].shape[0]
                frag_bytes += z["E"].nbytes
                dim = z["E"].shape[1]
        out[sub.name] = {
            "tracks": tracks,
            "fragments": fragments,
            "dim": dim,
            "frag_bytes": frag_bytes,
            "bytes": sum(c.stat().st_size for c in chunks),
        }
    return out


def fragments_per_track(pipe_name: str, folder: Path, seconds: float) -> dict[int, int]:
    """Rows per file of each of the pipeline's embedders (by dimension) for one synthesised ``seconds`` s file."""
    from melrec_lib.app import pipeline

    path = synthesise(folder, 1, seconds)[0]
    pipe = pipeline.resolve(pipe_name)
    out = {}
    for emb in [pipeline.embedder(pipe)] + ([pipeline.mfcc_embedder()] if pipe.mfcc else []):
        try:
            X = emb.extract(str(path), *emb.extract_args)
        except AudioError as exc:
            raise SystemExit(f"{emb.describe}: {exc}") from exc
        out[int(emb.dim)] = len(X)
    return out


def line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of y over x."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,200,400", help="library sizes (tracks), comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each synthesised track")
    ap.add_argument("--pipelines", default="best,corrected")
    ap.add_argument(
        "--small-pool",
        type=int,
        default=256,
        help="the fit's pool bound of the third run (below every library's fragments)",
    )
    args = ap.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if len(sizes) < 2:
        raise SystemExit("--sizes needs at least two library sizes for the line")

    tmp = Path(tempfile.mkdtemp(prefix="melrec-memory-"))
    try:
        files = synthesise(tmp / "lib-all", max(sizes), args.seconds)
        print(
            f"libraries of {', '.join(map(str, sizes))} tracks of {args.seconds:g} s; {os.cpu_count()} cores; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        for name in args.pipelines.split(","):
            four_min = fragments_per_track(name, tmp / f"long-{name}", 240.0)
            print(f"\n== pipeline {name}")
            rows = []
            for n in sizes:
                lib = tmp / f"lib-{n}"
                shutil.rmtree(lib, ignore_errors=True)
                for f in files[:n]:
                    (lib / f.parent.name).mkdir(parents=True, exist_ok=True)
                    os.link(f, lib / f.parent.name / f.name)
                pl = tmp / "liked.m3u"
                pl.write_text("\n".join(str(lib / f.parent.name / f.name) for f in files[:10]) + "\n")
                env = dict(os.environ, MELREC_DATA_DIR=str(tmp / f"data-{name}-{n}"))  # the shipped model

                def cmd(pool):  # `melrec recommend --quiet`, with the fit's pool bound as given
                    return [
                        sys.executable,
                        "-c",
                        "import sys; from melrec_lib.app.recommend import Options, recommend; "
                        f"recommend({str(pl)!r}, {str(lib)!r}, pipeline={name!r}, "
                        f"options=Options(pool_fragments={pool}, progress=False), log=lambda s: print(s, file=sys.stderr))",
                    ]

                cold = run_measured(cmd(POOL), env)
                warm = run_measured(cmd(POOL), env)
                small = run_measured(cmd(args.small_pool), env)
                cache = cache_bytes(tmp / f"data-{name}-{n}" / "processed" / "library")
                rows.append((n, cold, warm, small, cache))
                print(
                    f"{n:6d} tracks: cold {cold[0]:6.1f} s, peak RSS {cold[1] / 2**20:6.0f} MiB "
                    f"(process tree {cold[2] / 2**20:6.0f} MiB); warm {warm[0]:5.1f} s, "
                    f"{warm[1] / 2**20:6.0f} MiB ({warm[2] / 2**20:6.0f} MiB); warm with a pool of "
                    f"{args.small_pool}: {small[1] / 2**20:6.0f} MiB"
                )
            x = np.array([r[0] for r in rows], float)
            lines = {}
            for label, col in (
                ("cold, process", (1, 1)),
                ("cold, process tree", (1, 2)),
                ("warm, process", (2, 1)),
                ("warm, process tree", (2, 2)),
                (f"warm, pool {args.small_pool}", (3, 1)),
            ):
                a, b = lines[label] = line(x, np.array([r[col[0]][col[1]] for r in rows], float))
                print(
                    f"peak RSS {label:19s}: {a / 2**20:6.0f} MiB + {b / 1024:6.1f} KiB per track "
                    f"(least squares over the {len(x)} sizes)"
                )
            # on paper: the largest cold run's peak, plus the catalogue's growth (the small-pool
            # line's slope, at least 0) to 100,000 tracks, plus what the pool still adds up to its
            # bound (the largest run's full-pool minus small-pool warm peaks, scaled to the bound)
            n_frag = max(rows[-1][4].values(), key=lambda c: c["dim"])["fragments"]  # the network's store
            pool_now = rows[-1][2][1] - rows[-1][3][1]
            pool_more = max(pool_now, 0) * (POOL / max(min(POOL, n_frag), 1) - 1)
            grow = max(lines[f"warm, pool {args.small_pool}"][1], 0.0) * (LIBRARY_TRACKS - x[-1])
            print(
                f"fit pool: {pool_now / 2**20:.0f} MiB for {min(POOL, n_frag)} fragments, about "
                f"{(max(pool_now, 0) + pool_more) / 2**20:.0f} MiB at its bound of {POOL}; cold peak for "
                f"{LIBRARY_TRACKS:,} tracks about {(rows[-1][1][1] + grow + pool_more) / 2**30:.1f} GiB on paper "
                f"({rows[-1][1][1] / 2**20:.0f} MiB at {int(x[-1])} tracks + {grow / 2**20:.0f} MiB of catalogue "
                f"+ {pool_more / 2**20:.0f} MiB more pool)"
            )
            total_4min = 0.0
            for sub, c in rows[-1][4].items():
                rest = (c["bytes"] - c["frag_bytes"]) / c["tracks"]
                per_frag = c["frag_bytes"] / max(c["fragments"], 1)
                per_4min = rest + per_frag * four_min.get(c["dim"], 0)
                total_4min += per_4min
                print(
                    f"cache {sub}: {c['bytes'] / c['tracks']:7.0f} bytes per {args.seconds:g} s track "
                    f"({c['fragments'] / c['tracks']:.1f} rows of {c['dim']} float16 = {per_frag:.0f} bytes each, "
                    f"{rest:.0f} bytes of mean, tags and catalogue); {four_min.get(c['dim'], 0)} rows for 4 min: "
                    f"{per_4min / 1024:.1f} KiB per 4-min track"
                )
            print(
                f"cache, all of {name}: {total_4min / 1024:.1f} KiB per 4-min track -> "
                f"{total_4min * LIBRARY_TRACKS / 1e9:.2f} GB for {LIBRARY_TRACKS:,} tracks"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
