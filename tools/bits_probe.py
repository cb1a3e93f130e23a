"""Where do two x86-64 machines' numbers first part?  Stage digests under other BLAS kernels.

OpenBLAS (numpy's BLAS) picks its kernels for the processor it runs on (DYNAMIC_ARCH), and
``OPENBLAS_CORETYPE`` makes it pick another machine's.  This tool computes one 8 s fragment of a
track stage by stage (decoded samples, DFT magnitudes, the mel product, its normalisation) in a
fresh process per core type and prints a SHA-256 prefix of each stage, so the first stage whose
bits differ between core types is the first place two machines part.  The mel product is shown
both ways: in float32 (the pipeline until 2026-12-06: its bits depend on the kernel) and summed in
float64, rounded once to float32 (``dsp.spectrum.mel_product``, the pipeline since).

    python tools/bits_probe.py                       # the smoke corpus' rock example track
    python tools/bits_probe.py --track some.wav --coretypes Haswell SkylakeX Zen

Only core types this processor can run are tried (a kernel needing AVX-512 on a processor
without it would crash the child).  The project's own code never sets ``OPENBLAS_CORETYPE``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Core types and the CPU flags their kernels need (``/proc/cpuinfo``).
CORETYPES = {
    "Prescott": ("pni",),  # SSE3 is "pni" in /proc/cpuinfo
    "Sandybridge": ("avx",),
    "Haswell": ("avx2", "fma"),
    "Zen": ("avx2", "fma"),
    "SkylakeX": ("avx512f", "avx512bw", "avx512vl", "avx512dq"),
    "CooperLake": ("avx512f", "avx512_bf16"),
    "SapphireRapids": ("avx512f", "avx512_bf16", "amx_tile"),
}
OFFSET_S = 2.0


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def runnable(coretypes, flags: set[str]) -> list[str]:
    return [c for c in coretypes if set(CORETYPES.get(c, ())) <= flags]


def stages(track: str) -> dict:
    """The digests of every stage of one fragment (librosa bank, log normalisation)."""
    import numpy as np
    import scipy.fft
    from threadpoolctl import threadpool_info

    from melrec_lib.dsp import blas, filters, fragments, spectrum
    from melrec_lib.io import audio

    def h(a) -> str:
        return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:12]

    y, sr = audio.load(track, thesis=True)
    n_fft = filters.frame_length(sr)
    start = int(OFFSET_S * sr)
    frames = y[start : start + filters.FRAGMENT_FRAMES * n_fft].reshape(filters.FRAGMENT_FRAMES, n_fft)
    key = ("librosa", sr, filters.FRAME_DURATION, filters.FMAX, filters.N_MELS, True, None)
    _, lo, hi, bank = filters._bank(*key)
    mag = np.abs(scipy.fft.rfft(frames, axis=-1)[:, lo:hi]).astype(np.float32)
    with blas.one_blas_thread():
        mel32 = mag @ bank
        mel64 = spectrum.mel_product(mag, key)
    floor = np.float32(1e-4)
    frag = fragments.fragments(
        y, sr, [OFFSET_S], fragments.SpectrogramConfig(filterbank="librosa", normalization="log")
    )
    kernels = sorted({str(i.get("architecture")) for i in threadpool_info() if i.get("user_api") == "blas"})
    return {
        "BLAS kernels": ", ".join(kernels),
        "samples": h(y),
        "DFT magnitudes": h(mag),
        "mel, float32 product (the old pipeline)": h(mel32),
        "mel, float64 sums -> float32 (the pipeline)": h(mel64),
        "log of the float32 product": h(np.log10(np.maximum(mel32 / mel32.max(), floor))),
        "log of the float64 product": h(np.log10(np.maximum(mel64 / mel64.max(), floor))),
        "fragment (fragments.fragments)": h(frag),
        "fragment median": repr(float(np.median(frag))),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--track", help="an audio file (default: the smoke corpus' rock example)")
    ap.add_argument("--coretypes", nargs="+", default=list(CORETYPES))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(stages(args.track)))
        return 0
    if args.track is None:
        from melrec_lib.corpora import melrec_synth

        args.track = str(melrec_synth.example_track("rock"))
    types = runnable(args.coretypes, cpu_flags())
    rows = {}
    for ct in [None, *types]:
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        if ct is not None:
            env["OPENBLAS_CORETYPE"] = ct
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--track", args.track], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            print(f"{ct}: the child failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows[ct or "(this CPU's own)"] = json.loads(out.stdout.strip().splitlines()[-1])
    names = list(next(iter(rows.values())))
    width = max(map(len, names))
    print(f"{'':{width}}  " + "  ".join(f"{c:>16}" for c in rows))
    for name in names:
        values = [r[name] for r in rows.values()]
        mark = "  " if len(set(values)) == 1 else "<>"
        print(f"{name:{width}}{mark}" + "  ".join(f"{v:>16}" for v in values))
    print("\n<> marks a stage whose bits differ between core types.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
