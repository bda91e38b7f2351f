"""Herald: a self-hosted email gateway for cloud and billing platforms."""

__version__ = "0.1.0"
