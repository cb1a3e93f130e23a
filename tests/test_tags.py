"""melrec_lib.io.tags: tags written by mutagen (FFmpeg for Matroska) into files of every container, read back."""

from __future__ import annotations

import numpy as np
import pytest
from media import FORMATS, encode, signal, write

from melrec_lib.errors import AudioError, ParameterError
from melrec_lib.io import audio, tags

ARTIST, ALBUM, TITLE, TRACK = "Björk Guðmundsdóttir", "Homogenic — Live", "Jóga", 3
ALBUM_ARTIST = "Various Artists"
EXPECTED = tags.Tags(ARTIST, ALBUM, TITLE, TRACK, ALBUM_ARTIST)


def _id3(f):
    from mutagen.id3 import TALB, TIT2, TPE1, TPE2, TRCK

    if f.tags is None:
        f.add_tags()
    for frame in (TPE1(encoding=3, text=ARTIST), TALB(encoding=3, text=ALBUM), TIT2(encoding=3, text=TITLE)):
        f.tags.add(frame)
    f.tags.add(TPE2(encoding=3, text=ALBUM_ARTIST))
    f.tags.add(TRCK(encoding=3, text=f"{TRACK}/12"))
    f.save()


def _vorbis(f):
    f["ARTIST"], f["album"], f["Title"], f["tracknumber"] = [ARTIST], [ALBUM], [TITLE], [f"{TRACK}"]
    f["ALBUMARTIST"] = [ALBUM_ARTIST]
    f.save()


def _mp4(f):
    f["\xa9ART"], f["\xa9alb"], f["\xa9nam"], f["trkn"] = [ARTIST], [ALBUM], [TITLE], [(TRACK, 12)]
    f["aART"] = [ALBUM_ARTIST]
    f.save()


def _asf(f):
    from mutagen.asf import ASFDWordAttribute

    f["Author"], f["WM/AlbumTitle"], f["Title"] = [ARTIST], [ALBUM], [TITLE]
    f["WM/TrackNumber"] = [ASFDWordAttribute(TRACK)]
    f["WM/AlbumArtist"] = [ALBUM_ARTIST]
    f.save()


def _ape(f):
    if f.tags is None:
        f.add_tags()
    f["Artist"], f["Album"], f["Title"], f["Track"] = ARTIST, ALBUM, TITLE, f"{TRACK}/12"
    f["Album Artist"] = ALBUM_ARTIST
    f.save()


def _writer(name):
    """(mutagen class, how to tag it) for each format of media.FORMATS mutagen writes."""
    from mutagen.aiff import AIFF
    from mutagen.asf import ASF
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggflac import OggFLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE
    from mutagen.wavpack import WavPack

    return {
        "aac-m4a": (MP4, _mp4),
        "alac-m4a": (MP4, _mp4),
        "opus": (OggOpus, _vorbis),
        "opus-oga": (OggOpus, _vorbis),
        "mp3": (MP3, _id3),
        "flac": (FLAC, _vorbis),
        "flac-oga": (OggFLAC, _vorbis),
        "wma": (ASF, _asf),
        "wavpack": (WavPack, _ape),
        "pcm-wav": (WAVE, _id3),
        "pcm-aiff": (AIFF, _id3),
        "vorbis-ogg": (OggVorbis, _vorbis),
    }.get(name)


TAGGED_BY_MUTAGEN = [n for n in FORMATS if n not in ("flac-mka", "opus-webm", "alac-caf", "aac-adts", "pcm24-wav")]


@pytest.mark.parametrize("name", TAGGED_BY_MUTAGEN)
def test_tags_written_by_mutagen_are_read_back(tmp_path, name):
    path = write(tmp_path, name, 0.5)
    untagged, sr = audio.load(path, sr=None, mono=False)
    assert tags.read(path) == tags.NO_TAGS and not tags.read(path)
    cls, tag = _writer(name)
    tag(cls(str(path)))
    got = tags.read(path)
    assert got == EXPECTED
    assert got.label() == f"{ARTIST} — {TITLE}"
    # the tags change nothing of the audio
    y, sr2 = audio.load(path, sr=None, mono=False)
    assert sr2 == sr
    np.testing.assert_array_equal(y, untagged)


@pytest.mark.parametrize("name", ["flac-mka", "opus-webm"])
def test_matroska_tags_come_from_ffmpeg(tmp_path, name):
    filename, codec, rate, options = FORMATS[name]
    meta = {"artist": ARTIST, "album": ALBUM, "title": TITLE, "track": f"{TRACK}", "album_artist": ALBUM_ARTIST}
    encode(tmp_path / filename, codec, signal(0.5, rate), rate, metadata=meta, **options)
    assert tags.read(tmp_path / filename) == EXPECTED
    encode(tmp_path / f"bare{filename}", codec, signal(0.5, rate), rate, **options)
    assert tags.read(tmp_path / f"bare{filename}") == tags.NO_TAGS


def test_album_artist_stands_in_for_a_missing_artist(tmp_path):
    from mutagen.id3 import ID3, TIT2, TPE2

    path = write(tmp_path, "mp3", 0.3)
    t = ID3()
    t.add(TPE2(encoding=3, text="Various Artists"))
    t.add(TIT2(encoding=3, text="Song"))
    t.save(str(path))
    assert tags.read(path) == tags.Tags("Various Artists", "", "Song", None, album_artist="Various Artists")
    assert tags.read(path).label() == "Various Artists — Song"


@pytest.mark.parametrize("text, number", [("7", 7), ("07/12", 7), (" 12 of 14", 12), ("A1", None), ("", None)])
def test_track_numbers(tmp_path, text, number):
    from mutagen.flac import FLAC

    path = write(tmp_path, "flac", 0.3)
    f = FLAC(str(path))
    f["tracknumber"] = [text]
    f.save()
    assert tags.read(path).track == number


def test_unreadable_tags_give_no_tags_and_missing_files_raise(tmp_path):
    path = write(tmp_path, "mp3", 0.3)
    data = bytearray(path.read_bytes())
    bad = tmp_path / "bad.mp3"  # an ID3v2 header whose size runs past the file
    bad.write_bytes(b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + bytes(data[:200]))
    assert tags.read(bad) == tags.NO_TAGS
    (tmp_path / "text.m4a").write_text("not audio")
    assert tags.read(tmp_path / "text.m4a") == tags.NO_TAGS
    with pytest.raises(AudioError, match="gone.flac"):
        tags.read(tmp_path / "gone.flac")
    with pytest.raises(ParameterError):
        tags.read(42)
