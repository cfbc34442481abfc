"""Routing data: rules, runtime settings, the routing version, runtime instances."""
