"""The modalities a run trains: one definition, importable without torch (the command line's choices)."""

MODALITIES = ("vision", "audio", "fusion")
