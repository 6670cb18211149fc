from django.urls import path

from leaderboard import views

urlpatterns = [
    path("phases/<int:phase_id>/leaderboard/", views.phase_leaderboard, name="phase-leaderboard"),
    path(
        "phases/<int:phase_id>/leaderboard/publish/",
        views.publish_final_board,
        name="phase-leaderboard-publish",
    ),
]
