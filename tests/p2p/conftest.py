from tests.p2p.cluster import cluster  # noqa: F401  (package-scoped: one cluster for tests/p2p)
