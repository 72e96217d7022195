"""Smarketing KB: the domain and its engine (settings, storage, embedding, index, search, CLI)."""
