"""Music theory helpers: keys, diatonic chords, and the beat -> seconds time map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor (aeolian)
    "harmonic": (0, 2, 3, 5, 7, 8, 11),  # harmonic minor: the leading tone of functional V
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}


@dataclass(frozen=True)
class Key:
    """A key: tonic pitch class (0 = C) and a mode from :data:`SCALES`."""

    tonic: int
    mode: str

    @property
    def name(self) -> str:
        """``"E minor"``-style name, as stored in the manifest's ``key`` column."""
        return f"{PITCH_NAMES[self.tonic % 12]} {self.mode}"

    @property
    def scale(self) -> tuple[int, ...]:
        return SCALES[self.mode]

    def degree_pitch(self, degree: int, octave: int = 4) -> int:
        """MIDI pitch of scale ``degree`` (0-based, may exceed 6 or be negative) in ``octave``."""
        scale = self.scale
        octs, idx = divmod(degree, len(scale))
        return 12 * (octave + 1 + octs) + self.tonic + scale[idx]

    def chord(self, degree: int, *, size: int = 3, octave: int = 3, scale: str | None = None) -> list[int]:
        """Diatonic chord on ``degree`` stacked in thirds: 3 = triad, 4 = seventh chord, 5 = ninth.

        ``scale`` overrides the key's scale (e.g. ``"harmonic"`` for a major dominant in minor).
        """
        sc = SCALES[scale or self.mode]
        out = []
        for k in range(size):
            d = degree + 2 * k
            octs, idx = divmod(d, 7)
            out.append(12 * (octave + 1 + octs) + self.tonic + sc[idx])
        return out

    def scale_pitches(self, lo: int, hi: int) -> np.ndarray:
        """All pitches of the key's scale in ``[lo, hi]`` (MIDI numbers), ascending."""
        pcs = {(self.tonic + s) % 12 for s in self.scale}
        return np.array([p for p in range(lo, hi + 1) if p % 12 in pcs])


def voice_near(chord: list[int], center: int) -> list[int]:
    """Move each chord tone by octaves to lie within +-6 semitones of ``center``; sorted."""
    out = []
    for p in chord:
        while p < center - 6:
            p += 12
        while p > center + 6:
            p -= 12
        out.append(p)
    return sorted(set(out))


class TimeMap:
    """Map score positions in beats to seconds, with swing and optional rubato.

    Parameters
    ----------
    bpm : float > 0
        Notated tempo (quarter notes per minute).
    swing : float in [0, 0.5)
        Delay of the off-beat subdivision, as a fraction of that subdivision's pair
        (0 = straight; 1/3 = triplet swing: the second eighth falls at 2/3 of the beat).
    swing_unit : float
        The swung subdivision in beats: 0.5 for swung eighths (jazz), 0.25 for swung 16ths (hip-hop).
    rubato : float >= 0
        Relative depth of a slow tempo wave (one period per phrase) plus a final ritardando.
    total_beats : float
        Length of the score in beats (needed for rubato's integration grid).
    """

    def __init__(
        self,
        *,
        bpm: float,
        swing: float = 0.0,
        swing_unit: float = 0.5,
        rubato: float = 0.0,
        total_beats: float = 512.0,
        phrase_beats: float = 16.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.bpm = float(bpm)
        self.swing = float(swing)
        self.swing_unit = float(swing_unit)
        self.rubato = float(rubato)
        self._grid = None
        if rubato > 0:
            step = 1.0 / 64
            b = np.arange(0.0, total_beats + 8 + step, step)
            phase = 0.0 if rng is None else rng.uniform(0, 2 * np.pi)
            rel = 1.0 + rubato * np.sin(2 * np.pi * b / phrase_beats + phase)
            # a ritardando over the last 4 beats of each phrase (phrase endings breathe)
            pos = np.mod(b, phrase_beats)
            rel -= rubato * np.clip((pos - (phrase_beats - 4)) / 4, 0, 1) * 1.5
            rel = np.clip(rel, 0.5, 1.5)
            sec_per_beat = 60.0 / (self.bpm * rel)
            t = np.concatenate([[0.0], np.cumsum(sec_per_beat[:-1]) * step])
            self._grid = (b, t)

    def swung(self, beat: float) -> float:
        """Apply swing to a position in beats (straight positions on the swung grid move)."""
        if self.swing <= 0:
            return beat
        pair = 2 * self.swing_unit
        base = np.floor(beat / pair + 1e-9) * pair
        frac = (beat - base) / pair  # 0..1 within the pair
        # piecewise linear: the first half of the pair stretches to (0.5 + swing), the second shrinks
        s = 0.5 + self.swing
        warped = frac * (s / 0.5) if frac <= 0.5 else s + (frac - 0.5) * ((1 - s) / 0.5)
        return base + warped * pair

    def __call__(self, beat: float) -> float:
        """Seconds at score position ``beat`` (after swing)."""
        b = self.swung(beat)
        if self._grid is None:
            return b * 60.0 / self.bpm
        return float(np.interp(b, *self._grid))
