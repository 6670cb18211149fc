from django.urls import path

from submissions import views

urlpatterns = [
    path("phases/<int:phase_id>/", views.phase_detail, name="phase-detail"),
    path("phases/<int:phase_id>/check/", views.phase_check, name="phase-check"),
    path("phases/<int:phase_id>/submissions/", views.submission_list, name="submission-list"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission-detail"),
    path(
        "submissions/<int:submission_id>/status/",
        views.submission_status,
        name="submission-status",
    ),
    path("submissions/<int:submission_id>/file/", views.submission_file, name="submission-file"),
]
