"""avsnn: spiking feature discrimination for audio-visual fusion (Oikonomou et al.)."""
__version__ = "0.1.0"
