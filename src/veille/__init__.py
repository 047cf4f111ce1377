"""Veille: open-source ANPR back-office for police."""

__version__ = "0.1.0"
