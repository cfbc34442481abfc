"""Legacy migration runs."""
