"""The nine genres, their sub-styles, and the artist palettes drawn from them.

A :class:`SubStyle` is the idiom: tempo range, modes, swing, drum patterns per section, the
bass / comping / lead styles, the General MIDI program pools and chord progressions.
An :class:`ArtistPalette` is one artist's fixed choice inside a sub-style (instruments, tempo
centre, keys, swing, tightness, mix); each track of the artist then varies key, tempo, form,
progressions, riffs and melody around that palette.

Drum patterns are strings of equal-length steps per 4/4 bar (16 = sixteenths, 8 = eighths);
``X`` accent, ``x`` normal, ``o`` soft, ``g`` ghost, ``-`` rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GENRES = ("rock", "hip-hop", "pop", "metal", "reggae", "drum-and-bass", "dubstep", "jazz", "classical")

# General MIDI percussion keys
KICK, KICK2, RIM, SNARE, CLAP, SNARE2 = 36, 35, 37, 38, 39, 40
CHH, PHH, OHH, CRASH, RIDE, BELL, CHINA = 42, 44, 46, 49, 51, 53, 52
TOM_HI, TOM_MID, TOM_LO, TOM_FLOOR = 50, 47, 45, 43
TAMB, COWBELL, SHAKER, CLAVES = 54, 56, 70, 75

# Drum kits of TimGM6mb.sf2 (bank 128 presets)
KIT_STANDARD, KIT_ROOM, KIT_POWER, KIT_ELECTRONIC, KIT_808, KIT_JAZZ, KIT_BRUSH = 0, 8, 16, 24, 25, 32, 40

VELOCITY = {"X": 118, "x": 96, "o": 72, "g": 42}


@dataclass(frozen=True)
class SubStyle:
    """The idiom of one sub-style of a genre (see module docstring)."""

    genre: str
    name: str
    bpm: tuple[float, float]
    modes: tuple[str, ...]
    drums: dict | None  # section -> tuple of {gm_key: pattern} variants; None = no drums
    kits: tuple[int, ...]
    bass: str
    comp: str
    lead: str
    programs: dict  # role -> tuple of GM programs
    progressions: tuple[tuple[int, ...], ...]
    chord_size: int = 3
    beats_per_chord: float = 4.0
    swing: tuple[float, float] = (0.0, 0.0)
    swing_unit: float = 0.5
    rubato: tuple[float, float] = (0.0, 0.0)
    tightness_ms: tuple[float, float] = (3.0, 8.0)
    tonics: tuple[int, ...] = tuple(range(12))
    octave_shift: int = 0  # downtuning etc. for the bass/comp register
    pad: bool = False
    lead_density: tuple[float, float] = (0.4, 0.7)
    #: the beat is commonly felt (and estimated by librosa) at half the notated tempo:
    #: half-time dubstep, and sub-styles above ~160 BPM (see ``tempo_candidates``)
    felt_half: bool = False


def _d(**parts: str) -> dict:
    """A drum pattern from keyword parts: ``_d(k="x---", s="--x-")`` with named GM keys."""
    names = {
        "k": KICK,
        "k2": KICK2,
        "rim": RIM,
        "s": SNARE,
        "cl": CLAP,
        "s2": SNARE2,
        "ch": CHH,
        "ph": PHH,
        "oh": OHH,
        "cr": CRASH,
        "rd": RIDE,
        "bl": BELL,
        "cn": CHINA,
        "th": TOM_HI,
        "tm": TOM_MID,
        "tl": TOM_LO,
        "tb": TAMB,
        "cb": COWBELL,
        "sh": SHAKER,
        "cv": CLAVES,
    }
    return {names[k]: v for k, v in parts.items()}


STYLES: dict[str, dict[str, SubStyle]] = {}


def _add(s: SubStyle) -> None:
    STYLES.setdefault(s.genre, {})[s.name] = s


_GTR_DIST = (30, 30, 29)
_MINOR_ROCK = ((0, 5, 6, 0), (0, 6, 5, 6), (0, 3, 6, 5), (0, 2, 3, 4), (0, 0, 5, 6), (0, 3, 0, 6))

_add(
    SubStyle(
        "metal",
        "thrash",
        (180, 200),
        ("minor", "phrygian"),
        {
            "verse": (
                _d(k="x-x-x-x-x-x-x-x-", s="----X-------X---", ch="x---x---x---x---"),
                _d(k="xxxxxxxxxxxxxxxx", s="----X-------X---", ch="x---x---x---x---"),
            ),
            "chorus": (
                _d(k="xxxxxxxxxxxxxxxx", s="----X-------X---", cr="X---x---x---x---"),
                _d(k="x-x-x-x-x-x-x-x-", s="----X-------X---", cn="x---x---x---x---"),
            ),
            "break": (_d(k="x-------x-------", s="----X-------X---", ch="x---x---x---x---"),),
        },
        (KIT_POWER, KIT_STANDARD, KIT_ROOM),
        "root8",
        "tremolo",
        "riff",
        {"comp": _GTR_DIST, "bass": (34, 33, 30), "lead": (30, 29, 84)},
        _MINOR_ROCK,
        tonics=(4, 2, 1, 11, 9),
        octave_shift=-1,
        tightness_ms=(2, 5),
        lead_density=(0.6, 0.9),
        felt_half=True,
    )
)
_add(
    SubStyle(
        "metal",
        "nu-metal",
        (160, 176),
        ("minor", "phrygian"),
        {
            "verse": (
                _d(k="x-xx----x-xx----", s="----X-------X---", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x-xx----x-x--x--", s="----X-------X---", ch="x-x-x-x-x-x-x-x-"),
            ),
            "chorus": (_d(k="x-x-x---x-x-x-x-", s="----X-------X---", cr="X---x---x---x---", ch="--x---x---x---x-"),),
            "break": (_d(k="x---------x-----", s="----X-------X---", rd="x-x-x-x-x-x-x-x-"),),
        },
        (KIT_POWER, KIT_ELECTRONIC, KIT_STANDARD),
        "kick",
        "riff_kick",
        "hook",
        {"comp": _GTR_DIST, "bass": (34, 36, 38), "lead": (30, 85, 54)},
        _MINOR_ROCK,
        tonics=(2, 1, 0, 11),
        octave_shift=-1,
        tightness_ms=(2, 5),
        pad=True,
        lead_density=(0.25, 0.45),
        felt_half=True,
    )
)

_MAJOR_POP = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (5, 3, 0, 4), (0, 3, 0, 4), (0, 4, 3, 3))
_ROCK_MAJ = ((0, 3, 4, 3), (0, 6, 3, 0), (0, 4, 3, 0), (0, 3, 6, 3), (0, 0, 3, 4))

_add(
    SubStyle(
        "rock",
        "classic",
        (110, 128),
        ("major", "mixolydian", "minor"),
        {
            "verse": (
                _d(k="x-------x-x-----", s="----x-------x---", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x------xx-------", s="----x-------x---", ch="x-x-x-x-x-x-x-x-"),
            ),
            "chorus": (
                _d(k="x-------x-x-----", s="----X-------X---", rd="x-x-x-x-x-x-x-x-", cr="X---------------"),
                _d(k="x-----x-x-------", s="----X-------X---", oh="x-x-x-x-x-x-x-x-"),
            ),
            "break": (_d(k="x-------x-------", s="----x-------x---", ch="x---x---x---x---"),),
        },
        (KIT_STANDARD, KIT_ROOM),
        "root8",
        "strum_power",
        "melody",
        {"comp": (29, 29, 27), "bass": (33, 34), "lead": (29, 16, 17), "pad": (16, 17)},
        _ROCK_MAJ,
        tonics=(4, 9, 7, 2, 0),
        tightness_ms=(5, 12),
        pad=True,
    )
)
_add(
    SubStyle(
        "rock",
        "punk",
        (128, 140),
        ("major", "minor"),
        {
            "verse": (
                _d(k="x---x---x---x---", s="----x-------x---", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x-x---x-x-x---x-", s="----x-------x---", ch="x-x-x-x-x-x-x-x-"),
            ),
            "chorus": (
                _d(k="x---x---x---x---", s="--x---x---x---x-", cr="X---x---x---x---"),
                _d(k="x---x---x---x---", s="----X-------X---", cr="X-x-x-x-x-x-x-x-"),
            ),
            "break": (_d(k="x-------x-------", s="----x-------x---", ch="xxxxxxxxxxxxxxxx"),),
        },
        (KIT_STANDARD, KIT_ROOM, KIT_POWER),
        "root8",
        "power8",
        "hook",
        {"comp": (29, 30), "bass": (34, 33), "lead": (29, 84, 56)},
        _MAJOR_POP + _ROCK_MAJ,
        tonics=(4, 9, 2, 7),
        tightness_ms=(4, 10),
        lead_density=(0.4, 0.6),
    )
)

_add(
    SubStyle(
        "hip-hop",
        "boom-bap",
        (85, 95),
        ("minor", "dorian"),
        {
            "verse": (
                _d(k="x-------x-x-----", s="----X-------X---", ch="x-o-x-o-x-o-x-o-"),
                _d(k="x------xx-----x-", s="----X-------X---", ch="x-ogx-ogx-ogx-og"),
            ),
            "chorus": (_d(k="x-------x-x---x-", s="----X-------X---", ch="xgogxgogxgogxgog", oh="------------x---"),),
            "break": (_d(k="x-------x-------", s="----X-------X---"),),
        },
        (KIT_STANDARD, KIT_ROOM, KIT_ELECTRONIC),
        "kick",
        "loop",
        "sparse",
        {"comp": (4, 5, 0, 11, 48), "bass": (33, 35, 32), "lead": (11, 61, 73, 56), "pad": (48, 49)},
        ((0, 0, 3, 3), (0, 5, 0, 5), (0, 3, 5, 4), (1, 4, 0, 0), (0, 6, 5, 6)),
        chord_size=4,
        swing=(0.08, 0.18),
        swing_unit=0.25,
        tightness_ms=(6, 12),
        tonics=(0, 2, 5, 7, 9, 10),
        lead_density=(0.15, 0.3),
    )
)
_add(
    SubStyle(
        "hip-hop",
        "trap",
        (85, 95),
        ("minor", "harmonic", "phrygian"),
        {
            "verse": (
                _d(k="x------x--x-----", cl="----X-------X---", ch="Xg-gXg-gXg-gXg-g"),
                _d(k="x-----x---x--x--", cl="----X-------X---", ch="X-g-X-ggX-g-X-gg"),
            ),
            "chorus": (_d(k="x------x--x--x--", cl="----X-------X---", ch="XgggXgggXgggXggg", oh="--------------x-"),),
            "break": (_d(cl="----X-------X---", ch="x-x-x-x-x-x-x-x-"),),
        },
        (KIT_808, KIT_808, KIT_ELECTRONIC),
        "808",
        "bells",
        "sparse",
        {"comp": (9, 10, 8, 88, 99), "bass": (38, 39, 87), "lead": (80, 81, 88), "pad": (89, 94, 52)},
        ((0, 0, 5, 5), (0, 5, 3, 4), (0, 1, 0, 6), (0, 2, 5, 4)),
        swing=(0.0, 0.06),
        swing_unit=0.25,
        tightness_ms=(1, 3),
        pad=True,
        lead_density=(0.15, 0.3),
    )
)

_add(
    SubStyle(
        "reggae",
        "one-drop",
        (70, 80),
        ("major", "minor"),
        {
            "verse": (
                _d(k="--------X-------", rim="--------X-------", ch="x-x-x-x-x-x-x-x-"),
                _d(k="--------X-------", rim="--------X-----o-", ch="x-xxx-x-x-xxx-x-"),
            ),
            "chorus": (_d(k="--------X-------", s="--------X-------", ch="x-x-x-x-x-x-x-x-", oh="------x-------x-"),),
            "break": (_d(rim="--------X-------", ch="x-x-x-x-x-x-x-x-"),),
        },
        (KIT_STANDARD, KIT_ROOM),
        "reggae",
        "skank",
        "melody",
        {"comp": (27, 28, 4), "bubble": (16, 17, 18), "bass": (33, 34, 38), "lead": (56, 65, 66, 73, 24)},
        ((0, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 1, 4), (0, 6, 0, 6)),
        swing=(0.03, 0.1),
        tightness_ms=(4, 9),
        tonics=(9, 7, 2, 0, 5),
        lead_density=(0.3, 0.5),
    )
)
_add(
    SubStyle(
        "reggae",
        "steppers",
        (72, 80),
        ("minor", "dorian"),
        {
            "verse": (_d(k="X---x---X---x---", rim="--------X-------", ch="x---x---x---x-o-"),),
            "chorus": (_d(k="X---x---X---x---", s="--------X-------", ch="x---x---x---x---", oh="--------------o-"),),
            "break": (_d(k="x---x---x---x---", rim="--------X-------"),),
        },
        (KIT_STANDARD, KIT_ROOM, KIT_ELECTRONIC),
        "reggae",
        "skank",
        "melody",
        {"comp": (27, 28, 4), "bass": (38, 33, 39), "lead": (61, 57, 73, 80)},
        ((0, 6, 0, 6), (0, 3, 0, 3), (0, 5, 3, 6), (0, 3, 6, 4)),
        swing=(0.0, 0.05),
        tightness_ms=(3, 7),
        tonics=(9, 4, 2, 7),
        lead_density=(0.25, 0.45),
    )
)

_add(
    SubStyle(
        "pop",
        "dance-pop",
        (116, 125),
        ("major", "minor"),
        {
            "verse": (
                _d(k="x---x---x---x---", cl="----x-------x---", oh="--x---x---x---x-"),
                _d(k="x---x---x---x---", cl="----x-------x---", ch="x-x-x-x-x-x-x-x-", sh="xoxoxoxoxoxoxoxo"),
            ),
            "chorus": (_d(k="x---x---x---x---", cl="----X-------X---", oh="--x---x---x---x-", cr="X---------------"),),
            "break": (_d(k="x---x---x---x---", ch="--x---x---x---x-"),),
        },
        (KIT_ELECTRONIC, KIT_808, KIT_STANDARD),
        "offbeat",
        "stabs",
        "hook",
        {"comp": (81, 90, 62, 4), "bass": (38, 39, 87), "lead": (80, 81, 87, 84), "pad": (89, 90, 94, 50)},
        _MAJOR_POP,
        tonics=tuple(range(12)),
        tightness_ms=(0.5, 2),
        pad=True,
        lead_density=(0.45, 0.65),
    )
)
_add(
    SubStyle(
        "pop",
        "piano-pop",
        (100, 112),
        ("major",),
        {
            "verse": (
                _d(k="x-------x-x-----", s="----x-------x---", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x-----x-x-------", rim="----x-------x---", sh="xoxoxoxoxoxoxoxo"),
            ),
            "chorus": (
                _d(
                    k="x-------x-x-----",
                    s="----X-------X---",
                    ch="x-x-x-x-x-x-x-x-",
                    tb="----x-------x---",
                    cr="X---------------",
                ),
            ),
            "break": (_d(ch="x-x-x-x-x-x-x-x-", rim="----x-------x---"),),
        },
        (KIT_STANDARD, KIT_ROOM),
        "ballad",
        "block",
        "melody",
        {"comp": (0, 1, 4, 24), "bass": (33, 35, 32), "lead": (73, 53, 65, 40), "pad": (48, 49, 52)},
        _MAJOR_POP,
        tonics=(0, 2, 4, 5, 7, 9),
        tightness_ms=(3, 7),
        pad=True,
        lead_density=(0.35, 0.55),
    )
)

_add(
    SubStyle(
        "drum-and-bass",
        "liquid",
        (172, 176),
        ("minor", "dorian", "major"),
        {
            "verse": (
                _d(k="x---------x-----", s="----X-------X---", ch="X-o-X-o-X-o-X-o-", sh="-gg--gg--gg--gg-"),
                _d(k="x---------x-----", s="----X--g-g--X---", ch="X-o-X-o-X-o-X-o-"),
            ),
            "chorus": (_d(k="x---------x-----", s="----X-------X--g", rd="X-o-X-o-X-o-X-o-", cr="X---------------"),),
            "break": (_d(ch="x-x-x-x-x-x-x-x-", sh="-gg--gg--gg--gg-"),),
        },
        (KIT_STANDARD, KIT_ELECTRONIC, KIT_ROOM),
        "sub",
        "rhodes",
        "melody",
        {"comp": (4, 5, 89, 0), "bass": (38, 32, 35), "lead": (73, 52, 53, 11, 65), "pad": (89, 94, 49, 91)},
        ((1, 4, 0, 0), (0, 5, 3, 4), (3, 4, 2, 5), (0, 3, 1, 4)),
        chord_size=4,
        tightness_ms=(1, 3),
        pad=True,
        beats_per_chord=8.0,
        lead_density=(0.25, 0.4),
        felt_half=True,
    )
)
_add(
    SubStyle(
        "drum-and-bass",
        "neurofunk",
        (170, 174),
        ("minor", "phrygian"),
        {
            "verse": (
                _d(k="x---------x-----", s="----X-------X---", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x---------x---x-", s="----X-------X---", ch="x-o-x-o-x-o-x-o-", sh="gggggggggggggggg"),
            ),
            "chorus": (_d(k="x---------x-----", s="----X-------X---", ch="x-x-x-x-x-x-x-x-", cr="X---------------"),),
            "break": (_d(k="x---------x-----", s="----X-------X---"),),
        },
        (KIT_ELECTRONIC, KIT_808, KIT_POWER),
        "reese",
        "stabs",
        "sparse",
        {"comp": (62, 63, 55, 81), "bass": (81, 86, 39, 87), "lead": (80, 101, 102), "pad": (95, 92, 99)},
        ((0, 0, 5, 6), (0, 1, 0, 5), (0, 0, 0, 6)),
        tightness_ms=(0.5, 1.5),
        beats_per_chord=8.0,
        lead_density=(0.1, 0.25),
        felt_half=True,
    )
)

_add(
    SubStyle(
        "dubstep",
        "brostep",
        (138, 142),
        ("minor", "phrygian"),
        {
            "verse": (
                _d(k="x---------------", s="--------X-------", ch="x-x-x-x-x-x-x-x-"),
                _d(k="x-x-------------", s="--------X-------", ch="x-x-x-x-x-x-x-x-", oh="------x-------x-"),
            ),
            "chorus": (_d(k="x---x-------x---", s="--------X-------", ch="x-x-x-x-x-x-x-x-", cr="X---------------"),),
            "break": (_d(ch="x-x-x-x-x-x-x-x-"),),
        },
        (KIT_ELECTRONIC, KIT_808, KIT_POWER),
        "wobble",
        "stabs",
        "sparse",
        {"comp": (81, 62, 55), "bass": (81, 86, 39, 87, 38), "lead": (80, 84, 101), "pad": (95, 99, 89)},
        ((0, 0, 5, 6), (0, 1, 0, 0), (0, 0, 3, 4), (0, 5, 0, 6)),
        tightness_ms=(0.3, 1.0),
        tonics=(5, 4, 2, 7),
        octave_shift=-1,
        lead_density=(0.1, 0.25),
        felt_half=True,
    )
)
_add(
    SubStyle(
        "dubstep",
        "deep",
        (138, 142),
        ("minor", "dorian"),
        {
            "verse": (
                _d(k="x---------------", rim="--------X-------", ch="x-x-x-x-x-x-x-x-", sh="----x-------x---"),
                _d(k="x-----------x---", s="--------X-------", ch="x-x-x-x-x-x-x-x-"),
            ),
            "chorus": (_d(k="x---x-----------", s="--------X-------", ch="x-x-x-x-x-x-x-x-", oh="------x-------x-"),),
            "break": (_d(ch="x-x-x-x-x-x-x-x-", rim="--------X-------"),),
        },
        (KIT_808, KIT_ELECTRONIC),
        "sub_wobble",
        "skank_dub",
        "sparse",
        {"comp": (4, 16, 27, 88), "bass": (38, 39, 33), "lead": (75, 77, 78, 11), "pad": (89, 91, 94, 99)},
        ((0, 0, 3, 3), (0, 6, 0, 6), (0, 5, 0, 5)),
        tightness_ms=(0.5, 2.0),
        pad=True,
        lead_density=(0.1, 0.2),
        felt_half=True,
    )
)

_JAZZ = ((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4), (0, 3, 1, 4), (1, 4, 2, 5))
_add(
    SubStyle(
        "jazz",
        "bebop",
        (176, 216),
        ("major", "minor"),
        {
            "verse": (_d(rd="x-xxx-xx", ph="--x---x-", k="o-o-o-o-"), _d(rd="x-xxx-xx", ph="--x---x-", s="-------g")),
            "chorus": (_d(rd="X-xxX-xx", ph="--x---x-", k="o-o-o-o-", s="---g---o"),),
            "break": (_d(rd="x-x-x-x-", ph="--x---x-"),),
        },
        (KIT_JAZZ, KIT_STANDARD),
        "walking",
        "charleston",
        "bebop",
        {"comp": (0, 1, 26), "bass": (32, 32, 33), "lead": (65, 66, 56, 64, 57)},
        _JAZZ,
        chord_size=4,
        beats_per_chord=2.0,
        swing=(0.12, 0.17),
        tightness_ms=(5, 10),
        tonics=(5, 10, 3, 0, 7),
        lead_density=(0.7, 0.9),
        felt_half=True,
    )
)
_add(
    SubStyle(
        "jazz",
        "cool",
        (120, 150),
        ("major", "dorian"),
        {
            "verse": (_d(s="x-xgx-xg", ph="--g---g-", k="o-o-o-o-"), _d(rd="x-xgx-xg", ph="--g---g-", k="o-o-o-o-")),
            "chorus": (_d(rd="x-xgx-xg", ph="--g---g-", k="o-o-o-o-", s="---g---g"),),
            "break": (_d(s="x-x-x-x-", ph="--x---x-"),),
        },
        (KIT_BRUSH, KIT_JAZZ),
        "walking",
        "charleston",
        "melody",
        {"comp": (26, 11, 0, 4), "bass": (32, 32, 33), "lead": (59, 73, 65, 11, 66)},
        _JAZZ,
        chord_size=4,
        beats_per_chord=4.0,
        swing=(0.10, 0.16),
        tightness_ms=(6, 12),
        tonics=(5, 10, 3, 0, 7, 2),
        lead_density=(0.4, 0.6),
    )
)

_CLASSICAL = ((0, 3, 4, 0), (0, 5, 1, 4), (0, 3, 6, 2, 5, 1, 4, 0), (0, 4, 5, 2, 3, 0, 3, 4), (0, 1, 4, 0))
_add(
    SubStyle(
        "classical",
        "baroque",
        (84, 112),
        ("major", "harmonic"),
        None,
        (),
        "continuo",
        "figuration",
        "melody",
        {"comp": (6, 48, 46, 0), "bass": (42, 70, 6, 43), "lead": (40, 68, 73, 56, 72), "pad": (48, 19)},
        _CLASSICAL,
        beats_per_chord=2.0,
        rubato=(0.0, 0.02),
        tightness_ms=(4, 8),
        lead_density=(0.6, 0.85),
    )
)
_add(
    SubStyle(
        "classical",
        "romantic",
        (66, 96),
        ("major", "harmonic"),
        None,
        (),
        "pedal",
        "alberti",
        "melody",
        {"comp": (0, 0, 1, 46), "bass": (42, 43, 0), "lead": (40, 71, 68, 60, 73, 41), "pad": (48, 49, 44)},
        _CLASSICAL,
        chord_size=3,
        beats_per_chord=4.0,
        rubato=(0.06, 0.14),
        tightness_ms=(8, 16),
        pad=True,
        lead_density=(0.3, 0.5),
    )
)

SUBSTYLES: dict[str, tuple[str, ...]] = {g: tuple(STYLES[g]) for g in GENRES}


@dataclass(frozen=True)
class ArtistPalette:
    """One artist's fixed choices inside a sub-style; every track of the artist shares them."""

    genre: str
    substyle: str
    name: str
    bpm_center: float
    keys: tuple[tuple[int, str], ...]  # (tonic, mode)
    programs: dict  # role -> GM program
    kit: int
    swing: float
    tightness_ms: float
    pattern_bias: int  # which drum-pattern variant the artist favours
    progressions: tuple[tuple[int, ...], ...]
    volumes: dict = field(default_factory=dict)  # role -> CC7 value
    brightness_hz: float = 12000.0  # low-pass corner of the artist's "mix"
    reverb: float = 0.1  # wet level of the artist's room
    loudness_dbfs: float = -16.0  # target RMS level of the master
    lead_density: float = 0.5
    rubato: float = 0.0


_ROLE_VOLUME = {"drums": 100, "bass": 100, "comp": 90, "lead": 92, "pad": 62, "bubble": 70}


def make_palette(genre: str, substyle: str, name: str, rng: np.random.Generator) -> ArtistPalette:
    """Draw an artist's palette for ``(genre, substyle)`` from ``rng``."""
    s = STYLES[genre][substyle]
    lo, hi = s.bpm
    width = (hi - lo) * 0.25
    center = float(rng.uniform(lo + width / 2, hi - width / 2)) if hi > lo else float(lo)
    n_keys = int(rng.integers(2, 4))
    tonics = rng.choice(np.array(s.tonics), size=min(n_keys, len(s.tonics)), replace=False)
    keys = tuple((int(t), str(rng.choice(s.modes))) for t in tonics)
    programs = {role: int(rng.choice(pool)) for role, pool in s.programs.items()}
    kit = int(rng.choice(s.kits)) if s.kits else -1
    n_prog = min(3, len(s.progressions))
    idx = rng.choice(len(s.progressions), size=n_prog, replace=False)
    progressions = tuple(s.progressions[i] for i in sorted(idx))
    volumes = {r: int(np.clip(v + rng.normal(0, 8), 40, 127)) for r, v in _ROLE_VOLUME.items()}
    return ArtistPalette(
        genre=genre,
        substyle=substyle,
        name=name,
        bpm_center=round(center, 1),
        keys=keys,
        programs=programs,
        kit=kit,
        swing=float(rng.uniform(*s.swing)),
        tightness_ms=float(rng.uniform(*s.tightness_ms)),
        pattern_bias=int(rng.integers(0, 8)),
        progressions=progressions,
        volumes=volumes,
        brightness_hz=float(np.exp(rng.uniform(np.log(5000), np.log(16000)))),
        reverb=float(rng.uniform(0.03, 0.25 if genre in ("jazz", "classical", "dubstep", "reggae") else 0.12)),
        loudness_dbfs=float(rng.uniform(-20, -16) if genre in ("jazz", "classical") else rng.uniform(-16, -13)),
        lead_density=float(rng.uniform(*s.lead_density)),
        rubato=float(rng.uniform(*s.rubato)),
    )


def tempo_candidates(genre: str, substyle: str, tempo_bpm: float) -> tuple[float, ...]:
    """Tempi a beat tracker may legitimately report for a track notated at ``tempo_bpm``.

    The notated tempo, plus its half for sub-styles with ``felt_half``: dubstep is half-time by
    definition (snare on beat 3), and above ~160 BPM librosa's default tempo prior (log-normal,
    centred on 120 BPM, one octave wide) prefers the half tempo, which every backbeat pattern
    repeats at as strongly as at the beat itself -- the octave ambiguity of human tappers too.
    Never the double: slow genres must be heard at their own tempo.
    """
    style = STYLES[genre][substyle]
    return (float(tempo_bpm), float(tempo_bpm) / 2) if style.felt_half else (float(tempo_bpm),)
