"""Artist, album, title and track number of an audio file, from its tags (mutagen).

Every tag format a collection's files carry: ID3 (MP3, AIFF, WAV), Vorbis comments (FLAC, Ogg
Vorbis, Opus, Ogg FLAC, Speex), MP4 atoms (m4a, mp4), ASF attributes (WMA) and APEv2 (Monkey's
Audio, WavPack, Musepack, TTA).  Formats mutagen does not read (Matroska/WebM, CAF, ...) are
asked of FFmpeg's demuxer (PyAV's container metadata).  The artist is the track artist, else the
album artist; the track number is the first number of "3/12".  A file without tags, or whose
tags cannot be parsed, gives :data:`NO_TAGS` (empty strings, no track number): a collection's
files are ranked whether or not they are tagged.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from melrec_lib.errors import AudioError, ParameterError

__all__ = ["NO_TAGS", "Tags", "read"]


@dataclasses.dataclass(frozen=True)
class Tags:
    """What a file's tags say about it.

    Attributes
    ----------
    artist, album, title : str
        ``""`` when not tagged; ``artist`` is the album artist when the track has none.
    track : int or None
        The track number on its album.
    album_artist : str
        The album's artist (``"Various Artists"`` on a compilation), ``""`` when not tagged.
    """

    artist: str = ""
    album: str = ""
    title: str = ""
    track: int | None = None
    album_artist: str = ""

    def __bool__(self) -> bool:
        return bool(self.artist or self.album or self.title or self.track is not None or self.album_artist)

    def label(self) -> str:
        """``"Artist — Title"`` (either alone when the other is missing); ``""`` without both.

        >>> Tags("Nina Simone", "Pastel Blues", "Sinnerman", 7).label()
        'Nina Simone — Sinnerman'
        >>> Tags(title="Sinnerman").label(), Tags().label()
        ('Sinnerman', '')
        """
        return " — ".join(p for p in (self.artist, self.title) if p)


NO_TAGS = Tags()

# the keys (lower case) each format stores a field under, first found first used
_KEYS = {
    "artist": ("artist", "tpe1", "\xa9art", "author"),
    "album": ("album", "talb", "\xa9alb", "wm/albumtitle"),
    "title": ("title", "tit2", "\xa9nam"),
    "track": ("tracknumber", "track", "trck", "trkn", "wm/tracknumber"),
    "album_artist": ("albumartist", "album artist", "album_artist", "tpe2", "aart", "wm/albumartist"),
}


def read(path: str | os.PathLike) -> Tags:
    """The tags of one audio file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Tags
        :data:`NO_TAGS` for a file without tags, or tags mutagen (or FFmpeg) cannot parse.

    Raises
    ------
    AudioError
        No such file.
    ParameterError
        ``path`` is not a path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"path must be a str or path-like, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    found = _mutagen(path)
    if found is None:
        found = _ffmpeg(path)
    return _tags(found or {})


def _mutagen(path: Path) -> dict[str, object] | None:
    """Lower-case key -> value of the file's tags; None when mutagen does not know the format."""
    import mutagen

    try:
        f = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 - mutagen.MutagenError, and struct/value errors of corrupt tags
        return {}
    if f is None:
        return None
    if f.tags is None:
        return {}
    out: dict[str, object] = {}
    try:
        items = list(f.tags.items())
    except Exception:  # noqa: BLE001 - a tag container that cannot list itself
        return {}
    for key, value in items:
        out.setdefault(str(key).lower(), value)
    return out


def _ffmpeg(path: Path) -> dict[str, object]:
    """The container's and first audio stream's metadata as FFmpeg reads it (Matroska, CAF, ...)."""
    import av

    try:
        with av.open(str(path), metadata_errors="replace") as container:
            meta = {str(k).lower(): v for k, v in container.metadata.items()}
            for stream in container.streams.audio[:1]:
                for k, v in stream.metadata.items():
                    meta.setdefault(str(k).lower(), v)
            return meta
    except Exception:  # noqa: BLE001 - av.error.*: no tags to read
        return {}


def _tags(found: dict[str, object]) -> Tags:
    fields = {}
    for field, keys in _KEYS.items():
        fields[field] = next((v for v in (_text(found.get(k)) for k in keys) if v), "")
    artist = fields["artist"] or fields["album_artist"]
    return Tags(artist, fields["album"], fields["title"], _number(fields["track"]), fields["album_artist"])


def _text(value: object) -> str:
    """The first text of a tag value: an ID3 frame, a list (Vorbis, MP4, ASF), an APE value, a pair."""
    if value is None:
        return ""
    if hasattr(value, "text"):  # ID3 frame
        value = value.text
    if isinstance(value, (list, tuple)):
        if not value:
            return ""
        value = value[0]
        if isinstance(value, tuple):  # MP4 trkn: [(track, total)]
            value = value[0] if value else ""
    if hasattr(value, "value") and not isinstance(value, (str, bytes)):  # ASF attribute
        value = value.value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    return text.split("\x00")[0].strip()  # APEv2 keeps several values NUL-separated


def _number(text: str) -> int | None:
    m = re.match(r"\s*(\d{1,6})", text)
    return int(m.group(1)) if m else None
