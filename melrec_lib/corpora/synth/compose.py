"""Compose one track's score: form, harmony, drums, bass, comping, lead -> ``pretty_midi``.

Everything random comes from ``numpy.random.default_rng(spec.seed)``, so a spec always yields
the same score.  Positions are written in beats and mapped to seconds by a
:class:`~melrec_lib.corpora.synth.theory.TimeMap` (swing, rubato), then humanised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pretty_midi

from melrec_lib.corpora.synth.styles import (
    CHH,
    CLAP,
    CRASH,
    KICK,
    OHH,
    RIDE,
    SNARE,
    STYLES,
    TOM_FLOOR,
    TOM_HI,
    TOM_LO,
    TOM_MID,
    VELOCITY,
    ArtistPalette,
    SubStyle,
)
from melrec_lib.corpora.synth.theory import Key, TimeMap, voice_near

CYMBALS = {CHH, OHH, CRASH, RIDE, 44, 46, 52, 53, 54, 70}


@dataclass(frozen=True)
class TrackSpec:
    """Everything that determines one track (its seed drives every remaining choice).

    Parameters
    ----------
    track_id : str
        Unique id, also the WAV file stem.
    palette : ArtistPalette
        The artist's fixed choices (genre, sub-style, instruments, mix...).
    tempo_bpm : float > 0
        Notated tempo in quarter notes per minute.
    key : Key
        Tonic and mode.
    duration_s : float > 0
        Length of the rendered audio in seconds.
    seed : int >= 0
        Seed of the track's own random choices (form, riffs, melody, humanisation).
    """

    track_id: str
    palette: ArtistPalette
    tempo_bpm: float
    key: Key
    duration_s: float
    seed: int

    @property
    def genre(self) -> str:
        return self.palette.genre

    @property
    def substyle(self) -> str:
        return self.palette.substyle

    @property
    def artist(self) -> str:
        return self.palette.name


# ---------------------------------------------------------------------------- helpers


def _steps(pattern: str) -> list[tuple[float, int]]:
    """``"x--o"`` -> [(beat offset, velocity)] over one 4/4 bar."""
    step = 4.0 / len(pattern)
    return [(i * step, VELOCITY[c]) for i, c in enumerate(pattern) if c in VELOCITY]


def _into(p: int, lo: int, hi: int) -> int:
    """Move pitch ``p`` by octaves into ``[lo, hi)``."""
    while p < lo:
        p += 12
    while p >= hi:
        p -= 12
    return p


class _Score:
    """Notes per role in beats: (beat, duration, pitch, velocity); CCs and bends per role."""

    def __init__(self) -> None:
        self.notes: dict[str, list] = {}
        self.cc: dict[str, list] = {}
        self.bends: dict[str, list] = {}

    def add(self, role: str, beat: float, dur: float, pitch: int, vel: float) -> None:
        if 0 < pitch < 128:
            self.notes.setdefault(role, []).append((beat, dur, int(pitch), int(np.clip(vel, 1, 127))))

    def chord(self, role: str, beat: float, dur: float, pitches, vel: float) -> None:
        for p in pitches:
            self.add(role, beat, dur, p, vel)


def _form(rng: np.random.Generator, n_bars: int, classical: bool) -> list[tuple[str, int]]:
    """Sections (name, bars) covering at least ``n_bars`` bars: intro, verse/chorus, breaks, outro.

    The intro takes 2 or 4 bars, but never more than a fifth of the track (short tracks of
    slow genres would otherwise be mostly intro).
    """
    intro = int(rng.choice([2, 4]))
    if intro > max(2, n_bars // 5):
        intro = 2
    form = [("intro", intro)]
    total = form[0][1]
    order = ["verse", "chorus"]
    i = 0
    while total < n_bars:
        name = order[i % 2]
        if i >= 2 and rng.random() < 0.35:
            name = "break"
        bars = int(rng.choice([4, 8])) if name != "break" else int(rng.choice([2, 4]))
        if classical and name == "verse":
            bars = 8
        form.append((name, bars))
        total += bars
        i += 1
    if len(form) > 2 and form[-1][0] != "break":
        form.append(("outro", 2))
    return form


# ---------------------------------------------------------------------------- composer


class _Composer:
    def __init__(self, spec: TrackSpec) -> None:
        self.spec = spec
        self.pal: ArtistPalette = spec.palette
        self.style: SubStyle = STYLES[self.pal.genre][self.pal.substyle]
        self.rng = np.random.default_rng(spec.seed)
        self.key: Key = spec.key
        self.score = _Score()
        rng = self.rng
        st = self.style
        pool = list(self.pal.progressions)
        self.progs = {"verse": pool[int(rng.integers(len(pool)))], "chorus": pool[int(rng.integers(len(pool)))]}
        self.progs["intro"] = self.progs["verse"]
        self.progs["break"] = self.progs["verse"]
        self.progs["outro"] = self.progs["chorus"]
        # per-track rhythmic ideas (riffs, loops, motifs) reused across the track
        self.riff = [int(rng.choice([0, 0, 0, 0, 1, 3, 5, 6, 7, -1, -1])) for _ in range(16)]
        self.riff[0] = 0
        stabs = ["x--x--x---x-----", "--x--x----x--x--", "x-----x-x-----x-", "x--x---x--x-x---"]
        if st.genre == "drum-and-bass":  # dotted (3+3+2) stabs at 174 BPM read as a 116 BPM pulse
            stabs = ["x-------x-------", "x---------x-----", "x---x-------x---"]
        elif st.genre == "dubstep":  # likewise at 140 BPM (a 93 BPM pulse)
            stabs = ["x-------x-------", "x---x-------x---", "x-x-----x-x-----"]
        self.stab = str(rng.choice(stabs))
        self.bass_rhythm = str(
            rng.choice(["x--x--x-x-------", "x-----x-x--x----", "x--x----x-x-x---", "x-x---x---x--x--"])
        )
        # a one-bar "sample loop": chord hits on the beats, melodic notes of the chord in between
        extra = rng.choice([1, 3, 5, 7, 9, 11, 13, 15, 6, 14], size=int(rng.integers(2, 4)), replace=False) / 4.0
        self.loop = sorted(
            [(float(b), 0) for b in (0.0, 1.0, 2.0, 3.0)] + [(float(b), int(rng.integers(1, 4))) for b in extra]
        )
        self.bell_rhythm = [0.0, 1.0, 2.0, 3.0] + sorted(
            rng.choice([0.5, 1.5, 2.5, 3.5, 1.75, 3.75], size=int(rng.integers(0, 3)), replace=False).tolist()
        )
        self.bell_rhythm.sort()
        self.motifs: dict[str, list] = {}
        self.patterns = {}
        if st.drums:
            for sec, variants in st.drums.items():
                k = (self.pal.pattern_bias + (int(rng.integers(0, 3)) == 0)) % len(variants)
                self.patterns[sec] = variants[k]
            self.patterns["intro"] = {k: v for k, v in self.patterns["verse"].items() if k in CYMBALS}
            self.patterns["outro"] = self.patterns["chorus"]

    # -- harmony -------------------------------------------------------------
    def chord_at(self, section: str, beat_in_section: float) -> tuple[int, list[int]]:
        prog = self.progs[section]
        bpc = self.style.beats_per_chord
        degree = prog[int(beat_in_section // bpc) % len(prog)]
        size = self.style.chord_size
        scale = None
        if self.key.mode == "harmonic" and degree not in (4, 6):
            scale = "minor"  # harmonic minor only for V and vii (functional dominants)
        return degree, self.key.chord(degree, size=size, octave=3, scale=scale)

    # -- main ----------------------------------------------------------------
    def compose(self) -> tuple[_Score, float]:
        spec, st = self.spec, self.style
        bar_sec = 4 * 60.0 / spec.tempo_bpm
        n_bars = math.ceil(spec.duration_s / bar_sec) + 1
        form = _form(self.rng, n_bars, st.genre == "classical")
        beat = 0.0
        for si, (section, bars) in enumerate(form):
            last_section = si == len(form) - 1
            for b in range(bars):
                bs = beat + 4 * b
                local = 4.0 * b
                fill = (b == bars - 1) and not last_section and self.rng.random() < 0.7
                self.bar(section, bs, local, b, bars, fill)
            beat += 4 * bars
        return self.score, beat

    def bar(self, section: str, beat: float, local: float, b: int, bars: int, fill: bool) -> None:
        st, rng = self.style, self.rng
        roles = {
            "intro": {"comp", "pad"} | ({"bass"} if rng.random() < 0.3 else set()),
            "verse": {"bass", "comp", "lead", "pad"},
            "chorus": {"bass", "comp", "lead", "pad"},
            "break": {"bass", "pad"} if st.genre != "classical" else {"lead", "pad"},
            "outro": {"bass", "comp", "pad"},
        }[section]
        if st.drums:
            self.drums(section, beat, b, fill)
        if "bass" in roles:
            self.bass(section, beat, local)
        if "comp" in roles:
            self.comp(section, beat, local)
        if "pad" in roles and st.pad:
            for off in np.arange(0, 4, min(4.0, st.beats_per_chord)):
                _, ch = self.chord_at(section, local + off)
                self.score.chord("pad", beat + off, min(4.0, st.beats_per_chord), voice_near(ch, 64), 58)
        if "bubble" in self.pal.programs and section != "intro":  # reggae organ "bubble" on the off-beats
            _, ch = self.chord_at(section, local)
            for off in (0.5, 1.5, 2.5, 3.5):
                self.score.chord("bubble", beat + off, 0.3, voice_near(ch, 60), 60)
        if "lead" in roles:
            self.lead(section, beat, local, b)

    # -- drums ---------------------------------------------------------------
    def drums(self, section: str, beat: float, b: int, fill: bool) -> None:
        pat = self.patterns.get(section, {})
        sc = self.score
        for key, pattern in pat.items():
            for off, vel in _steps(pattern):
                if fill and off >= 3.0 and key not in CYMBALS:
                    continue
                if key == CRASH and b > 0 and off == 0 and section not in ("chorus", "outro"):
                    continue
                sc.add("drums", beat + off, 1.5 if key in CYMBALS else 0.25, key, vel)
        if b == 0 and section in ("chorus", "verse", "outro") and self.style.genre != "jazz":
            sc.add("drums", beat, 2.0, CRASH, 110)
        if fill:
            toms = [SNARE, SNARE, TOM_HI, TOM_MID, TOM_LO, TOM_FLOOR]
            electronic = self.style.genre in ("drum-and-bass", "dubstep", "hip-hop", "pop")
            kind = "snare" if electronic else str(self.rng.choice(["toms", "snare"]))
            n = 4 if self.style.genre == "jazz" else 8
            for i in range(n):
                off = 3.0 + i / n
                if kind == "snare":
                    note = SNARE if self.style.genre != "hip-hop" else CLAP
                else:
                    note = toms[min(len(toms) - 1, i * len(toms) // n)]
                sc.add("drums", beat + off, 0.2, note, 70 + 40 * i / n)

    # -- bass ----------------------------------------------------------------
    def _bass_root(self, ch: list[int]) -> int:
        lo = 26 if self.style.octave_shift < 0 else 28
        return _into(ch[0], lo, lo + 12)

    def bass(self, section: str, beat: float, local: float) -> None:
        st, sc, rng = self.style, self.score, self.rng
        kind = st.bass
        _, ch = self.chord_at(section, local)
        root = self._bass_root(ch)
        if kind == "root8":
            for i in range(8):
                _, ch = self.chord_at(section, local + i / 2)
                r = self._bass_root(ch)
                sc.add(
                    "bass",
                    beat + i / 2,
                    0.45,
                    r + (12 if i == 7 and rng.random() < 0.3 else 0),
                    100 if i % 2 == 0 else 84,
                )
        elif kind in ("kick", "808"):
            hits = [off for off, _ in _steps(self.patterns.get(section, {}).get(KICK, "x-------x-------"))] or [0.0]
            for j, off in enumerate(hits):
                end = hits[j + 1] if j + 1 < len(hits) else 4.0
                _, ch = self.chord_at(section, local + off)
                r = self._bass_root(ch)
                if kind == "808":
                    r = _into(r, 31, 43)
                    dur = end - off
                else:
                    dur = min(end - off, 1.0) * 0.9
                sc.add("bass", beat + off, dur, r, 105)
        elif kind in ("walking", "continuo"):
            scale = self.key.scale_pitches(28, 55)
            for q in range(4):
                _, ch = self.chord_at(section, local + q)
                r = _into(ch[0], 31, 43)
                if q == 0 or (st.beats_per_chord <= 2 and q == 2):
                    p = r
                elif q == 3 and kind == "walking":
                    _, nxt = self.chord_at(section, local + 4)
                    p = _into(nxt[0], 31, 43) + int(rng.choice([-1, 1]))
                else:
                    p = int(
                        rng.choice([_into(c, 31, 50) for c in ch[1:]] + [int(scale[np.argmin(abs(scale - r)) + 1])])
                    )
                sc.add("bass", beat + q, 0.9, p, 92 + 8 * (q == 0))
                if kind == "continuo" and rng.random() < 0.5:
                    sc.add(
                        "bass",
                        beat + q + 0.5,
                        0.45,
                        int(scale[np.clip(np.argmin(abs(scale - p)) + int(rng.choice([-1, 1])), 0, len(scale) - 1)]),
                        80,
                    )
        elif kind == "reggae":
            tones = [root, root, root + 7, root + 12, _into(ch[1], root, root + 12)]
            for off, vel in _steps(self.bass_rhythm):
                if st.name == "one-drop" and off == 0 and rng.random() < 0.5:
                    continue
                sc.add("bass", beat + off, 0.4, int(rng.choice(tones)), vel + 10)
        elif kind == "offbeat":
            for off in (0.5, 1.5, 2.5, 3.5):
                sc.add("bass", beat + off, 0.35, root + 12 * (rng.random() < 0.25), 100)
        elif kind == "ballad":
            sc.add("bass", beat, 1.9, root, 95)
            sc.add("bass", beat + 2, 1.4, root + int(rng.choice([7, 7, 12, 0])), 85)
            sc.add("bass", beat + 3.5, 0.45, root + int(rng.choice([7, 5, 2])), 75)
        elif kind in ("sub", "reese"):
            if local % st.beats_per_chord == 0:
                r = _into(root, 24 + 7, 36 + 7)
                sc.add("bass", beat, min(st.beats_per_chord, 4.0) - 0.05, r, 110)
                if kind == "reese":
                    for k in range(int(4 * 8)):
                        sc.bends.setdefault("bass", []).append(
                            (beat + k / 8, int(900 * math.sin(2 * math.pi * k / 16)))
                        )
            if kind == "sub" and rng.random() < 0.4:
                sc.add("bass", beat + 2.5, 1.4, _into(root, 31, 43) + 7, 95)
        elif kind in ("wobble", "sub_wobble"):
            r = _into(root, 26, 38) if kind == "wobble" else _into(root, 28, 40)
            rate = float(rng.choice([1.0, 0.5, 1 / 3, 0.25])) if kind == "wobble" else 2.0
            sc.add("bass", beat, 3.95, r, 115)
            for k in range(64):
                t = k / 16
                val = 0.5 - 0.5 * math.cos(2 * math.pi * t / rate)
                sc.cc.setdefault("bass", []).append((beat + t, 11, int(20 + 107 * val)))
            if kind == "wobble" and rng.random() < 0.5:
                for k in range(16):
                    sc.bends.setdefault("bass", []).append((beat + 2 + k / 8, int(-1500 * math.sin(math.pi * k / 16))))
        elif kind == "pedal":
            sc.add("bass", beat, 3.8, _into(root, 36, 48), 78)
            if rng.random() < 0.5:
                sc.add("bass", beat + 2, 1.8, _into(root, 36, 48) + 7, 70)

    # -- comping -------------------------------------------------------------
    def _power(self, ch: list[int], low: int = 40) -> list[int]:
        lo = low - 5 if self.style.octave_shift < 0 else low
        r = _into(ch[0], lo, lo + 12)
        return [r, r + 7, r + 12]

    def comp(self, section: str, beat: float, local: float) -> None:
        st, sc, rng = self.style, self.score, self.rng
        kind = st.comp
        chorus = section in ("chorus", "outro")
        _, ch = self.chord_at(section, local)
        if kind == "tremolo":
            if chorus:
                for i in range(8):
                    _, c = self.chord_at(section, local + i / 2)
                    sc.chord("comp", beat + i / 2, 0.45, self._power(c), 100)
            else:
                for i in range(16):
                    off = self.riff[i]
                    if off < 0:
                        continue
                    sc.chord(
                        "comp",
                        beat + i / 4,
                        0.22,
                        self._power(ch)[:2] if off == 0 else [self._power(ch)[0] + off],
                        95 if i % 4 == 0 else 80,
                    )
        elif kind == "riff_kick":
            hits = [off for off, _ in _steps(self.patterns.get(section, {}).get(KICK, "x-------"))]
            for j, off in enumerate(hits):
                end = hits[j + 1] if j + 1 < len(hits) else 4.0
                _, c = self.chord_at(section, local + off)
                sc.chord("comp", beat + off, (end - off) * (0.9 if chorus else 0.5), self._power(c), 105)
        elif kind in ("power8", "strum_power"):
            if kind == "strum_power" and chorus:
                for off, vel in _steps("x--x--x-x-x-x---"):
                    _, c = self.chord_at(section, local + off)
                    sc.chord("comp", beat + off, 0.7, voice_near(c, 55) + [voice_near(c, 55)[0] + 12], vel)
            else:
                for i in range(8):
                    _, c = self.chord_at(section, local + i / 2)
                    sc.chord("comp", beat + i / 2, 0.4 if chorus else 0.25, self._power(c), 100 if i % 2 == 0 else 85)
        elif kind == "skank":
            for off in (1.0, 3.0):
                sc.chord("comp", beat + off, 0.25, voice_near(ch, 67), 100)
        elif kind == "skank_dub":
            for off in (1.0, 3.0):
                for e in range(3):
                    sc.chord("comp", beat + off + e * 0.75, 0.2, voice_near(ch, 67), 90 * 0.55**e)
        elif kind == "stabs":
            for off, vel in _steps(self.stab):
                _, c = self.chord_at(section, local + off)
                sc.chord("comp", beat + off, 0.3, voice_near(c, 62), vel)
        elif kind == "rhodes":
            _, c = self.chord_at(section, local)
            sc.chord("comp", beat, 1.9, voice_near(c, 62), 80)
            sc.chord("comp", beat + 2.5, 1.2, voice_near(c, 62), 70)
        elif kind == "loop":
            for off, idx in self.loop:
                _, c = self.chord_at(section, local + off)
                v = voice_near(c, 64)
                if idx == 0:
                    sc.chord("comp", beat + off, 0.45, v, 85 if off in (0.0, 2.0) else 72)
                else:
                    sc.add("comp", beat + off, 0.3, v[idx % len(v)] + 12, 60)
        elif kind == "bells":
            v = voice_near(ch, 76)
            for i, off in enumerate(self.bell_rhythm):
                sc.add(
                    "comp",
                    beat + off,
                    0.45,
                    v[(i * 2 + (i // 3)) % len(v)] + 12 * (i % 4 == 3),
                    90 if off % 1 == 0 else 65,
                )
        elif kind == "block":
            for q in range(8 if chorus else 4):
                step = 0.5 if chorus else 1.0
                _, c = self.chord_at(section, local + q * step)
                sc.chord("comp", beat + q * step, step * 0.9, voice_near(c, 62), 80 + 10 * (q % 2 == 0))
        elif kind == "charleston":
            rhythm = str(rng.choice(["x--x----", "---x--x-", "x-----x-", "--x--x--", "x--x--x-"]))
            for off, vel in _steps(rhythm):
                _, c = self.chord_at(section, local + off)
                shell = voice_near([c[1], c[3] if len(c) > 3 else c[2], c[0] + 14], 62)
                sc.chord("comp", beat + off, 0.6, shell, vel - 10)
        elif kind == "figuration":
            for i in range(16):
                _, c = self.chord_at(section, local + i / 4)
                v = voice_near(c, 69)
                seq = v + [v[0] + 12]
                idx = [0, 1, 2, 3, 2, 1][i % 6] % len(seq)
                sc.add("comp", beat + i / 4, 0.24, seq[idx], 78 + 12 * (i % 4 == 0))
        elif kind == "alberti":
            triplets = self.pal.pattern_bias % 2 == 1
            n = 12 if triplets else 8
            for i in range(n):
                _, c = self.chord_at(section, local + 4 * i / n)
                v = voice_near(c, 57)
                order = [0, 2, 1, 2] if not triplets else [0, 1, 2]
                sc.add(
                    "comp",
                    beat + 4 * i / n,
                    4 / n * 1.5,
                    v[order[i % len(order)] % len(v)],
                    70 + 10 * (i % (n // 4) == 0),
                )

    # -- lead ----------------------------------------------------------------
    def _motif(self, section: str) -> list[tuple[float, float, int]]:
        """A 2-bar rhythm with scale-step contour (beat, dur, step); cached per section kind."""
        key = "chorus" if section in ("chorus", "outro") else "verse"
        if key in self.motifs:
            return self.motifs[key]
        rng, st = self.rng, self.style
        dens = self.pal.lead_density * (1.25 if key == "chorus" else 0.8)
        kind = st.lead
        grid = 0.5 if kind != "riff" else 0.25
        pos = np.arange(0, 8, grid)
        if kind == "sparse":
            onsets = sorted(rng.choice(pos[::4], size=int(rng.integers(1, 4)), replace=False))
        elif kind == "bebop":
            onsets = [p for p in pos if rng.random() < 0.92]
        else:
            onsets = [p for p in pos if (p % 2 == 0 and rng.random() < 0.8) or rng.random() < dens]
        if not onsets:
            onsets = [0.0]
        out = []
        step = int(rng.integers(0, 5))
        for j, o in enumerate(onsets):
            nxt = onsets[j + 1] if j + 1 < len(onsets) else 8.0
            step += int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
            step = int(np.clip(step, -2, 9))
            dur = (nxt - o) * (0.95 if kind in ("sparse", "melody") else 0.8)
            out.append((float(o), float(min(dur, 4.0)), step))
        self.motifs[key] = out
        return out

    def lead(self, section: str, beat: float, local: float, b: int) -> None:
        st, sc, rng = self.style, self.score, self.rng
        kind = st.lead
        chorus = section in ("chorus", "outro")
        if kind in ("hook", "riff") and not chorus:
            return
        if kind == "sparse" and rng.random() < 0.4:
            return
        if b % 2 == 1:
            return  # motifs span two bars
        base = 67 if chorus else 62
        scale = self.key.scale_pitches(48, 96)
        start = int(np.argmin(abs(scale - base)))
        for o, dur, step in self._motif(section):
            _, ch = self.chord_at(section, local + o)
            p = int(scale[np.clip(start + step, 0, len(scale) - 1)])
            if o % 1 == 0:  # strong beats land on a chord tone
                tones = [t for t in range(p - 4, p + 5) if t % 12 in {c % 12 for c in ch}]
                if tones:
                    p = min(tones, key=lambda t: abs(t - p))
            if kind == "bebop" and o % 1 != 0 and rng.random() < 0.3:
                p += int(rng.choice([-1, 1]))  # chromatic passing tone
            vel = 90 + 10 * chorus + (8 if o % 2 == 0 else 0)
            sc.add("lead", beat + o, dur, p, vel)


def _to_midi(score: _Score, spec: TrackSpec, total_beats: float, rng: np.random.Generator) -> pretty_midi.PrettyMIDI:
    pal = spec.palette
    style = STYLES[pal.genre][pal.substyle]
    tm = TimeMap(
        bpm=spec.tempo_bpm,
        swing=pal.swing,
        swing_unit=style.swing_unit,
        rubato=pal.rubato,
        total_beats=total_beats,
        rng=rng,
    )
    pm = pretty_midi.PrettyMIDI(initial_tempo=float(spec.tempo_bpm))
    jitter = pal.tightness_ms / 1000.0
    for role in ("drums", "bass", "comp", "pad", "bubble", "lead"):
        notes = score.notes.get(role)
        if not notes:
            continue
        if role == "drums":
            inst = pretty_midi.Instrument(program=max(pal.kit, 0), is_drum=True, name="drums")
        else:
            inst = pretty_midi.Instrument(program=pal.programs.get(role, pal.programs.get("comp", 0)), name=role)
        inst.control_changes.append(pretty_midi.ControlChange(7, pal.volumes.get(role, 100), 0.0))
        last_end: dict[int, float] = {}
        for beat, dur, pitch, vel in sorted(notes):
            t0 = tm(beat) + float(rng.normal(0, jitter * (0.6 if role == "drums" else 1.0)))
            t1 = tm(beat + dur) + float(rng.normal(0, jitter * 0.5))
            t0 = max(t0, 0.0)
            t1 = max(t1, t0 + 0.03)
            v = int(np.clip(vel + rng.normal(0, 6), 1, 127))
            if pitch in last_end and last_end[pitch] > t0:  # trim the previous note of this pitch
                for n in reversed(inst.notes):
                    if n.pitch == pitch:
                        n.end = max(n.start + 0.01, t0 - 0.002)
                        break
            inst.notes.append(pretty_midi.Note(velocity=v, pitch=pitch, start=t0, end=t1))
            last_end[pitch] = t1
        for beat, number, value in score.cc.get(role, []):
            inst.control_changes.append(pretty_midi.ControlChange(number, int(value), tm(beat)))
        for beat, value in score.bends.get(role, []):
            inst.pitch_bends.append(pretty_midi.PitchBend(int(np.clip(value, -8192, 8191)), tm(beat)))
        pm.instruments.append(inst)
    return pm


def compose(spec: TrackSpec) -> pretty_midi.PrettyMIDI:
    """The score of one track.

    Parameters
    ----------
    spec : TrackSpec
        Artist palette, tempo, key, duration and seed of the track.

    Returns
    -------
    pm : pretty_midi.PrettyMIDI
        One instrument per role (drums, bass, comp, pad, bubble, lead); note times in seconds,
        covering at least ``spec.duration_s``.  Drum kits are in ``program`` of the drum track.
    """
    composer = _Composer(spec)
    score, total_beats = composer.compose()
    return _to_midi(score, spec, total_beats, composer.rng)
