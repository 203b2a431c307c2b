from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from telephony import views as telephony_views

admin.site.site_header = "Contact center"
admin.site.site_title = "Contact center admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", telephony_views.health, name="health"),
    path("", include("telephony.urls")),
]
