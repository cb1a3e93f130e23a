"""The engine behind the synthetic corpus ``melrec-synth``: compose MIDI scores, render them.

* :mod:`.theory` -- keys, scales, chords, and the beat -> seconds time map (swing, rubato);
* :mod:`.styles` -- the nine genres, their sub-styles and the artist palettes drawn from them;
* :mod:`.compose` -- one track's score (a :class:`pretty_midi.PrettyMIDI`) from a :class:`TrackSpec`;
* :mod:`.render` -- the score played by ``tinysoundfont`` with pretty_midi's General MIDI sound font.

:mod:`melrec_lib.corpora.melrec_synth` is the public face; this sub-package holds the musical detail.
"""

from __future__ import annotations

from melrec_lib.corpora.synth.compose import TrackSpec, compose
from melrec_lib.corpora.synth.render import render_score

__all__ = ["TrackSpec", "compose", "render_score"]
