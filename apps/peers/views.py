"""The operators' status pages: /peers/, /peers/<peer_id>/, /runtimes/.

Each page renders its live region from one template; with `?fragment=1` a view returns only
that region, which the page's script fetches again whenever its websocket says something
changed. Staff only: anonymous visitors go to the login page, other users get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.peers import selectors, services
from apps.peers.charts import rtt_chart

LIVE_FRAGMENT = "fragment"


def staff_required(view: Callable) -> Callable:
    """Anonymous → the login page; signed in but not staff → 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("The status pages are for staff.")
        return view(request, *args, **kwargs)

    return guarded


def _render(
    request: HttpRequest, page: str, fragment: str, context: dict, *, title: str, topic: str
) -> HttpResponse:
    """The whole page, or only its live region when the page's script asks for it."""
    params = request.GET.copy()
    params.pop(LIVE_FRAGMENT, None)  # links in the region must not carry the fragment flag
    context = {**context, "now": timezone.now(), "params": params}
    if request.GET.get(LIVE_FRAGMENT):
        return render(request, fragment, context)
    return render(
        request,
        page,
        {
            **admin.site.each_context(request),
            **context,
            "title": title,
            "live_topic": topic,
            "live_fragment": fragment,
        },
    )


COLUMNS = (
    ("peer_id", "Peer"),
    ("status", "Status"),
    (None, "Addresses"),
    ("rtt", "RTT"),
    ("last_seen", "Last seen"),
    ("source", "Source"),
    ("trusted", "Trusted"),
    (None, "Tools offered"),
)


@staff_required
def peer_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    search = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "peer_id")
    if sort.removeprefix("-") not in selectors.PEER_SORTS:
        sort = "peer_id"
    page = selectors.peer_page(
        status=status, search=search, sort=sort, page=request.GET.get("page", 1)
    )
    counts = selectors.peer_status_counts()
    columns = [
        {
            "label": label,
            "key": key,
            "next": (f"-{key}" if sort == key else key) if key else None,
            "direction": ("asc" if sort == key else "desc" if sort == f"-{key}" else "")
            if key
            else "",
        }
        for key, label in COLUMNS
    ]
    filters = [{"value": None, "label": "All", "count": counts["all"], "selected": not status}] + [
        {"value": s, "label": s.capitalize(), "count": counts[s], "selected": s == status}
        for s in selectors.STATUS_FILTERS
    ]
    for peer in page.object_list:
        peer.badge = selectors.display_status(peer)
    return _render(
        request,
        "peers/peer_list.html",
        "peers/_peer_table.html",
        {
            "page_obj": page,
            "peers": page.object_list,
            "columns": columns,
            "filters": filters,
            "status": status,
            "search": search,
            "sort": sort,
        },
        title="Peers",
        topic="peers",
    )


@staff_required
def peer_detail(request: HttpRequest, peer_id: str) -> HttpResponse:
    peer = selectors.peer_by_id(peer_id)
    if peer is None:
        raise Http404(f"No peer {peer_id}")
    peer.badge = selectors.display_status(peer)
    now = timezone.now()
    calls = selectors.recent_peer_calls(peer.peer_id)
    for call in calls:
        call.inbound = selectors.is_direction_inbound(call)
    return _render(
        request,
        "peers/peer_detail.html",
        "peers/_peer_detail.html",
        {
            "peer": peer,
            "chart": rtt_chart(selectors.rtt_history(peer, now=now), now=now),
            "calls": calls,
            "errors": selectors.recent_peer_errors(peer.peer_id),
            "can_change": request.user.has_perm("peers.change_peer"),
            "admin_url": reverse("admin:peers_peer_change", args=[peer.pk]),
        },
        title=f"Peer {peer.peer_id}",
        topic=f"peer:{peer.peer_id}",
    )


INTENT_ACTIONS = {
    "trust": {"trusted": True},
    "distrust": {"trusted": False},
    "enable": {"enabled": True},
    "disable": {"enabled": False},
}


@require_POST
@staff_required
def peer_intent(request: HttpRequest, peer_id: str) -> HttpResponse:
    """Trust/distrust/enable/disable from the peer's page (needs the change-peer permission)."""
    if not request.user.has_perm("peers.change_peer"):
        raise PermissionDenied("Changing peers needs the change-peer permission.")
    peer = selectors.peer_by_id(peer_id)
    intent = INTENT_ACTIONS.get(request.POST.get("action", ""))
    if peer is None or intent is None:
        raise Http404("No such peer or action")
    services.set_peer_intent(peers=[peer], actor=request.user, **intent)
    messages.success(request, f"Peer {peer.peer_id}: {request.POST['action']} done.")
    return redirect("peers:detail", peer_id=peer.peer_id)


@staff_required
def runtime_list(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        "peers/runtime_list.html",
        "peers/_runtimes.html",
        {"overview": selectors.runtimes_overview()},
        title="Runtimes",
        topic="runtimes",
    )
