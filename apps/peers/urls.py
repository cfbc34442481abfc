"""The operators' status pages."""

from django.urls import path

from apps.peers import views

app_name = "peers"

urlpatterns = [
    path("peers/", views.peer_list, name="list"),
    path("peers/<str:peer_id>/", views.peer_detail, name="detail"),
    path("peers/<str:peer_id>/intent/", views.peer_intent, name="intent"),
    path("runtimes/", views.runtime_list, name="runtimes"),
]
