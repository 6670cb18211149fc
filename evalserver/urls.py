from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its settings as a script file (?script), not inline: no CSP hole.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
        name="api-docs",
    ),
    path("api/v1/", include("evalserver.api_urls")),
    # /healthz, /readyz, /metrics for operators and their probes.
    path("", include("evalserver.ops.urls")),
    path("", include("leaderboard.urls")),
    path("", include("submissions.urls")),
    path("", include("evalserver.web.urls")),
]

# JSON with a `detail` for API paths, the usual pages elsewhere (evalserver.api).
handler404 = "evalserver.api.not_found"
handler500 = "evalserver.api.server_error"
