"""Dashboard routes (staff only), mounted at the site root."""

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("calls/", views.call_list, name="calls"),
    path("calls.csv", views.calls_csv, name="calls_csv"),
    path("calls/<uuid:call_id>/", views.call_detail, name="call"),
    path("calls/<uuid:call_id>/transcript.json", views.call_transcript, name="transcript"),
    path("calls/<uuid:call_id>/whisper/", views.whisper, name="whisper"),
    path("calls/<uuid:call_id>/recording.wav", views.recording_file, name="recording"),
    path("overview/", views.overview, name="overview"),
    path("live/", views.live, name="live"),
]
