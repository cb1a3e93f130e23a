"""The corpora: melrec-synth (rendered here), the real-music soundtracks, and artist-disjoint splits."""
