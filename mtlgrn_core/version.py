"""The MTLGRN version, stamped into every saved run and report."""

__version__ = "0.1.0"
