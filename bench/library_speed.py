"""Speed against the tools a user would pick instead: full-length real tracks in their own formats.

Run: ``python bench/library_speed.py [--tracks 0] [--seed 20261206] [--musicnn-tracks 6]
[--memory-files 4] [--long-minutes 30] [--warm-tracks 500] [--stages 8] [--budgets N ...]
[--workdir DIR] [--reference-python PATH] [--json PATH]`` (about 35 minutes on the 2-core machine under load).

The library
    The development library's Debian packages (``soundtracks.get_library("development")``, read
    from ``--debs``, default :func:`melrec_lib.paths.external_dir`; never the confirmation
    packages) are unpacked with :mod:`melrec_lib.corpora.soundtracks`' own reader: each
    soundtrack's music folder, whole files in the containers the packages ship (Opus, Ogg
    Vorbis, MP3).  Byte-identical copies and files shorter than
    ``soundtracks.MIN_DURATION_S`` (jingles) are dropped, as the library build drops them, but
    nothing is cut: no 120 s excerpt, no conversion.  ``--tracks`` of them are drawn with a
    seeded generator (``--tracks``, default 0: all of them), in folders by soundtrack; the
    playlist is 3 of them (seeded too).

Timed, one after the other in the same run (so all see the same machine load):

1. **melrec cold**: ``melrec recommend --playlist A B C --library DIR --top 10 --out
   ranking.csv`` as a user runs it (the default pipeline, every core: 2 local workers), a
   fresh process with a fresh empty ``MELREC_DATA_DIR``; wall time from start to exit, its
   imports, JAX's compilation and the recommender's fit included.  The ranking must hold every
   library track but the playlist's (checked).  Also printed: its library sync alone (the
   seconds melrec prints for embedding the library's files after the playlist's, whose
   embedding paid the network's compilation), the rate a large library tends to.  Then
   **melrec warm**: the same command again (cache full).
2. **bliss** (``bliss-audio``, :func:`melrec_lib.recsys.peers.bliss_song_features`): every
   file analysed in a pool of as many worker processes as melrec has workers (2 on this
   machine); the pool is started and ``bliss_audio`` imported in it before the clock starts
   (bliss' own CLI has no interpreter to start: this favours bliss).
3. **the original musicnn extractor** (``musicnn.extractor.extractor(path, model="MSD_musicnn",
   input_length=3, input_overlap=False, extract_features=True)`` in its own environment, the
   mechanism of ``bench/musicnn_speed.py``: ``tools/musicnn_reference.py --time``, its
   TensorFlow import and one warm-up call not timed) on a seeded subset of ``--musicnn-tracks``
   (it takes seconds per full-length track).  Skipped, with a note, without that environment.

Printed: tracks/s and audio seconds per second of each, and the ratios of melrec cold against
bliss (target >= 2x) and the original extractor (target >= 10x), in tracks/s (the subset's rate
for musicnn) and in audio time per second (which corrects for the subset's track lengths).
``--json PATH`` also writes every timing, with the machine, the commit, the load and the library,
to ``PATH``: ``figures/library-speed.json`` is the committed run, and README's speed table
(``melrec_lib.report.speed_table``) is generated from it.

Other patch budgets
    ``--budgets 8 16 ...``: the cold run again with ``melrec recommend --patches N`` for each
    (a fresh cache each), and its ratio to the same bliss run: what a smaller budget buys in
    speed (what it costs in ROC-AUC is ``figures/patch-budget.csv``'s).

Where the time goes
    ``--stages K`` (default 8) seeded files are then embedded stage by stage in this process
    (:func:`stage_seconds`: header, span decoding, log-mel, network, beside a whole decode and
    bliss on the same file); ``--only-stages`` runs only that.

Memory
    Two libraries of ``--memory-files`` OGG Vorbis files each (mono, 44.1 kHz, written by
    soundfile from the real tracks decoded and concatenated): one of 4-minute files and one of
    ``--long-minutes``-minute files.  Each is ranked by a fresh cold ``melrec recommend``; its
    resident memory (RSS, psutil) and that of its whole process tree are read every 20 ms
    (``bench/recommend_memory.py``'s poller).  Target: the peaks do not depend on track length
    (melrec embeds a fixed budget of patches per track and decodes only those spans).

Warm rerun
    ``bench/recommend_speed.py`` times a warm rerun in its own process (JAX compiled, modules
    imported).  Here a user's rerun is timed: a fresh ``melrec recommend`` process on a library
    of ``--warm-tracks`` synthesised ``--warm-seconds`` s WAV tracks (``recommend_speed.synthesise``)
    after a cold run filled its cache.  Target: under 10 s for 500 tracks.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melrec_lib import paths
from melrec_lib.corpora import soundtracks
from melrec_lib.errors import AudioError
from melrec_lib.io import audio

BENCH = Path(__file__).resolve().parent

MELREC = Path(sys.executable).with_name("melrec")
REFERENCE_PYTHON = os.environ.get("MELREC_MUSICNN_REF_PYTHON", "/work/venvs/musicnn-ref/bin/python")
PLAYLIST = 3
MEMORY_SR = 44100
SHORT_MINUTES = 4.0
MiB = 1 << 20
POLL_S = 0.02  # bench/recommend_memory.py's polling interval


@dataclass(frozen=True)
class Track:
    """One extracted file: its soundtrack, path on disk, length in seconds and container suffix."""

    soundtrack: str
    path: str
    seconds: float
    suffix: str


def extract_tracks(debs: Path, dest: Path) -> tuple[list[Track], list[tuple[str, str]]]:
    """The development library's music files, whole and in their own formats, under ``dest/<soundtrack>/``.

    Every ``.deb`` is read by ``soundtracks._unpack`` (the library build's own selection of each
    soundtrack's music folder).  Of byte-identical copies the first by path is kept; files
    that melrec cannot read the header of, or shorter than ``soundtracks.MIN_DURATION_S``, are
    removed and listed.

    Returns
    -------
    tracks : list of Track
        Sorted by path.
    dropped : list of (path, reason)
    """
    lib = soundtracks.get_library(soundtracks.DEVELOPMENT)
    found = soundtracks.fetch(debs=debs, packages=lib.packages, progress=False)
    tracks, dropped = [], []
    for st in lib.soundtracks:
        candidates, _ = soundtracks._unpack(st, str(found[st.package]), str(dest))
        seen: set[str] = set()
        for _rel, staged, sha in candidates:
            reason = None
            if sha in seen:
                reason = "duplicate bytes"
            else:
                seen.add(sha)
                try:
                    seconds = audio.info(staged).duration_s
                except AudioError as exc:
                    reason = f"unreadable: {exc}"
                else:
                    if seconds < soundtracks.MIN_DURATION_S:
                        reason = f"shorter than {soundtracks.MIN_DURATION_S:g} s"
            if reason is None:
                tracks.append(Track(st.name, staged, seconds, Path(staged).suffix.lower()))
            else:
                os.remove(staged)
                dropped.append((staged, reason))
    return sorted(tracks, key=lambda t: t.path), dropped


def choose(n_items: int, k: int, seed: int) -> list[int]:
    """``k`` distinct indices of ``range(n_items)``, drawn with a seeded generator, in increasing order.

    Raises
    ------
    ValueError
        if ``k`` exceeds ``n_items``.
    """
    if k > n_items:
        raise ValueError(f"cannot choose {k} of {n_items}")
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n_items, size=k, replace=False))


def link_library(tracks: list[Track], src_root: Path, dest: Path) -> list[Path]:
    """Hard-link (or copy) ``tracks`` from below ``src_root`` into ``dest`` with the same relative paths."""
    out = []
    for t in tracks:
        target = dest / Path(t.path).relative_to(src_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(t.path, target)
        except OSError:
            shutil.copy2(t.path, target)
        out.append(target)
    return out


def ratio(rate_a: float, rate_b: float) -> float:
    """How many times faster ``a`` is than ``b``, from two rates (> 1: ``a`` is faster)."""
    if rate_a <= 0 or rate_b <= 0:
        raise ValueError(f"rates must be positive, got {rate_a} and {rate_b}")
    return rate_a / rate_b


def run_polled(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """Run ``cmd``: wall seconds, peak RSS (bytes) of the process and of its process tree, and stdout.

    The poller of ``bench/recommend_memory.py`` (every :data:`POLL_S` s), with stdout kept.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from recommend_memory import poll_peaks

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        peak_main, peak_tree = poll_peaks(proc, POLL_S)
        proc.wait()
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return seconds, peak_main, peak_tree, stdout


def melrec_recommend(playlist: list[Path], library: Path, data_dir: Path, out_csv: Path, patches: str | None = None):
    """One ``melrec recommend`` process on ``library`` with ``MELREC_DATA_DIR=data_dir`` (and
    ``--patches patches`` when given): :func:`run_polled`'s tuple."""
    cmd = [str(MELREC), "recommend", "--playlist", *map(str, playlist), "--library", str(library)]
    cmd += ["--top", "10", "--out", str(out_csv)] + ([] if patches is None else ["--patches", str(patches)])
    return run_polled(cmd, {**os.environ, "MELREC_DATA_DIR": str(data_dir)})


def library_sync(stdout: str) -> tuple[int, float]:
    """From ``melrec recommend``'s output: the library files it embedded and the seconds its library sync took.

    >>> library_sync("library /m: 9 audio files; embedded 6 new, 0 changed, 0 removed, 3 cached (4.5 s)")
    (6, 4.5)
    """
    m = re.search(r"^library .*: \d+ audio files; embedded (\d+) new, .*\(([\d.]+) s\)$", stdout, re.M)
    if m is None:
        raise SystemExit(f"melrec recommend printed no library line:\n{stdout[:2000]}")
    return int(m.group(1)), float(m.group(2))


def ranked_rows(path: Path) -> int:
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def _bliss_ready() -> int:
    from melrec_lib.recsys import peers

    peers.require("bliss")
    return os.getpid()


def _bliss_one(path: str) -> bool:
    from melrec_lib.recsys import peers

    try:
        peers.bliss_song_features(path)
    except AudioError:
        return False
    return True


def bliss_seconds(files: list[str], jobs: int) -> tuple[float, int]:
    """Wall seconds of bliss analysing ``files`` on a warm pool of ``jobs`` processes, and how many failed."""
    with ProcessPoolExecutor(jobs) as pool:
        for f in [pool.submit(_bliss_ready) for _ in range(4 * jobs)]:  # every worker started, bliss imported
            f.result()
        t0 = time.perf_counter()
        ok = list(pool.map(_bliss_one, files, chunksize=1))
        seconds = time.perf_counter() - t0
    return seconds, ok.count(False)


def musicnn_seconds(python: str, files: list[str]) -> float:
    """Seconds of the original extractor over ``files`` (``bench/musicnn_speed.py``'s mechanism)."""
    sys.path.insert(0, str(BENCH))
    from musicnn_speed import _original

    _original(python, files[:1], "MSD_musicnn")  # TensorFlow's first import, files into the page cache
    return _original(python, files, "MSD_musicnn")


def write_concatenations(tracks: list[Track], dest: Path, n_files: int, minutes: float, offset: int) -> list[Path]:
    """``n_files`` OGG Vorbis files of ``minutes`` min each (mono, 44.1 kHz): the tracks decoded back to back.

    File ``i`` starts with track ``offset + i`` and continues cyclically through ``tracks``, so the
    files differ.  Written block by block (libsndfile's Vorbis encoder crashes on one huge write).
    """
    import soundfile as sf

    dest.mkdir(parents=True, exist_ok=True)
    need = int(minutes * 60 * MEMORY_SR)
    out = []
    for i in range(n_files):
        path = dest / f"mix{i:02d}.ogg"
        out.append(path)
        if path.exists():  # a --workdir reused
            continue
        tmp = path.with_suffix(".part")
        written, j = 0, offset + i
        with sf.SoundFile(tmp, "w", MEMORY_SR, 1, format="OGG", subtype="VORBIS") as f:
            while written < need:
                y, _ = audio.load(tracks[j % len(tracks)].path, sr=MEMORY_SR)
                y = y[: need - written]
                for s in range(0, y.size, MEMORY_SR):
                    f.write(y[s : s + MEMORY_SR])
                written += y.size
                j += 1
        tmp.rename(path)
    return out


def stage_seconds(path: str, patches: int) -> dict[str, float]:
    """Seconds of each stage of melrec's default embedding of one file, in this process, one thread of work.

    ``header`` (``audio.info``), ``spans`` (decoding and resampling the budget's spans:
    ``budget._spans_16k``), ``log-mel`` (the patches from those samples: ``budget.track_patches``
    minus the two before), ``network`` (``musicnn.predict`` of those patches, compiled before),
    ``whole decode`` (``audio.load`` of the whole file at 16 kHz, for comparison: not a stage),
    and ``bliss`` (``bliss_song_features``, one file).
    """
    from melrec_lib.nets import budget, musicnn
    from melrec_lib.recsys import peers

    out = {}
    t0 = time.perf_counter()
    head = audio.info(path)
    out["header"] = time.perf_counter() - t0
    n_16k = int(np.ceil(head.frames * (float(musicnn.SAMPLE_RATE) / head.sample_rate)))
    _, spans = budget.patch_spans(n_16k, patches)
    t0 = time.perf_counter()
    budget._spans_16k(Path(path), spans, head)
    out["spans"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    X = budget.track_patches(path, patches)
    out["log-mel"] = max(0.0, time.perf_counter() - t0 - out["header"] - out["spans"])
    musicnn.predict(X, model="MSD_musicnn")  # this batch shape compiled
    t0 = time.perf_counter()
    musicnn.predict(X, model="MSD_musicnn")
    out["network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio.load(path, sr=musicnn.SAMPLE_RATE)
    out["whole decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    peers.bliss_song_features(path)
    out["bliss"] = time.perf_counter() - t0
    return out


def print_stages(files: list[Path], chosen: list[Track], k: int, seed: int) -> None:
    """:func:`stage_seconds` of ``k`` seeded files, one line each, and the mean per track."""
    from melrec_lib.app import pipeline

    idx = choose(len(files), min(k, len(files)), seed)
    print(f"-- stages per file, one process (budget {pipeline.DEFAULT_PATCHES} patches; load {_load()})", flush=True)
    rows = []
    for i in idx:
        st = stage_seconds(str(files[i]), pipeline.DEFAULT_PATCHES)
        rows.append(st)
        cells = "  ".join(f"{name} {v:6.2f}" for name, v in st.items())
        print(f"{chosen[i].suffix:5s} {chosen[i].seconds / 60:5.1f} min  {cells}", flush=True)
    mean = {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}
    print("mean              " + "  ".join(f"{name} {v:6.2f}" for name, v in mean.items()))


def _cpu_model() -> str:
    """The CPU's model name, as ``tools/check_results.py`` records the machine (``"?"`` if unknown)."""
    sys.path.insert(0, str(paths.ROOT / "tools"))
    from check_results import cpu_model

    return cpu_model() or "?"


def _load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=0, help="library size (default 0: every track)")
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--musicnn-tracks", type=int, default=6, help="the original extractor's subset")
    ap.add_argument("--memory-files", type=int, default=4, help="files in each memory library (0: skip)")
    ap.add_argument("--long-minutes", type=float, default=30.0)
    ap.add_argument("--warm-tracks", type=int, default=500, help="the warm-rerun library (0: skip)")
    ap.add_argument("--warm-seconds", type=float, default=10.0)
    ap.add_argument("--stages", type=int, default=8, help="files whose stages are timed one by one (0: skip)")
    ap.add_argument("--only-stages", action="store_true", help="time the stages only (no comparison runs)")
    ap.add_argument(
        "--budgets", nargs="*", default=[], metavar="N", help="also time a cold run at each of these patch budgets"
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the timings here (figures/library-speed.json)")
    ap.add_argument("--debs", type=Path, default=None, help="folder of the .deb files (default: external_dir)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the extracted files here (reused)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="bliss workers (melrec's: every core)")
    ap.add_argument("--reference-python", default=REFERENCE_PYTHON)
    args = ap.parse_args(argv)

    import bliss_audio  # noqa: F401  (fail early without the peers extra)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="library-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, work)
    finally:
        if args.workdir is None:  # about 1 GB of extracted and written audio
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path) -> int:
    """:func:`main`'s runs, in ``work``."""
    commit = subprocess.run(
        ["git", "-C", str(paths.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit or '?'}, "
        f"{platform.machine()}, {os.cpu_count()} cores, load {_load()}"
    )

    staging = work / "extracted"
    t0 = time.perf_counter()
    listing = work / "extracted.json"
    if listing.exists():  # a --workdir reused: the same packages' files
        saved = json.loads(listing.read_text())
        tracks, dropped = [Track(**t) for t in saved["tracks"]], [tuple(d) for d in saved["dropped"]]
    else:
        if staging.exists():
            shutil.rmtree(staging)
        tracks, dropped = extract_tracks(args.debs or paths.external_dir(), staging)
        listing.write_text(json.dumps({"tracks": [vars(t) for t in tracks], "dropped": dropped}))
    print(
        f"extracted {len(tracks)} full-length tracks of the development library in {time.perf_counter() - t0:.0f} s "
        f"({len(dropped)} files dropped: {sorted({r.split(':')[0] for _, r in dropped})})"
    )
    chosen = [tracks[i] for i in choose(len(tracks), args.tracks or len(tracks), args.seed)]
    lib_dir = work / "library"
    if lib_dir.exists():
        shutil.rmtree(lib_dir)
    files = link_library(chosen, staging, lib_dir)
    playlist = [files[i] for i in choose(len(files), PLAYLIST, args.seed + 1)]
    seconds = np.array([t.seconds for t in chosen])
    hours = seconds.sum() / 3600
    formats = {s: sum(t.suffix == s for t in chosen) for s in sorted({t.suffix for t in chosen})}
    print(
        f"library: {len(chosen)} tracks (seed {args.seed}), {hours:.2f} h of audio, mean {seconds.mean() / 60:.2f} min, "
        f"median {np.median(seconds) / 60:.2f} min, longest {seconds.max() / 60:.1f} min; formats {formats}; "
        f"{len({t.soundtrack for t in chosen})} soundtracks"
    )
    results: dict[str, float] = {}
    from melrec_lib.app import pipeline

    record: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "load_start": _load(),
        "library": {
            "tracks": len(chosen),
            "hours": round(hours, 2),
            "audio_seconds": round(float(seconds.sum()), 1),
            "mean_minutes": round(seconds.mean() / 60, 2),
            "formats": formats,
        },
        "default_patches": pipeline.DEFAULT_PATCHES,
    }
    if args.only_stages:
        print_stages(files, chosen, args.stages, args.seed + 3)
        return 0

    # 1. melrec, cold then warm
    data_dir = work / "melrec-data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    out_csv = work / "ranking.csv"
    print(f"-- melrec recommend, cold (load {_load()})", flush=True)
    cold, main_peak, tree_peak, stdout = melrec_recommend(playlist, lib_dir, data_dir, out_csv)
    new, sync = library_sync(stdout)
    ranked = ranked_rows(out_csv)
    if ranked != len(files) - PLAYLIST:
        raise SystemExit(f"melrec ranked {ranked} tracks, not the {len(files) - PLAYLIST} other than the playlist's")
    print(
        f"melrec cold   {cold:7.1f} s  {len(files) / cold:6.2f} tracks/s  {seconds.sum() / cold:7.0f} audio s/s  "
        f"(ranked {ranked}; peak RSS {main_peak / MiB:.0f} MiB, tree {tree_peak / MiB:.0f} MiB)",
        flush=True,
    )
    print(
        f"  of which its library sync: {new} files embedded in {sync:.1f} s, {new / sync:.2f} tracks/s "
        f"(after the playlist's {PLAYLIST}, which paid the network's compilation); the rest, "
        f"{cold - sync:.1f} s: start-up, imports, compilation, the playlist, the recommender's fit, ranking"
    )
    warm = melrec_recommend(playlist, lib_dir, data_dir, out_csv)[0]
    print(f"melrec warm   {warm:7.1f} s  {len(files) / warm:6.2f} tracks/s  (load {_load()})", flush=True)
    results.update(cold=cold, warm=warm, sync=sync)
    record.update(sync_files=new, cold_peak_mib=round(main_peak / MiB), cold_tree_peak_mib=round(tree_peak / MiB))

    # 2. bliss on the same files
    print(f"-- bliss-audio, {args.jobs} worker processes (load {_load()})", flush=True)
    b, failed = bliss_seconds([str(f) for f in files], args.jobs)
    print(
        f"bliss         {b:7.1f} s  {len(files) / b:6.2f} tracks/s  {seconds.sum() / b:7.0f} audio s/s  "
        f"({failed} files bliss could not analyse)",
        flush=True,
    )
    results["bliss"] = b

    # 3. the original musicnn extractor on a subset
    have_ref = Path(args.reference_python).is_file()
    sub_idx = choose(len(files), min(args.musicnn_tracks, len(files)), args.seed + 2)
    sub_files = [str(files[i]) for i in sub_idx]
    sub_seconds = seconds[sub_idx].sum()
    if have_ref and args.musicnn_tracks > 0:
        print(f"-- original musicnn extractor, {len(sub_files)} tracks (load {_load()})", flush=True)
        m = musicnn_seconds(args.reference_python, sub_files)
        print(
            f"musicnn orig. {m:7.1f} s  {len(sub_files) / m:6.3f} tracks/s  {sub_seconds / m:7.0f} audio s/s  "
            f"({sub_seconds / 60:.1f} min of audio)",
            flush=True,
        )
        results["musicnn"] = m
        record["musicnn_subset"] = {"tracks": len(sub_files), "audio_seconds": round(float(sub_seconds), 1)}
    else:
        print(f"# reference environment {args.reference_python} not found: the original extractor is not timed")

    # ratios
    rate = {"cold": len(files) / cold, "bliss": len(files) / b}
    audio_rate = {"cold": seconds.sum() / cold, "bliss": seconds.sum() / b}
    print(f"\nload {_load()}")
    r = ratio(rate["cold"], rate["bliss"])
    print(f"melrec cold / bliss:            {r:5.2f}x tracks/s   (target >= 2x: {'met' if r >= 2 else 'NOT met'})")
    print(f"melrec library sync / bliss:    {ratio(new / sync, rate['bliss']):5.2f}x tracks/s   (embedding alone)")
    if "musicnn" in results:
        rate["musicnn"] = len(sub_files) / results["musicnn"]
        audio_rate["musicnn"] = sub_seconds / results["musicnn"]
        r = ratio(rate["cold"], rate["musicnn"])
        ra = ratio(audio_rate["cold"], audio_rate["musicnn"])
        print(
            f"melrec cold / original musicnn: {r:5.1f}x tracks/s, {ra:5.1f}x audio time "
            f"(target >= 10x: {'met' if min(r, ra) >= 10 else 'NOT met'})"
        )
    print(f"melrec warm rerun: {warm:.1f} s for {len(files)} tracks")
    for n in args.budgets:  # the same cold run at other patch budgets, against the same bliss run
        bdata = work / f"melrec-data-patches-{n}"
        if bdata.exists():
            shutil.rmtree(bdata)
        print(f"-- melrec recommend --patches {n}, cold (load {_load()})", flush=True)
        c, b_peak, b_tree, out = melrec_recommend(playlist, lib_dir, bdata, work / f"ranking-{n}.csv", patches=n)
        shutil.rmtree(bdata, ignore_errors=True)
        results[f"cold_patches_{n}"] = c
        print(
            f"melrec cold, --patches {n:>3s}: {c:7.1f} s, {ratio(len(files) / c, rate['bliss']):5.2f}x bliss "
            f"(library sync {library_sync(out)[1]:.1f} s; peak RSS {b_peak / MiB:.0f} MiB, tree {b_tree / MiB:.0f} MiB)",
            flush=True,
        )
    if args.stages > 0:  # where melrec's time goes, file by file
        print_stages(files, chosen, args.stages, args.seed + 3)

    # 4. memory against track length
    if args.memory_files > 0:
        mem_tracks = sorted(tracks, key=lambda t: t.path)
        peaks = {}
        for label, minutes in (("4-minute", SHORT_MINUTES), (f"{args.long_minutes:g}-minute", args.long_minutes)):
            t0 = time.perf_counter()
            folder = work / f"memory-{minutes:g}min"
            mfiles = write_concatenations(mem_tracks, folder / "library", args.memory_files, minutes, offset=0)
            print(
                f"-- memory: {len(mfiles)} OGG files of {label} written in {time.perf_counter() - t0:.0f} s", flush=True
            )
            mdata = folder / "melrec-data"
            if mdata.exists():
                shutil.rmtree(mdata)
            s, main_peak, tree_peak, out = melrec_recommend(playlist, folder / "library", mdata, folder / "r.csv")
            peaks[label] = (main_peak, tree_peak)
            record.setdefault("memory", {})[f"{minutes:g}"] = {
                "files": len(mfiles),
                "peak_mib": round(main_peak / MiB),
                "tree_peak_mib": round(tree_peak / MiB),
            }
            print(
                f"memory, {label:10s} files: cold {s:6.1f} s, peak RSS {main_peak / MiB:6.0f} MiB, "
                f"tree {tree_peak / MiB:6.0f} MiB, library sync {library_sync(out)[1]:.1f} s  (load {_load()})",
                flush=True,
            )
        (s_main, s_tree), (l_main, l_tree) = peaks.values()
        print(
            f"long / 4-minute peak: process {l_main / s_main:.2f}x ({(l_main - s_main) / MiB:+.0f} MiB), "
            f"tree {l_tree / s_tree:.2f}x ({(l_tree - s_tree) / MiB:+.0f} MiB)"
        )

    # 5. warm rerun of a 500-track library, as a user reruns it (a fresh process)
    if args.warm_tracks > 0:
        sys.path.insert(0, str(BENCH))
        from recommend_speed import synthesise

        folder = work / f"warm-{args.warm_tracks}"
        wlib = folder / "library"
        if not wlib.exists():
            synthesise(wlib, args.warm_tracks, args.warm_seconds)
        wfiles = sorted(wlib.rglob("*.wav"))
        wdata = folder / "melrec-data"
        if wdata.exists():
            shutil.rmtree(wdata)
        print(
            f"-- warm rerun: {len(wfiles)} synthesised {args.warm_seconds:g} s WAV tracks (load {_load()})", flush=True
        )
        c = melrec_recommend(wfiles[:PLAYLIST], wlib, wdata, folder / "r.csv")[0]
        w = melrec_recommend(wfiles[:PLAYLIST], wlib, wdata, folder / "r.csv")[0]
        results.update(warm500_cold=c, warm500=w)
        print(
            f"{len(wfiles)} tracks: cold {c:.1f} s, warm rerun {w:.1f} s (a fresh process; target < 10 s: "
            f"{'met' if w < 10 else 'NOT met'})  (load {_load()})"
        )
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))
    if args.json is not None:
        record["seconds"] = {k: round(v, 2) for k, v in results.items()}
        record["load_end"] = _load()
        if args.warm_tracks > 0:
            record["warm_tracks"] = args.warm_tracks
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
