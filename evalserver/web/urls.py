from django.urls import path

from evalserver.web import views

urlpatterns = [
    path("", views.challenge_list, name="challenge-list"),
]
