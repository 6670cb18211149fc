from django.urls import path

from evalserver.announcements import views

urlpatterns = [path("account/mail/", views.mail_preferences, name="account-mail")]
