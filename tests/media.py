"""Audio files of every container a collection holds, encoded here by PyAV (FFmpeg) or soundfile.

:data:`FORMATS` names each one: its file name, the encoder and its settings.  The signal is
:func:`signal`, two sines a fifth apart (one per channel) over a seeded noise floor, so a test
knows what a decoder should give back.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np

#: name -> (file name, encoder or "soundfile:<format>/<subtype>", sample rate, encoder options)
FORMATS = {
    "aac-m4a": ("aac.m4a", "aac", 44100, {}),
    "alac-m4a": ("alac.m4a", "alac", 44100, {}),
    "aac-adts": ("adts.aac", "aac", 44100, {}),
    "opus": ("opus.opus", "libopus", 48000, {}),
    "opus-oga": ("opus.oga", "libopus", 48000, {}),
    "opus-webm": ("opus.webm", "libopus", 48000, {}),
    "mp3": ("mp3.mp3", "libmp3lame", 44100, {}),
    "flac": ("flac.flac", "flac", 44100, {}),
    "flac-oga": ("flac.oga", "flac", 44100, {}),
    "flac-mka": ("flac.mka", "flac", 44100, {}),
    "wma": ("wma.wma", "wmav2", 44100, {"bit_rate": 128000}),
    "wavpack": ("wavpack.wv", "wavpack", 44100, {}),
    "alac-caf": ("alac.caf", "alac", 44100, {}),
    "pcm-wav": ("pcm.wav", "pcm_s16le", 44100, {}),
    "pcm24-wav": ("pcm24.wav", "pcm_s24le", 44100, {}),
    "pcm-aiff": ("pcm.aiff", "pcm_s16be", 44100, {}),
    "vorbis-ogg": ("vorbis.ogg", "soundfile:OGG/VORBIS", 44100, {}),
}


def signal(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """(channels, n) float32: 440 Hz left, 660 Hz right, plus noise at -46 dBFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    x = np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)])[:channels]
    return (x + 0.005 * rng.standard_normal(x.shape)).astype(np.float32)


def write(
    folder: Path, name: str, seconds: float = 2.0, *, channels: int = 2, seed: int = 0, filename: str | None = None
) -> Path:
    """Write the format ``name`` of :data:`FORMATS` into ``folder`` (as ``filename``, else its own); the path."""
    default, codec, rate, options = FORMATS[name]
    path = Path(folder) / (filename or default)
    path.parent.mkdir(parents=True, exist_ok=True)
    encode(path, codec, signal(seconds, rate, channels, seed), rate, **options)
    return path


def encode(
    path: Path, codec: str, x: np.ndarray, rate: int, *, bit_rate: int | None = None, metadata: dict | None = None
) -> None:
    """Encode (channels, n) float32 samples ``x`` with FFmpeg's ``codec`` (container from the
    extension; ``metadata`` its container tags), or with soundfile for ``"soundfile:<format>/<subtype>"``."""
    if codec.startswith("soundfile:"):
        import soundfile as sf

        fmt, subtype = codec.split(":", 1)[1].split("/")
        sf.write(path, x.T, rate, format=fmt, subtype=subtype)
        return
    import av

    layout = "stereo" if x.shape[0] == 2 else "mono"
    with av.open(str(path), "w") as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        formats = [f.name for f in stream.codec_context.codec.audio_formats or ()]
        preferred = [f for f in ("fltp", "flt", "s16p", "s16", "s32p", "s32") if f in formats]
        if preferred:  # not the codec's first format (wavpack's is 8-bit)
            stream.codec_context.format = preferred[0]
        size = stream.codec_context.frame_size or 1024
        for start in range(0, x.shape[1], size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(x[:, start : start + size]), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts, frame.time_base = rate, start, fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def tag(path: Path, *, artist: str = "", album: str = "", title: str = "", track: int | None = None) -> None:
    """Write these tags into ``path`` with mutagen: MP3 (ID3), MP4, FLAC and Ogg (Vorbis comments),
    WMA (ASF), WavPack and APE (APEv2); not AIFF or WAV (ID3 chunks; tests/test_tags.py writes those)."""
    import mutagen
    from mutagen.asf import ASF

    f = mutagen.File(str(path), easy=True)
    if f.tags is None:
        f.add_tags()
    if isinstance(f, ASF):
        keys = {"artist": "Author", "album": "WM/AlbumTitle", "title": "Title", "track": "WM/TrackNumber"}
    elif type(f).__name__ in ("WavPack", "MonkeysAudio"):
        keys = {"artist": "Artist", "album": "Album", "title": "Title", "track": "Track"}
    else:
        keys = {"artist": "artist", "album": "album", "title": "title", "track": "tracknumber"}
    values = {"artist": artist, "album": album, "title": title, "track": "" if track is None else str(track)}
    for field, value in values.items():
        if value:
            f[keys[field]] = [value] if type(f).__name__ not in ("WavPack", "MonkeysAudio") else value
    f.save()
