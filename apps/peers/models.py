"""Peers and bootstrap nodes."""
