"""Play a ``pretty_midi`` score through ``tinysoundfont`` with pretty_midi's General MIDI font.

The synthesiser is driven directly from the note lists: one sorted event list (note-offs before
note-ons at equal times), audio generated between events into one preallocated buffer.  One
:class:`tinysoundfont.Synth` is loaded per process and reset between tracks; the reset is
complete (all voices silenced and flushed, every channel's controllers, bend and program set
again), so a track renders to the same samples whatever was rendered before it.
"""

from __future__ import annotations

import pathlib
import zlib

import numpy as np
import pretty_midi
from scipy import signal

from melrec_lib.io.audio import THESIS_SAMPLE_RATE as SAMPLE_RATE

SOUNDFONT = pathlib.Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
DRUM_CHANNEL = 9

_SYNTH: dict[str, object] = {}


def _synth():
    """The process' synthesiser with the sound font loaded (created on first use)."""
    if "synth" not in _SYNTH:
        import tinysoundfont

        synth = tinysoundfont.Synth(gain=-12.0, samplerate=SAMPLE_RATE)
        sfid = synth.sfload(str(SOUNDFONT))
        _SYNTH.update(synth=synth, sfid=sfid)
    return _SYNTH["synth"], _SYNTH["sfid"]


def _reset(synth) -> None:
    synth.sounds_off()
    synth.generate_simple(SAMPLE_RATE // 4)  # let the quick releases finish, discard
    for ch in range(16):
        synth.control_change(ch, 121, 0)  # reset all controllers
        synth.control_change(ch, 7, 100)
        synth.control_change(ch, 11, 127)
        synth.pitchbend(ch, 8192)
    synth.sounds_off()
    synth.generate_simple(SAMPLE_RATE // 4)


def synthesize(pm: pretty_midi.PrettyMIDI, *, n_samples: int) -> np.ndarray:
    """Render ``pm`` to ``n_samples`` frames of interleaved-free stereo float32, shape (n_samples, 2)."""
    synth, sfid = _synth()
    _reset(synth)
    events = []  # (sample, order, seq, kind, channel, a, b)
    seq = 0
    melodic = [c for c in range(16) if c != DRUM_CHANNEL]
    for i, inst in enumerate(pm.instruments):
        if inst.is_drum:
            ch = DRUM_CHANNEL
            synth.program_select(ch, sfid, 0, int(inst.program), is_drums=True)
        else:
            ch = melodic[i % len(melodic)]
            synth.program_select(ch, sfid, 0, int(inst.program))
        synth.control_change(ch, 11, 127)
        for n in inst.notes:
            s0, s1 = int(round(n.start * SAMPLE_RATE)), int(round(n.end * SAMPLE_RATE))
            events.append((s0, 2, seq, "on", ch, n.pitch, n.velocity))
            events.append((s1, 0, seq, "off", ch, n.pitch, 0))
            seq += 1
        for cc in inst.control_changes:
            events.append((int(round(cc.time * SAMPLE_RATE)), 1, seq, "cc", ch, cc.number, cc.value))
            seq += 1
        for pb in inst.pitch_bends:
            events.append((int(round(pb.time * SAMPLE_RATE)), 1, seq, "pb", ch, pb.pitch + 8192, 0))
            seq += 1
    events.sort()
    out = np.zeros((n_samples, 2), dtype=np.float32)
    view = memoryview(out).cast("B")
    frame_bytes = 8
    pos = 0
    for sample, _, _, kind, ch, a, b in events:
        sample = min(sample, n_samples)
        if sample > pos:
            synth.generate_simple(sample - pos, buffer=view[pos * frame_bytes : sample * frame_bytes])
            pos = sample
        if pos >= n_samples:
            break
        if kind == "on":
            synth.noteon(ch, a, b)
        elif kind == "off":
            synth.noteoff(ch, a)
        elif kind == "cc":
            synth.control_change(ch, a, b)
        else:
            synth.pitchbend(ch, a)
    if pos < n_samples:
        synth.generate_simple(n_samples - pos, buffer=view[pos * frame_bytes :])
    return out


def master(
    stereo: np.ndarray,
    *,
    brightness_hz: float,
    reverb: float,
    loudness_dbfs: float,
    room_seed: int,
    fade_out_s: float = 1.0,
) -> np.ndarray:
    """Mono master: low-pass "tone", a small artificial room, loudness normalisation and fades.

    Returns float32 mono in (-1, 1): RMS at ``loudness_dbfs`` unless that would push the peak
    above 0.95, in which case the peak is 0.95.
    """
    y = stereo.mean(axis=1).astype(np.float64)
    n = len(y)
    sos = signal.butter(2, min(brightness_hz, 0.45 * SAMPLE_RATE), btype="low", fs=SAMPLE_RATE, output="sos")
    y = signal.sosfilt(sos, y)
    if reverb > 0:
        rng = np.random.default_rng(room_seed)
        t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
        rt = 0.25 + 0.5 * (room_seed % 100) / 100
        ir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt)
        ir[: int(0.01 * SAMPLE_RATE)] = 0  # pre-delay
        ir /= np.sqrt(np.sum(ir**2))
        wet = signal.oaconvolve(y.astype(np.float32), ir.astype(np.float32))[:n]
        y = y + reverb * wet.astype(np.float64)
    y -= y.mean()
    rms = float(np.sqrt(np.mean(y**2)))
    if rms > 0:
        gain = 10 ** (loudness_dbfs / 20) / rms
        peak = float(np.max(np.abs(y)))
        gain = min(gain, 0.95 / peak)
        y *= gain
    fade_in = int(0.01 * SAMPLE_RATE)
    y[:fade_in] *= np.linspace(0, 1, fade_in)
    nf = min(int(fade_out_s * SAMPLE_RATE), n)
    y[n - nf :] *= np.linspace(1, 0, nf) ** 2
    return y.astype(np.float32)


def stable_int(*parts: object) -> int:
    """A 32-bit integer from ``parts`` that is the same in every process (unlike ``hash()``)."""
    return zlib.crc32("/".join(map(str, parts)).encode("utf-8"))


def render_score(pm: pretty_midi.PrettyMIDI, *, duration_s: float, palette=None, room_seed: int = 0) -> np.ndarray:
    """Render a score to mono float32 audio of exactly ``round(duration_s * 44100)`` samples.

    Parameters
    ----------
    pm : pretty_midi.PrettyMIDI
        The score (drum tracks use ``program`` as the GM kit number).
    duration_s : float > 0
        Output length in seconds; the score is cut there with a 1 s fade-out.
    palette : ArtistPalette or None
        The artist's mix (tone, room, loudness); None = neutral.
    room_seed : int
        Seed of the room's impulse response.
    """
    n = int(round(duration_s * SAMPLE_RATE))
    stereo = synthesize(pm, n_samples=n)
    if palette is None:
        return master(stereo, brightness_hz=16000, reverb=0.0, loudness_dbfs=-16, room_seed=room_seed)
    return master(
        stereo,
        brightness_hz=palette.brightness_hz,
        reverb=palette.reverb,
        loudness_dbfs=palette.loudness_dbfs,
        room_seed=room_seed,
    )
