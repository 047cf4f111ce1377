"""Adapters: storage, image store, camera protocols, notifications."""
