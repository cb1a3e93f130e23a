"""The networks: Table 4.1, its recipe and training, saved and shipped models, embeddings, cuts, musicnn."""
