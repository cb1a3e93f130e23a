"""Build and load the two real-music libraries of game soundtracks, read from freely licensed Debian packages.

melrec-synth tells whether the pipeline works; it cannot tell how anything fares on real
recordings.  These libraries can be rebuilt by anyone on Debian or Ubuntu, offline once the
packages are fetched: the music of free games, read straight from the ``.deb`` files.  There
are two, built by the same machinery, that play two roles (:data:`LIBRARIES`):

* the **development** library, collection ``soundtracks`` (:data:`SOUNDTRACKS`, eight
  packages): methods are tuned and chosen on it;
* the **confirmation** library, collection ``soundtracks-confirmation``
  (:data:`CONFIRMATION_SOUNDTRACKS`, seven other packages): used only to confirm and to report,
  never to choose.

``build(library="confirmation")`` and ``load_manifest(library="confirmation")`` reach the
second; both default to the development one, whose name predates the pair and is kept
(recorded results and caches are keyed on it).  Exactly these packages, and no others (other
packaged music is kept for independent checks of this repository).  The development library
(GPL, CC BY-SA, or the Drascula freeware licence):

==========================  ===============  ==================================================
package                     soundtrack       music taken
==========================  ===============  ==================================================
``warzone2100-music``       warzone2100      ``usr/share/games/warzone2100/music`` (Opus)
``singularity-music``       singularity      ``usr/share/games/singularity/music``
``planetblupi-music-ogg``   planetblupi      ``usr/share/planetblupi/music``
``drascula-music``          drascula         ``usr/share/scummvm/drascula`` (one copy per track)
``colobot-common-sounds``   colobot          ``usr/share/games/colobot/music`` (not ``sounds/``)
``freedroidrpg-data``       freedroidrpg     ``usr/share/freedroidrpg/data/sound/music``
``megaglest-data``          megaglest        menu and faction ``music`` folders (not tilesets)
``asc-music``               asc              ``usr/share/games/asc/music`` (MP3)
==========================  ===============  ==================================================

The confirmation library (GPL, CC BY-SA, CC BY):

==========================  ===============  ==================================================
package                     soundtrack       music taken
==========================  ===============  ==================================================
``naev-data``               naev             ``usr/share/naev/dat/snd/music``
``supertuxkart-data``       supertuxkart     ``usr/share/games/supertuxkart/data/music`` (not
                                             ``sfx/``, not the race tracks' own folders)
``unknown-horizons``        unknownhorizons  ``usr/share/unknown-horizons/content/audio/music``
``flare-game``              flare            ``usr/share/games/flare/mods/fantasycore/music``
                                             (its ``*_theme`` files, not ``wind_ambient``)
``warmux-data``             warmux           ``usr/share/games/warmux/music``
``openclonk-data``          openclonk        ``usr/share/games/openclonk/Music.ocg`` (a folder
                                             of Ogg files in this package)
``extremetuxracer-data``    extremetuxracer  ``usr/share/games/etr/music``
==========================  ===============  ==================================================

Each soundtrack's genre, sub-styles, composer and licence live in its library's one table
(:data:`SOUNDTRACKS`, :data:`CONFIRMATION_SOUNDTRACKS`).  The genres are coarse, listen-free
judgements from the packages' own descriptions, copyright files and file names, each with its
reason in the table.

Pipeline
--------
1. **Fetch.**  ``apt-get download`` (no root needed) into :func:`melrec_lib.paths.external_dir`,
   once; a cached ``.deb`` is reused.  ``build(debs=DIR)`` takes the files from ``DIR`` instead
   and never calls apt.
2. **Unpack** in Python: a ``.deb`` is an ``ar`` archive whose ``data.tar.{xz,gz,bz2}`` the
   standard library reads; ``data.tar.zst`` needs the ``zstandard`` package or, failing that,
   ``dpkg-deb``.  Only the soundtrack's music files are extracted (to a temporary folder).
3. **Select.**  Every audio file of the package that is not kept is listed with its reason in
   ``skipped``: outside the music folders (sound effects, megaglest's tileset ambience), a
   duplicate (same file bytes, or the same decoded audio), shorter than :data:`MIN_DURATION_S`,
   or silent; a music file in a format soundfile cannot decode (:data:`SCORE_EXTENSIONS`:
   tracker modules, MIDI) as "unreadable format".  Of duplicates the first by path is kept
   (drascula's ``audio/`` copy).
4. **Convert.**  :func:`melrec_lib.io.audio.load` decodes (soundfile) and resamples (soxr, "HQ") to
   44.1 kHz mono; the *excerpt policy*: a track longer than :data:`EXCERPT_S` (120 s) keeps
   only its central 120 s (start = half the excess, rounded down to a sample), so long loops
   and 28-minute medleys do not dominate disk and fragment counts; shorter tracks are kept
   whole.  Samples are rounded to 16-bit like ffmpeg's ``pcm_s16le`` (clipped, never wrapped).
5. **Write.**  Copies of the same decoded audio are skipped, the kept tracks named, and
   ``skipped.csv`` then ``tracks.csv`` written.  :func:`build` runs these steps as named
   functions (``_fetch_packages``, ``_unpack_and_select``, ``_convert_all``, ``_assemble``,
   ``_write``), the same for both libraries.

Layout::

    <external_dir>/<package>_<version>_all.deb        (the cache; as apt names them)
    <raw_dir>/soundtracks/tracks.csv                  (the manifest, written last)
    <raw_dir>/soundtracks/skipped.csv                 (path, reason, soundtrack, package)
    <raw_dir>/soundtracks/<soundtrack>/<name>.wav     (44.1 kHz, mono, 16-bit)
    <raw_dir>/soundtracks-confirmation/...            (the same, for the confirmation library)

Same packages, same bytes: decoding, resampling and rounding are deterministic, and a rebuild
reuses a package's tracks only when its ``.deb`` has the same SHA-256 and the build policy
(:data:`BUILD_VERSION`, excerpt, minimum length) is unchanged.

Examples
--------
>>> from melrec_lib.corpora import soundtracks
>>> df = soundtracks.build(n_jobs=2)                                  # doctest: +SKIP
>>> df.groupby("soundtrack").size()                                   # doctest: +SKIP
>>> df.attrs["skipped"]["reason"].str.split(":").str[0].value_counts()  # doctest: +SKIP
>>> confirmation = soundtracks.build(library="confirmation", n_jobs=2)  # doctest: +SKIP
>>> soundtracks.get_library("confirmation").packages
('naev-data', 'supertuxkart-data', 'unknown-horizons', 'flare-game', 'warmux-data', 'openclonk-data', 'extremetuxracer-data')
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from melrec_lib import paths
from melrec_lib.cache import atomic_file, stable_hash
from melrec_lib.errors import AudioError, DatasetError, ParameterError
from melrec_lib.io.manifest import SKIPPED_COLUMNS, conform, read_manifest, write_manifest
from melrec_lib.parallel import parallel_map

__all__ = [
    "NAME",
    "CONFIRMATION_NAME",
    "DEVELOPMENT",
    "CONFIRMATION",
    "LIBRARIES",
    "Library",
    "get_library",
    "SOUNDTRACKS",
    "PACKAGES",
    "CONFIRMATION_SOUNDTRACKS",
    "CONFIRMATION_PACKAGES",
    "Soundtrack",
    "Part",
    "PackageFetchError",
    "SAMPLE_RATE",
    "MIN_DURATION_S",
    "EXCERPT_S",
    "BUILD_VERSION",
    "SOURCE_EXTENSIONS",
    "SCORE_EXTENSIONS",
    "corpus_root",
    "build",
    "load_manifest",
    "fetch",
    "read_control",
    "iter_data",
]

#: The development library's name: its folder under ``raw_dir()`` (and so its caches' name).
NAME = "soundtracks"
#: The confirmation library's name (see :data:`LIBRARIES`).
CONFIRMATION_NAME = "soundtracks-confirmation"
#: Output sample rate (Hz) of every WAV.
SAMPLE_RATE = 44100
#: Shorter source files are skipped (a jingle, a stinger or a sound effect, not a track).
MIN_DURATION_S = 40.0
#: The excerpt policy: at most this many seconds per track, centred (see the module docstring).
EXCERPT_S = 120.0
#: A file whose excerpt peaks below this (dBFS) counts as silent.
SILENCE_DBFS = -60.0
#: Bumped whenever a change here changes the WAVs: a rebuild then converts every package again.
BUILD_VERSION = 1
#: What counts as an audio file in a package (lower case); ``.opus`` is read by soundfile too.
SOURCE_EXTENSIONS = (".wav", ".ogg", ".opus", ".mp3", ".flac", ".au")
#: Music files that are scores, not recordings (tracker modules, MIDI): soundfile cannot decode
#: them, so a music folder's files in these formats are listed in ``skipped`` with that reason.
SCORE_EXTENSIONS = (".xm", ".it", ".mod", ".s3m", ".mid", ".midi", ".umx")
_SCORE_REASON = (
    "is a tracker module or MIDI score (notes and instruments, not sampled audio), which soundfile cannot decode"
)
#: The skipped report's columns: the manifest module's ``path, reason`` and where the file came from.
SKIPPED_REPORT_COLUMNS = tuple(SKIPPED_COLUMNS) + ("soundtrack", "package")


class PackageFetchError(DatasetError):
    """A source package cannot be fetched or read; the message names it and how to supply it."""


@dataclass(frozen=True)
class Part:
    """What differs inside one soundtrack, for the files whose path (below the root) matches.

    Attributes
    ----------
    pattern : str
        ``fnmatch`` pattern on the path below :attr:`Soundtrack.root` (``*`` crosses ``/``).
    substyle : str or None
    composer, license : str or None
        Override the soundtrack's own value when set.
    """

    pattern: str
    substyle: str | None = None
    composer: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class Soundtrack:
    """One soundtrack of the corpus: where its music lies in which package, and its labels.

    Attributes
    ----------
    name : str
        Folder name, ``artist`` and ``soundtrack`` value, and track-id prefix.
    package : str
        The Debian binary package holding it.
    root : str
        The folder (inside the package) below which its music lies.
    music : tuple of str
        ``fnmatch`` patterns on the path below ``root``; audio files elsewhere in the package
        are skipped as "not music".
    genre : str
        Coarse style, a listen-free judgement; ``reason`` says on what grounds.
    reason : str
        One line: why this genre.
    composer : str
        As the package's documentation credits it.
    license : str
        The music's licence, from ``usr/share/doc/<package>/copyright`` (and the files it cites).
    not_music : tuple of (pattern, reason)
        Audio files (``fnmatch`` on the path below ``root``) skipped with this specific reason
        instead of the generic one, e.g. megaglest's tileset ambience.
    parts : tuple of Part
        Sub-style (and composer, licence) by path; first match wins.
    """

    name: str
    package: str
    root: str
    music: tuple[str, ...]
    genre: str
    reason: str
    composer: str
    license: str
    not_music: tuple[tuple[str, str], ...] = ()
    parts: tuple[Part, ...] = ()

    def part(self, rel: str) -> Part:
        """The first :class:`Part` whose pattern matches ``rel`` (an empty one if none does)."""
        for p in self.parts:
            if fnmatch.fnmatchcase(rel, p.pattern):
                return p
        return Part("*")


_WZ_LUPUS = "CC-BY-SA-3.0+ or GPL-2+ (albums/*/license.txt)"
_MG_FACTION = "techs/megapack/factions/{}/music/*"

#: The one table of the corpus: every soundtrack, its package, its music folders and its labels.
SOUNDTRACKS: tuple[Soundtrack, ...] = (
    Soundtrack(
        "warzone2100",
        "warzone2100-music",
        "usr/share/games/warzone2100/music",
        ("*",),
        genre="electronic",
        reason="sci-fi real-time strategy; Martin Severn's 1999 score and LupusMechanicus' community albums are synthesizer-based",
        composer="Martin Severn; LupusMechanicus",
        license="GPL-2+",
        parts=(
            Part("albums/original_soundtrack/*", "original", "Martin Severn", "GPL-2+"),
            Part("menu.*", "original", "Martin Severn", "GPL-2+"),
            Part("albums/legacy_soundtrack/*", "legacy", "LupusMechanicus", _WZ_LUPUS),
            # derived from Severn's track3, GPL only (aftermath_soundtrack/license.txt)
            Part("albums/aftermath_soundtrack/track3_enhanced.*", "aftermath", "LupusMechanicus", "GPL-2+"),
            Part("albums/aftermath_soundtrack/*", "aftermath", "LupusMechanicus", _WZ_LUPUS),
        ),
    ),
    Soundtrack(
        "singularity",
        "singularity-music",
        "usr/share/games/singularity/music",
        ("*",),
        genre="ambient",
        reason="Endgame: Singularity (an AI hiding from humanity); slow synthesizer pieces named Nebula, Orbital Elevator, Through Space",
        composer="Max McCracken",
        license="CC-BY-SA-3.0",
        parts=(Part("win/*", "stinger"), Part("lose/*", "stinger"), Part("*", "theme")),
    ),
    Soundtrack(
        "planetblupi",
        "planetblupi-music-ogg",
        "usr/share/planetblupi/music",
        ("*",),
        genre="light",
        reason="Planet Blupi, EPSITEC's 1997 cartoon strategy game for children ('a delirious spell-binding game'): light, playful game music",
        composer="EPSITEC SA / Denis Dumoulin",
        license="GPL-3+",
    ),
    Soundtrack(
        "drascula",
        "drascula-music",
        "usr/share/scummvm/drascula",
        ("*",),
        genre="orchestral",
        reason="Drascula: The Vampire Strikes Back, a 1996 comic horror point-and-click adventure: a film-like score",
        composer="Alcachofa Soft",
        license="Drascula licence (free redistribution, no fee for the game itself)",
    ),
    Soundtrack(
        "colobot",
        "colobot-common-sounds",
        "usr/share/games/colobot",
        ("music/*",),
        genre="electronic",
        reason="Colobot, a sci-fi programming game about robots on other planets; track names Proton, Prototype, Infinite",
        composer="EPSITEC SA & TerranovaTeam",
        license="GPL-3+",
        not_music=(("sounds/*", "not music: sound effect (sounds/)"),),
    ),
    Soundtrack(
        "freedroidrpg",
        "freedroidrpg-data",
        "usr/share/freedroidrpg",
        ("data/sound/music/*",),
        genre="electronic",
        reason="FreedroidRPG, a sci-fi action RPG among rogue robots; track names TechBattle, Hyperbattle, HellFortress",
        composer="FreedroidRPG developers",
        license="GPL-2+",
        not_music=(("data/sound/effects/*", "not music: sound effect (data/sound/effects/)"),),
    ),
    Soundtrack(
        "megaglest",
        "megaglest-data",
        "usr/share/games/megaglest",
        ("data/core/menu/music/*", "techs/*/factions/*/music/*"),
        genre="orchestral",
        reason="MegaGlest, a fantasy and historical real-time strategy game; one theme per faction (medieval, Indian, Persian, Egyptian, Roman, magic)",
        composer="Glest and MegaGlest contributors",
        license="CC-BY-SA-3.0",
        not_music=(
            ("tilesets/*/sounds/*", "not music: ambience (tilesets/*/sounds)"),
            ("*/sounds/*", "not music: sound effect (*/sounds/)"),
            ("data/core/*", "not music: interface sound (data/core/)"),
        ),
        parts=(
            Part("data/core/menu/music/*", "menu"),
            Part(_MG_FACTION.format("egypt"), "egypt", "Margaras"),
            Part(_MG_FACTION.format("indian"), "indian", "Aminos"),
            Part(_MG_FACTION.format("persian"), "persian", "Aminos"),
            Part(_MG_FACTION.format("norsemen"), "norsemen", "Manolo Camp"),
            Part(_MG_FACTION.format("romans"), "romans", "Mattias Westlund"),
            Part(_MG_FACTION.format("magic"), "magic"),
            Part(_MG_FACTION.format("tech"), "tech"),
        ),
    ),
    Soundtrack(
        "asc",
        "asc-music",
        "usr/share/games/asc/music",
        ("*",),
        genre="orchestral",
        reason="Advanced Strategic Command, a turn-based military strategy game; three long battle themes (Frontiers, Machine Wars, Time to Strike)",
        composer="Michael Kievernagel",
        license="GPL-2+",
    ),
)

#: The Debian packages the corpus is built from, in table order.
PACKAGES: tuple[str, ...] = tuple(s.package for s in SOUNDTRACKS)


def _per_file(
    names: str, substyle: str | None, composer: str | None, license: str | None, folder: str = ""
) -> tuple[Part, ...]:
    """One :class:`Part` per file name of the space-separated ``names`` (below ``folder``)."""
    return tuple(Part(f"{folder}{n}", substyle, composer, license) for n in names.split())


_NAEV_VEGA = "agriculture cosmostation galacticbattle launch2 launch3chatstart liftoff machina mission ocean peace1 peace2 peace4 peace6 snow"
_NAEV_WHALLON = (
    "ambient1 ambient2 ambient2_5 ambient3 automat battlesomething1 battlesomething2 collective1 collective2 "
    "empire1 empire2 flf_battle1 intrigue intro landing_sinister nebu_battle1 nebu_battle2 sirius1 tension "
    "upbeat zalek1 zalek2"
)
_NAEV_ASKYEL = "ambient4 combat1 combat2 combat3 dvaered1 dvaered2 eureka sirius2 terminal"
_STK = "music/"  # supertuxkart's music folder below its root; composers from data/music/<track>.music
_STK_FAST = "last-lap"  # the faster variant the game plays on a race's last lap (<track>.music: fast-filename)
_STK_KROBONIL_OZONE = "0zone0ne and Krobonil"

#: The confirmation library's table: seven other packages, laid out and labelled like :data:`SOUNDTRACKS`.
CONFIRMATION_SOUNDTRACKS: tuple[Soundtrack, ...] = (
    Soundtrack(
        "naev",
        "naev-data",
        "usr/share/naev/dat/snd/music",
        ("*",),
        genre="electronic",
        reason="Naev, a 2D space trading and combat game after Escape Velocity; synthesizer space music by track name: ambient1-4, combat1-3, nebu_battle, peace, zalek",
        composer="Naev contributors (AUTHORS)",
        license="GPL-3+",
        parts=(
            *_per_file(" ".join(f"{n}.ogg" for n in _NAEV_VEGA.split()), "vegastrike", "Vega Strike", "GPL-2+"),
            *_per_file(
                " ".join(f"{n}.ogg" for n in _NAEV_WHALLON.split()),
                "whallon",
                "Nikola Whallon",
                "GPL-3 or CC-BY-3.0",
            ),
            *_per_file(" ".join(f"{n}.ogg" for n in _NAEV_ASKYEL.split()), "askyel", "Askyel", "CC-BY-SA-3.0"),
            *_per_file("ambiphonic.ogg void_sensor.ogg", "zeropage", "Zeropage", "CC-BY-3.0"),
            Part("*", "naev"),
        ),
    ),
    Soundtrack(
        "supertuxkart",
        "supertuxkart-data",
        "usr/share/games/supertuxkart/data",
        (_STK + "*",),
        genre="light",
        reason="SuperTuxKart, a cartoon kart racer 'more fun than realistic ... for all ages'; upbeat race themes named Hacienda, Egypt, Scottish bagpipes (celtic), The Great Fair",
        composer="SuperTuxKart musicians (per track in data/music/*.music)",
        license="CC-BY-SA-3.0",
        not_music=(
            ("sfx/*", "not music: sound effect (sfx/)"),
            ("tracks/*", "not taken: a race track's own folder (tracks/*/), outside data/music"),
        ),
        parts=(
            *_per_file(
                "celtic_fast.ogg landing_in_gran_paradiso_fast.ogg", _STK_FAST, "Ozoneone and Krobonil", "GPL-3+", _STK
            ),
            Part(_STK + "cocoa_river_fast.ogg", _STK_FAST, "Ozoneone", "GPL-3+"),
            Part(_STK + "farm_f.ogg", _STK_FAST, "Krobonil & OzoneOne", "GPL-3+"),
            Part(_STK + "jumping_to_the_stars_remake_fast.ogg", _STK_FAST, "GeekPenguinBR; Heuchi1", "CC-BY-SA-3.0"),
            Part(_STK + "ravenbridge_mansion_fast.ogg", _STK_FAST, _STK_KROBONIL_OZONE, "CC-BY-SA-3.0"),
            Part(_STK + "theGreatFair_fast.ogg", _STK_FAST, "Chris Leutwyler & Max Freeman", "GPL-3+"),
            Part(_STK + "theGreatFair.ogg", None, "Chris Leutwyler & Max Freeman", "GPL-3+"),
            Part(_STK + "cocoa_river.ogg", None, "Ozoneone", "GPL-3+"),
            Part(_STK + "Penguin_Party.ogg", None, "Magne Djupvik", "GPL-3+"),
            Part(_STK + "snowmountain.ogg", None, "0zone0ne", "GPL-3+"),
            Part(_STK + "alien_signal.ogg", None, "Heuchi1", "CC-BY-SA-4.0"),
            Part(_STK + "Boom_boom_boom.ogg", None, "Keith Baylis aka Vim", "CC-BY-SA-4.0"),
            Part(_STK + "klabauter_dance.ogg", None, "Chris Leutwyler (Krobonil)", "GPL (no version given)"),
            Part(_STK + "jumping_to_the_stars_remake.ogg", None, "GeekPenguinBR; Heuchi1"),
            *_per_file("bay.ogg demonhill.ogg egypt.ogg overworld.ogg", None, "0zone0ne", None, _STK),
            *_per_file("celtic.ogg farm.ogg landing_in_gran_paradiso.ogg", None, _STK_KROBONIL_OZONE, None, _STK),
            Part(_STK + "ravenbridge_mansion.ogg", None, _STK_KROBONIL_OZONE),
            *_per_file("garden.ogg valley.ogg", None, "DJHelium", None, _STK),
            *_per_file(
                "hacienda.ogg menutheme.ogg subsea.ogg win_theme.ogg", None, "Claude Werner (bollen)", None, _STK
            ),
            *_per_file("kart_grand_prix.ogg lose_theme.ogg race_win_theme.ogg", None, "Weirwood", None, _STK),
            Part(_STK + "Lava.ogg", None, "Kalsan"),
            Part(_STK + "race_summary.ogg", None, "Dundersylt"),
            Part(_STK + "SkyVibe-HighFrequency.ogg", None, "Speedsound (modified by Constantin Pelikan)"),
            *_per_file("Snowy.ogg West.ogg", None, "Chris Leutwyler (Krobonil)", None, _STK),
            Part(_STK + "xeon6.ogg", None, "commissioned by Bart Kelsey (OpenGameArt)"),
        ),
    ),
    Soundtrack(
        "unknownhorizons",
        "unknown-horizons",
        "usr/share/unknown-horizons/content/audio",
        ("music/*",),
        genre="orchestral",
        reason="Unknown Horizons, a 2D real-time economy and colony-building strategy game at sea; titles Ireland's Coast, Golden Valley, New Frontier, Seafight, and Grieg's Peer Gynt 'Morning'",
        composer="Unknown Horizons sound and music artists (credits.xml: draikon, Matthew Pablo, novatlan, ThomasD, Ollo123)",
        license="CC-BY-SA-3.0",
        not_music=(
            ("sounds/*", "not music: sound effect (sounds/)"),
            ("voice/*", "not music: voice-over (voice/)"),
        ),
        parts=(
            Part("music/Peer Gynt*", "peer-gynt", "Edvard Grieg (recording as shipped)"),
            Part("music/menu/*", "menu"),
        ),
    ),
    Soundtrack(
        "flare",
        "flare-game",
        "usr/share/games/flare/mods/fantasycore",
        ("music/*_theme.ogg",),
        genre="orchestral",
        reason="Flare, a fantasy 2D action role-playing game; one theme per place or mood: battle, boss, cave, dungeon, forest, magical, overworld, town, title",
        composer="Brandon Morris; remaxim (fantasycore credits)",
        license="CC-BY-SA-3.0+",
        not_music=(
            ("music/wind_ambient.*", "not music: ambience (wind_ambient, in music/)"),
            ("soundfx/*", "not music: sound effect (soundfx/)"),
        ),
    ),
    Soundtrack(
        "warmux",
        "warmux-data",
        "usr/share/games/warmux",
        ("music/*",),
        genre="light",
        reason="WarMUX, a cartoon turn-based artillery game like Worms with free-software mascots; titles Monkey bubble, circux (circus), exoticux, Divertissement pour flute",
        composer="WarMUX contributors (authors.xml)",
        license="GPL-2+",
        not_music=(("sound/*", "not music: sound effect, voice or weapon jingle (sound/)"),),
        parts=(
            Part("music/menu/*", "menu"),
            Part("music/ingame/Olivier_Militon*", "ingame", "Olivier Militon"),
            Part("music/ingame/Mike_Errecart*", "ingame", "Mike Errecart"),
            Part("music/ingame/*ux.*", "ingame", "Sebastien Sabouret"),
            Part("music/ingame/*", "ingame"),
        ),
    ),
    Soundtrack(
        "openclonk",
        "openclonk-data",
        "usr/share/games/openclonk/Music.ocg",
        ("*",),
        genre="electronic",
        reason="OpenClonk, a 2D action game of mining, settling and melees; one musician's eight pieces with modern titles: Motorway, Urban Bolero, Crushed Ice Cocktail, Lucid Dream",
        composer="K-Pone",
        license="CC-BY-3.0 (Music.ocg/authors.txt)",
    ),
    Soundtrack(
        "extremetuxracer",
        "extremetuxracer-data",
        "usr/share/games/etr",
        ("music/*",),
        genre="light",
        reason="Extreme Tux Racer, Tux sliding down snowy mountains; short race, menu and credits themes (calmrace, spunkyrace, freezingpoint, credits1)",
        composer="Extreme Tux Racer musicians (music/readme)",
        license="GPL-2+",
        not_music=(("sounds/*", "not music: sound effect (sounds/)"),),
        parts=(
            Part("music/*-jt.*", None, "Joseph Toscano"),
            Part("music/*-cp.*", None, "Christian Picon"),
            Part("music/*-ks.*", None, "K. Schroeder"),
            Part("music/freezingpoint.*", None, "Grady O'Connell"),
        ),
    ),
)

#: The confirmation library's Debian packages, in table order.
CONFIRMATION_PACKAGES: tuple[str, ...] = tuple(s.package for s in CONFIRMATION_SOUNDTRACKS)

#: The two roles a library of soundtracks plays: tune and choose on one, confirm and report on the other.
DEVELOPMENT, CONFIRMATION = "development", "confirmation"


@dataclass(frozen=True)
class Library:
    """One library of soundtracks: its role, its collection name and its table.

    Attributes
    ----------
    role : str
        :data:`DEVELOPMENT` (methods are chosen on it) or :data:`CONFIRMATION` (only
        confirmed and reported on, never used to choose).
    name : str
        The collection's name: its folder under ``raw_dir()`` and so its caches' name.
    soundtracks : tuple of Soundtrack
        Its packages, music folders and labels.
    """

    role: str
    name: str
    soundtracks: tuple[Soundtrack, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        """Its Debian packages, in table order."""
        return tuple(s.package for s in self.soundtracks)


#: The two libraries by role; the development one keeps the collection name ``soundtracks``.
LIBRARIES: dict[str, Library] = {
    DEVELOPMENT: Library(DEVELOPMENT, NAME, SOUNDTRACKS),
    CONFIRMATION: Library(CONFIRMATION, CONFIRMATION_NAME, CONFIRMATION_SOUNDTRACKS),
}


def get_library(library: str = DEVELOPMENT) -> Library:
    """The :class:`Library` of a role (``"development"`` or ``"confirmation"``).

    Raises
    ------
    ParameterError
        if ``library`` names neither.
    """
    if not isinstance(library, str) or library not in LIBRARIES:
        raise ParameterError(f"library must be one of {sorted(LIBRARIES)}, got {library!r}")
    return LIBRARIES[library]


_AR_MAGIC = b"!<arch>\n"
_TAR_MODES = {"": "r|", ".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2"}


# --------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------
def corpus_root(library: str = DEVELOPMENT) -> Path:
    """Folder of a library: ``<raw_dir>/soundtracks`` (development) or ``<raw_dir>/soundtracks-confirmation``.

    Raises
    ------
    ParameterError
        if ``library`` is neither ``"development"`` nor ``"confirmation"``.
    """
    return paths.raw_dir() / get_library(library).name


def _policy() -> dict:
    """Everything besides the source bytes that determines the WAVs."""
    return {
        "version": BUILD_VERSION,
        "sr": SAMPLE_RATE,
        "min_duration_s": MIN_DURATION_S,
        "excerpt_s": EXCERPT_S,
        "silence_dbfs": SILENCE_DBFS,
    }


# --------------------------------------------------------------------------------------------
# reading a .deb: ar members, control fields, the data tarball
# --------------------------------------------------------------------------------------------
class _Slice(io.RawIOBase):
    """``size`` bytes of an open binary file from ``offset``, as a read-only stream."""

    def __init__(self, f, offset: int, size: int):
        self._f, self._left = f, size
        f.seek(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        b[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _ar_members(deb: Path) -> dict[str, tuple[int, int]]:
    """``{name: (offset, size)}`` of the members of an ``ar`` archive (a ``.deb``)."""
    out = {}
    with open(deb, "rb") as f:
        if f.read(8) != _AR_MAGIC:
            raise PackageFetchError(f"{deb}: not a Debian package (no ar archive header)")
        pos = 8
        while True:
            f.seek(pos)
            header = f.read(60)
            if not header:
                break
            if len(header) < 60 or header[58:60] != b"`\n":
                raise PackageFetchError(f"{deb}: truncated or corrupt ar archive at byte {pos}")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError as exc:
                raise PackageFetchError(f"{deb}: corrupt ar member header at byte {pos}") from exc
            out[name] = (pos + 60, size)
            pos += 60 + size + (size % 2)
    return out


def _member(members: dict, deb: Path, stem: str) -> tuple[str, int, int]:
    for name, (offset, size) in members.items():
        if name == stem or name.startswith(stem + "."):
            return name, offset, size
    raise PackageFetchError(f"{deb}: no {stem}.* member (members: {sorted(members)})")


@dataclass
class _Tar:
    """An open tar stream of one ``.deb`` member (and whatever must be closed with it)."""

    tar: tarfile.TarFile
    closers: list


def _open_tar(deb: Path, stem: str) -> _Tar:
    """The ``control.tar.*`` or ``data.tar.*`` member of ``deb`` as a streaming tarfile."""
    name, offset, size = _member(_ar_members(deb), deb, stem)
    ext = name[len(stem) :]
    f = open(deb, "rb")
    stream = io.BufferedReader(_Slice(f, offset, size), buffer_size=1 << 20)
    if ext in _TAR_MODES:
        return _Tar(tarfile.open(fileobj=stream, mode=_TAR_MODES[ext]), [stream, f])
    if ext != ".zst":
        f.close()
        raise PackageFetchError(f"{deb}: unknown compression of member {name!r}")
    try:
        import zstandard
    except ImportError:
        zstandard = None
    if zstandard is not None:
        reader = zstandard.ZstdDecompressor().stream_reader(stream)
        return _Tar(tarfile.open(fileobj=reader, mode="r|"), [reader, stream, f])
    f.close()
    dpkg_deb = shutil.which("dpkg-deb")
    if dpkg_deb is None:
        raise PackageFetchError(
            f"{deb}: {name} is zstd-compressed; reading it needs the Python package 'zstandard' "
            f"(pip install zstandard) or dpkg-deb (apt-get install dpkg), and neither was found"
        )
    option = "--fsys-tarfile" if stem == "data.tar" else "--ctrl-tarfile"
    proc = subprocess.Popen([dpkg_deb, option, str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return _Tar(tarfile.open(fileobj=proc.stdout, mode="r|"), [proc])


def _close(t: _Tar) -> None:
    t.tar.close()
    for c in t.closers:
        if isinstance(c, subprocess.Popen):
            while c.stdout.read(1 << 20):  # drain, so dpkg-deb never dies of a closed pipe
                pass
            c.stdout.close()
            err = c.stderr.read().decode("utf-8", "replace").strip()
            c.stderr.close()
            if c.wait() != 0:
                raise PackageFetchError(f"dpkg-deb failed: {err}")
        else:
            c.close()


def _member_path(name: str) -> str:
    """A tar member's path without the leading ``./``."""
    return name[2:] if name.startswith("./") else name.lstrip("/")


def read_control(deb: str | os.PathLike) -> dict[str, str]:
    """The fields of a ``.deb``'s ``control`` file (``Package``, ``Version``, ...).

    Parameters
    ----------
    deb : path-like

    Returns
    -------
    dict of str to str
        Field name -> value (continuation lines joined with newlines).

    Raises
    ------
    PackageFetchError
        if the file is not a readable Debian package.
    """
    deb = Path(deb)
    t = _open_tar(deb, "control.tar")
    text = None
    try:
        for m in t.tar:
            if m.isfile() and _member_path(m.name) == "control":
                text = t.tar.extractfile(m).read().decode("utf-8", "replace")
                break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PackageFetchError(f"{deb}: cannot read control.tar ({exc})") from exc
    finally:
        _close(t)
    if text is None:
        raise PackageFetchError(f"{deb}: control.tar holds no control file")
    fields, key = {}, None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def iter_data(deb: str | os.PathLike) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Stream the members of a ``.deb``'s ``data.tar.*``: ``(member, tar)`` in archive order.

    ``tar.extractfile(member)`` reads a regular file's bytes; it must be read before the next
    member is requested (the archive is a stream).

    Raises
    ------
    PackageFetchError
        if the package or its data archive cannot be read.
    """
    deb = Path(deb)
    t = _open_tar(deb, "data.tar")
    try:
        for m in t.tar:
            yield m, t.tar
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise PackageFetchError(f"{deb}: cannot read data.tar ({exc})") from exc
    finally:
        _close(t)


# --------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------
def _deb_candidates(folder: Path, package: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{package}_*.deb") if p.is_file())


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _supply_hint(packages: Sequence[str]) -> str:
    confirmation = bool(packages) and set(packages) <= set(CONFIRMATION_PACKAGES)
    flag, arg = (" --library confirmation", 'library="confirmation", ') if confirmation else ("", "")
    return (
        f"download them on any Debian/Ubuntu machine with `apt-get download {' '.join(packages)}` "
        f"and pass their folder: `melrec corpus soundtracks{flag} --debs DIR` (or soundtracks.build({arg}debs=DIR))"
    )


def _apt_download(packages: Sequence[str], folder: Path, *, progress: bool) -> None:
    """``apt-get download`` into a temporary folder, then move the complete files into ``folder``."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise PackageFetchError(
            f"apt-get is not available on this machine, so the soundtracks library cannot fetch its "
            f"Debian packages {list(packages)}; {_supply_hint(packages)}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    updated = False
    while True:
        with tempfile.TemporaryDirectory(prefix=".apt-download-", dir=folder) as tmp:
            proc = subprocess.run(
                [apt, "download", *packages],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=None if progress else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            if proc.returncode == 0:
                for p in sorted(Path(tmp).glob("*.deb")):
                    os.replace(p, folder / p.name)
                return
        err = (proc.stderr or "").strip()
        missing = re.findall(r"Unable to locate package (\S+)", err)
        if not missing:
            raise PackageFetchError(
                f"`apt-get download {' '.join(packages)}` failed (exit {proc.returncode}): "
                f"{err[-800:]}; {_supply_hint(packages)}"
            )
        if updated:
            raise PackageFetchError(
                f"apt-get download: Unable to locate package {', '.join(missing)}, even after "
                f"`apt-get update`; check that /etc/apt/sources.list names a Debian or Ubuntu "
                f"archive with these packages, or {_supply_hint(packages)}"
            )
        if not _is_root():
            raise PackageFetchError(
                f"apt-get download: Unable to locate package {', '.join(missing)}: this machine's "
                f"package lists were never fetched (or are stale). Run `apt-get update` as root "
                f"(`sudo apt-get update`) and build again, or {_supply_hint(packages)}"
            )
        upd = subprocess.run(
            [apt, "update"],
            stdin=subprocess.DEVNULL,
            stdout=None if progress else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if upd.returncode != 0:
            raise PackageFetchError(
                f"apt-get download: Unable to locate package {', '.join(missing)}, and "
                f"`apt-get update` failed: {(upd.stderr or '').strip()[-800:]}; {_supply_hint(packages)}"
            )
        updated = True


def fetch(
    *, debs: str | os.PathLike | None = None, packages: Sequence[str] | None = None, progress: bool = True
) -> dict[str, Path]:
    """The ``.deb`` file of every source package: from ``debs``, or the cache (fetched if missing).

    Parameters
    ----------
    debs : path-like or None
        A folder already holding ``<package>_<version>_<arch>.deb`` files (as ``apt-get
        download`` names them); apt is then never called.  ``None``: the cache
        :func:`melrec_lib.paths.external_dir`, where missing packages are fetched with
        ``apt-get download`` (which needs no root).  On "Unable to locate package" (package
        lists never fetched) a root process runs ``apt-get update`` once and retries; others
        get an error saying to run it.
    packages : sequence of str or None
        Default :data:`PACKAGES`.
    progress : bool
        Let apt print its download progress.

    Returns
    -------
    dict of str to Path
        Package name -> its ``.deb``.

    Raises
    ------
    PackageFetchError
        ``debs`` is not a folder or lacks a package, a folder holds two versions of one package,
        apt-get is missing or fails; the message names the packages and how to supply them.
    """
    packages = tuple(PACKAGES if packages is None else packages)
    if debs is not None:
        folder = Path(debs).expanduser()
        if not folder.is_dir():
            raise PackageFetchError(f"--debs {folder}: no such folder; {_supply_hint(packages)}")
    else:
        folder = paths.external_dir()
        folder.mkdir(parents=True, exist_ok=True)
        missing = [p for p in packages if not _deb_candidates(folder, p)]
        if missing:
            _apt_download(missing, folder, progress=progress)
    found, absent = {}, []
    for package in packages:
        cands = _deb_candidates(folder, package)
        if not cands:
            absent.append(package)
        elif len(cands) > 1:
            raise PackageFetchError(
                f"{folder} holds {len(cands)} files of package {package} "
                f"({', '.join(c.name for c in cands)}); keep exactly one"
            )
        else:
            found[package] = cands[0]
    if absent:
        raise PackageFetchError(f"{folder} lacks the Debian package(s) {absent}; {_supply_hint(absent)}")
    return found


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# selecting and extracting a package's music
# --------------------------------------------------------------------------------------------
def _is_audio(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in SOURCE_EXTENSIONS + SCORE_EXTENSIONS


def _classify(st: Soundtrack, path: str) -> tuple[str | None, str | None]:
    """``(path below root, None)`` for a music file, ``(None, reason)`` for any other audio file."""
    root = st.root.rstrip("/") + "/"
    rel = path[len(root) :] if path.startswith(root) else None
    if rel is not None and any(fnmatch.fnmatchcase(rel, pat) for pat in st.music):
        return rel, None
    if rel is not None:
        for pattern, reason in st.not_music:
            if fnmatch.fnmatchcase(rel, pattern):
                return None, reason
    where = " or ".join(f"{root}{pat}" for pat in st.music)
    return None, f"not music: outside {where}"


def _unpack(st: Soundtrack, deb: str, staging: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Extract one package's music files into ``staging``.

    Returns ``(candidates, skipped)``: candidates ``(path below root, staged file, sha256 of the
    bytes)``; skipped ``(path in package, reason)`` for its other audio files.
    """
    candidates, skipped = [], []
    for m, tar in iter_data(deb):
        path = _member_path(m.name)
        if m.isdir() or not _is_audio(path):
            continue
        rel, reason = _classify(st, path)
        if rel is None:
            skipped.append((path, reason))
            continue
        if not m.isfile():
            skipped.append((path, f"duplicate: a link to {m.linkname}"))
            continue
        suffix = PurePosixPath(path).suffix.lower()
        if suffix in SCORE_EXTENSIONS:
            skipped.append((path, f"unreadable format: {suffix} {_SCORE_REASON}"))
            continue
        dst = Path(staging) / st.name / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        src = tar.extractfile(m)
        with open(dst, "wb") as out:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        candidates.append((rel, str(dst), h.hexdigest()))
    return sorted(candidates), skipped


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "track"


def _names(st: Soundtrack, rels: Sequence[str]) -> dict[str, str]:
    """A file name (no extension) per track: the slug of its stem, or of its whole path if stems collide."""
    stems = [_slug(PurePosixPath(r).stem) for r in rels]
    counts = {s: stems.count(s) for s in stems}
    out = {}
    for rel, stem in zip(rels, stems):
        out[rel] = stem if counts[stem] == 1 else _slug(str(PurePosixPath(rel).with_suffix("")))
    if len(set(out.values())) != len(out):
        raise DatasetError(f"{st.name}: two music files map to one track name ({sorted(rels)})")
    return out


def _name_rows(st: Soundtrack, rows: list[dict], root: Path) -> None:
    """Give converted rows their track id and move their WAV from its hidden name to the final one."""
    prefix = st.root.rstrip("/") + "/"
    names = _names(st, [r["source_path"][len(prefix) :] for r in rows])
    for r in rows:
        name = names[r["source_path"][len(prefix) :]]
        final = root / st.name / f"{name}.wav"
        os.replace(r["path"], final)
        r["track_id"], r["path"] = f"{st.name}-{name}", str(final)


# --------------------------------------------------------------------------------------------
# converting one file
# --------------------------------------------------------------------------------------------
def _convert(src: str, dst: str, policy: dict) -> dict:
    """Decode, mix, resample, excerpt and write one track; ``{"reason": ...}`` if it is skipped."""
    import soundfile as sf

    from melrec_lib.io import audio

    try:
        source_duration = audio.info(src).duration_s
        if source_duration < policy["min_duration_s"]:
            return {"reason": f"too short: {source_duration:.1f} s < {policy['min_duration_s']:g} s"}
        y, sr = audio.load(src, sr=policy["sr"], mono=True)
    except AudioError as exc:  # the message names the temporary copy: name the file by its role instead
        return {"reason": f"unreadable: {type(exc).__name__}: {str(exc).replace(src, 'the file')}"}
    if not np.all(np.isfinite(y)):
        return {"reason": "unreadable: samples are not finite"}
    audio_sha = hashlib.sha256(np.ascontiguousarray(y, dtype=np.float32).tobytes()).hexdigest()
    n = len(y)
    m = min(n, int(round(policy["excerpt_s"] * sr)))
    start = (n - m) // 2
    pcm = np.clip(np.rint(y[start : start + m].astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    peak = int(np.max(np.abs(pcm.astype(np.int32)))) if m else 0
    if peak == 0 or 20 * np.log10(peak / 32768.0) < policy["silence_dbfs"]:
        return {"reason": f"silent: the excerpt peaks below {policy['silence_dbfs']:g} dBFS"}
    with atomic_file(dst) as tmp:
        sf.write(str(tmp), pcm, sr, subtype="PCM_16", format="WAV")
    return {
        "reason": None,
        "audio_sha256": audio_sha,
        "duration_s": m / sr,
        "offset_s": start / sr,
        "source_duration_s": n / sr,
        "clipped": int(np.count_nonzero(np.abs(pcm.astype(np.int32)) >= 32767)),
    }


def _wav_ok(path: Path, duration_s: float) -> bool:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # noqa: BLE001 - missing, truncated, not audio: all mean "convert again"
        return False
    return (
        info.samplerate == SAMPLE_RATE
        and info.channels == 1
        and info.subtype == "PCM_16"
        and info.frames == int(round(float(duration_s) * SAMPLE_RATE))
    )


# --------------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------------
def _previous(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    csv, skipped_csv = root / "tracks.csv", root / "skipped.csv"
    try:
        old = read_manifest(csv)
        old_skipped = pd.read_csv(skipped_csv, dtype=str, keep_default_na=False)
    except Exception:  # noqa: BLE001 - no usable previous build: convert everything
        return pd.DataFrame(), pd.DataFrame(columns=list(SKIPPED_REPORT_COLUMNS) + ["deb_sha256", "build_key"])
    return old, old_skipped


def _reusable(old: pd.DataFrame, old_skipped: pd.DataFrame, package: str, deb_sha: str, key: str) -> bool:
    """True if the previous build converted ``package`` from the same bytes under the same policy."""
    if old.empty or not {"package", "deb_sha256", "build_key"} <= set(old.columns):
        return False
    rows = old[old["package"] == package]
    skipped = old_skipped[old_skipped["package"] == package] if "package" in old_skipped else old_skipped.iloc[:0]
    if rows.empty and skipped.empty:
        return False
    for table in (rows, skipped):
        if not table.empty and not (
            (table["deb_sha256"].astype(str) == deb_sha).all() and (table["build_key"].astype(str) == key).all()
        ):
            return False
    return all(_wav_ok(Path(r.path), r.duration_s) for r in rows.itertuples())


@dataclass
class _Package:
    """One package of a build: its soundtrack, ``.deb``, ``source`` label and SHA-256."""

    st: Soundtrack
    deb: Path
    source: str
    sha: str


@dataclass
class _Pending:
    """One music file on its way through conversion, under a hidden name until it is named."""

    pkg: _Package
    rel: str
    sha: str
    dst: Path


def _fetch_packages(lib: Library, debs, progress: bool) -> list[_Package]:
    """Step 1, fetch: every package of ``lib``'s table, checked to be the package it claims to be."""
    found = fetch(debs=debs, packages=lib.packages, progress=progress)
    out = []
    for st in lib.soundtracks:
        deb = found[st.package]
        control = read_control(deb)
        if control.get("Package") != st.package:
            raise PackageFetchError(f"{deb}: holds package {control.get('Package')!r}, not {st.package!r}")
        out.append(_Package(st, deb, f"{st.package} {control.get('Version', '?')}", _sha256(deb)))
    return out


def _unpack_and_select(
    todo: list[_Package], staging: str, root: Path, n_jobs, progress: bool
) -> tuple[list[_Pending], dict[str, list[tuple[str, str]]], list[str]]:
    """Step 2, unpack and select: each package's music files extracted, byte-identical copies skipped.

    Returns the pending conversions (the first copy of each file by path), the skipped files by
    package ``(path in package, reason)``, and the staged source file of each pending conversion.
    """
    unpacked = parallel_map(
        _unpack,
        [(p.st, str(p.deb), staging) for p in todo],
        n_jobs=n_jobs,
        star=True,
        desc="soundtracks: unpacking",
        unit="MB",
        progress=progress,
        weights=[max(1, p.deb.stat().st_size >> 20) for p in todo],
    )
    pending, skipped_by, sources = [], {}, []
    for pkg, (candidates, skipped) in zip(todo, unpacked):
        seen: dict[str, str] = {}
        for rel, staged, sha in candidates:
            path = f"{pkg.st.root.rstrip('/')}/{rel}"
            if sha in seen:
                skipped.append((path, f"duplicate: same file bytes as {seen[sha]}"))
                continue
            seen[sha] = path
            # converted under a hidden name; renamed once duplicates of the audio are known
            pending.append(_Pending(pkg, rel, sha, root / pkg.st.name / f".converted-{sha[:20]}.wav"))
            sources.append(staged)
        skipped_by[pkg.st.package] = skipped
    return pending, skipped_by, sources


def _convert_all(
    pending: list[_Pending], sources: list[str], skipped_by: dict, key: str, n_jobs, progress: bool
) -> dict[str, list[dict]]:
    """Step 3, convert: decode, resample, excerpt and write every pending file; its manifest row, by package.

    Files that convert to nothing (too short, silent, unreadable) join ``skipped_by``.
    """
    policy = _policy()
    results = parallel_map(
        _convert,
        [(src, str(p.dst), policy) for src, p in zip(sources, pending)],
        n_jobs=n_jobs,
        star=True,
        desc="soundtracks: converting",
        unit="MB",
        progress=progress,
        weights=[max(1, os.path.getsize(src) >> 20) for src in sources],
    )
    rows: dict[str, list[dict]] = {package: [] for package in skipped_by}
    for p, res in zip(pending, results):
        st = p.pkg.st
        path = f"{st.root.rstrip('/')}/{p.rel}"
        if res["reason"] is not None:
            skipped_by[st.package].append((path, res["reason"]))
            if p.dst.exists():
                p.dst.unlink()
            continue
        part = st.part(p.rel)
        rows[st.package].append(
            {
                "track_id": None,
                "path": str(p.dst),
                "genre": st.genre,
                "substyle": part.substyle,
                "artist": st.name,
                "tempo_bpm": None,
                "key": None,
                "duration_s": res["duration_s"],
                "seed": None,
                "soundtrack": st.name,
                "composer": part.composer or st.composer,
                "license": part.license or st.license,
                "source": p.pkg.source,
                "package": st.package,
                "source_path": path,
                "source_duration_s": res["source_duration_s"],
                "offset_s": res["offset_s"],
                "clipped": res["clipped"],
                "source_sha256": p.sha,
                "audio_sha256": res["audio_sha256"],
                "deb_sha256": p.pkg.sha,
                "build_key": key,
            }
        )
    return rows


def _assemble(
    lib: Library,
    packages: list[_Package],
    reuse: set[str],
    old: pd.DataFrame,
    old_skipped: pd.DataFrame,
    new_rows: dict[str, list[dict]],
    new_skipped: dict[str, list[tuple[str, str]]],
    key: str,
    root: Path,
) -> tuple[list[dict], list[dict]]:
    """Step 4a: the kept rows (reused or new, decoded-audio duplicates dropped, WAVs named) and the skipped rows."""
    rows, skipped_rows = [], []
    for pkg in packages:
        st = pkg.st
        if st.package in reuse:
            rows += old[old["package"] == st.package].to_dict("records")
            skipped_rows += old_skipped[old_skipped["package"] == st.package].to_dict("records")
        else:
            rows += new_rows[st.package]
            skipped_rows += [
                {
                    "path": p,
                    "reason": r,
                    "soundtrack": st.name,
                    "package": st.package,
                    "deb_sha256": pkg.sha,
                    "build_key": key,
                }
                for p, r in sorted(new_skipped[st.package])
            ]
    # the same decoded audio under two names (in any packages): keep the first in table order
    kept_rows, first, duplicates = [], {}, []
    for r in rows:
        if r["audio_sha256"] in first:
            Path(r["path"]).unlink(missing_ok=True)
            duplicates.append((r, first[r["audio_sha256"]]))
        else:
            first[r["audio_sha256"]] = r
            kept_rows.append(r)
    for st in lib.soundtracks:  # track names once the kept files are known (reused rows have theirs)
        if st.package not in reuse:
            _name_rows(st, [r for r in kept_rows if r["package"] == st.package], root)
    for r, original in duplicates:
        skipped_rows.append(
            {
                "path": r["source_path"],
                "reason": f"duplicate: same decoded audio as {original['track_id']}",
                "soundtrack": r["soundtrack"],
                "package": r["package"],
                "deb_sha256": r["deb_sha256"],
                "build_key": r["build_key"],
            }
        )
    for st in lib.soundtracks:
        if not any(r["soundtrack"] == st.name for r in kept_rows):
            warnings.warn(f"{lib.name}: no track of {st.name} ({st.package}) was kept", stacklevel=3)
    return kept_rows, skipped_rows


def _write(lib: Library, root: Path, kept_rows: list[dict], skipped_rows: list[dict]) -> None:
    """Step 4b, write: unlisted WAVs removed, then ``skipped.csv``, then ``tracks.csv`` last."""
    listed = {Path(r["path"]).resolve() for r in kept_rows}
    for st in lib.soundtracks:
        for wav in sorted((root / st.name).glob("*.wav")):
            if wav.resolve() not in listed:
                wav.unlink()
    skipped_df = pd.DataFrame(skipped_rows, columns=list(SKIPPED_REPORT_COLUMNS) + ["deb_sha256", "build_key"])
    with atomic_file(root / "skipped.csv") as tmp:
        skipped_df.to_csv(tmp, index=False)
    write_manifest(conform(pd.DataFrame(kept_rows)), root / "tracks.csv")


def build(
    *,
    library: str = DEVELOPMENT,
    debs: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Build a library of soundtracks from its Debian packages and write its ``tracks.csv``.

    Four steps: fetch the packages, unpack them and select their music (byte-identical copies
    skipped), convert each file (the excerpt policy), then name and write the tracks (copies of
    the same decoded audio skipped) with ``skipped.csv`` and the manifest.

    Parameters
    ----------
    library : {"development", "confirmation"}
        Which library (:data:`LIBRARIES`): the development one, collection ``soundtracks``
        (:data:`SOUNDTRACKS`, eight packages), or the confirmation one, collection
        ``soundtracks-confirmation`` (:data:`CONFIRMATION_SOUNDTRACKS`, seven packages).
    debs : path-like or None
        Folder of already-downloaded ``.deb`` files; ``None`` fetches missing ones with
        ``apt-get download`` into the cache ``data/external/`` (see :func:`fetch`).
    n_jobs : int > 0 or None
        Worker processes for unpacking and converting (joblib); ``None`` = all cores.
    progress : bool
        Progress bars (unpacking and converting, in MB of source files) and apt's output.

    Returns
    -------
    manifest : pd.DataFrame
        One row per kept track, in table order then by source path: the
        :mod:`~melrec_lib.io.manifest` columns (``track_id`` = ``<soundtrack>-<name>``, absolute
        ``path``, ``genre`` and ``substyle`` from the table, ``artist`` = the soundtrack,
        ``duration_s`` of the excerpt) plus ``soundtrack``, ``composer``, ``license``,
        ``source`` (``"<package> <version>"``), ``package``, ``source_path`` (inside the
        package), ``source_duration_s``, ``offset_s`` (excerpt start), ``clipped`` (samples at
        full scale after rounding), ``source_sha256`` (file bytes), ``audio_sha256`` (decoded
        44.1 kHz mono audio), ``deb_sha256`` and ``build_key`` (:data:`BUILD_VERSION` and the
        excerpt policy).  ``attrs["skipped"]``: every other audio file of the packages with
        ``path`` (inside the package), ``reason``, ``soundtrack``, ``package``; the same table
        is written to ``skipped.csv``.

    Notes
    -----
    A package is converted again unless the previous build lists it with the same ``.deb``
    SHA-256 and ``build_key`` and all its WAVs are intact.  Each WAV is written to a temporary
    file and renamed into place; ``tracks.csv`` is removed before any conversion and written
    last (after ``skipped.csv``), so an interrupted build never leaves a corrupt WAV or a
    manifest that lies.  WAVs in the library's folder that the new manifest does not list are
    removed.

    Raises
    ------
    PackageFetchError
        a package cannot be fetched or read (see :func:`fetch`).
    ParameterError
        ``library`` is not a known library, or ``n_jobs`` is not None or a positive integer.
    """
    lib = get_library(library)
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1):
        raise ParameterError(f"n_jobs must be None or a positive integer, got {n_jobs!r}")
    key = stable_hash(_policy(), 12)
    packages = _fetch_packages(lib, debs, progress)

    root = corpus_root(lib.role)
    root.mkdir(parents=True, exist_ok=True)
    old, old_skipped = _previous(root)
    reuse = {p.st.package for p in packages if _reusable(old, old_skipped, p.st.package, p.sha, key)}
    todo = [p for p in packages if p.st.package not in reuse]

    new_rows: dict[str, list[dict]] = {}
    new_skipped: dict[str, list[tuple[str, str]]] = {}
    if todo:
        # the manifest is rewritten only after the audio, so a crash never leaves it naming stale files
        (root / "tracks.csv").unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="melrec-soundtracks-") as staging:
            pending, new_skipped, sources = _unpack_and_select(todo, staging, root, n_jobs, progress)
            new_rows = _convert_all(pending, sources, new_skipped, key, n_jobs, progress)
    kept_rows, skipped_rows = _assemble(lib, packages, reuse, old, old_skipped, new_rows, new_skipped, key, root)
    _write(lib, root, kept_rows, skipped_rows)
    return load_manifest(lib.role)


def load_manifest(library: str = DEVELOPMENT) -> pd.DataFrame:
    """The manifest of a built library (absolute paths), its ``skipped`` report in ``attrs``.

    Parameters
    ----------
    library : {"development", "confirmation"}
        The development library (collection ``soundtracks``) or the confirmation one
        (``soundtracks-confirmation``).

    Raises
    ------
    DatasetError
        if the library has not been built, with the command that builds it.
    ParameterError
        if ``library`` is not a known library.
    """
    lib = get_library(library)
    root = corpus_root(lib.role)
    csv = root / "tracks.csv"
    if not csv.is_file():
        flag, arg = (" --library confirmation", 'library="confirmation"') if lib.role == CONFIRMATION else ("", "")
        raise DatasetError(
            f"the {lib.role} library {lib.name!r} is not built ({csv} missing); run "
            f"`melrec corpus soundtracks{flag}` or `make data-real` (or soundtracks.build({arg})); "
            f"without apt, pass the downloaded packages: --debs DIR"
        )
    df = read_manifest(csv)
    for col in ("track_id", "source_path", "package", "soundtrack"):
        if col in df.columns:
            df[col] = df[col].astype(str)
    skipped_csv = root / "skipped.csv"
    if skipped_csv.is_file():
        skipped = pd.read_csv(skipped_csv, dtype=str, keep_default_na=False)
    else:
        skipped = pd.DataFrame(columns=list(SKIPPED_REPORT_COLUMNS))
    df.attrs["skipped"] = skipped
    return df
