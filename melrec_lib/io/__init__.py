"""Reading audio and collections: the thesis' WAV reader, every other format, folders, playlists and manifests."""
