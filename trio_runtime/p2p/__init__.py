"""The Trio runtime as a libp2p peer: host, `/mcp+p2p/1.0.0`, peers, task-queue workers."""
