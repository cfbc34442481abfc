"""What the peer tools need from the live libp2p node, declared on the apps side.

The Trio runtime owns the libp2p host (`trio_runtime/p2p/node.py`); it registers it here with
`set_live_node()` when it is listening and clears it when it stops. The tools reach it through
`live_node()` only, so nothing outside `trio_runtime/` imports the runtime (the layers contract
in pyproject.toml checks this). The errors a node raises are declared here for the same reason.
"""

from __future__ import annotations

from typing import Any, Protocol


class P2PUnavailable(Exception):
    """The libp2p host is not running in this process (or P2P is disabled)."""


class PeerUnreachable(Exception):
    """A peer could not be dialled or its stream failed."""


class UnknownPeer(PeerUnreachable):
    """No address is known for the peer."""


class RemoteError(Exception):
    """The remote peer answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(f"{message} ({code})")
        self.code, self.message, self.data = code, message, data


class LiveNode(Protocol):
    """The running libp2p node, as the tools see it."""

    @property
    def peer_id(self) -> str: ...

    def status(self) -> dict[str, Any]: ...

    def wake(self) -> None:
        """Re-read bootstrap nodes and peers and act on them now."""

    def connected_peers(self) -> list[str]: ...

    def peer_addresses(self, peer_id: str) -> list[str]:
        """The addresses the host holds for a peer (without the /p2p/ part)."""

    def peer_protocols(self, peer_id: str) -> list[str]: ...

    async def maintain(self) -> None:
        """One round: dial due peers, probe connected ones, drop disabled ones."""

    async def connect(self, peer_id: str, addrs: list[str] | None = None) -> float:
        """Seconds the dial took; raises PeerUnreachable, ValueError."""

    async def disconnect(self, peer_id: str) -> bool: ...

    async def ping(self, peer_id: str, *, count: int = 1) -> list[float]: ...

    async def request(
        self,
        peer_id: str,
        method: str,
        params: dict[str, Any] | None,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ) -> Any:
        """One JSON-RPC request; raises RemoteError, PeerUnreachable, trio.TooSlowError."""

    async def call_tool(
        self,
        peer_id: str,
        name: str,
        arguments: dict[str, Any],
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 (a legacy/tool argument)
    ) -> dict[str, Any]: ...


_live: LiveNode | None = None


def set_live_node(node: LiveNode | None) -> None:
    """Called by the Trio runtime: its node once listening, None once stopped."""
    global _live
    _live = node


def live_node() -> LiveNode:
    """The running node of this process; raises P2PUnavailable."""
    if _live is None:
        raise P2PUnavailable("the libp2p host is not running on this node (P2P disabled?)")
    return _live
