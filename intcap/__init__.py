"""intcap: code interview transcripts into internationalization capacity profiles."""
__version__ = "0.1.0"
