from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Contact center"
admin.site.site_title = "Contact center admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask every page's origin for /favicon.ico (the admin's pages name none): answer it.
    path("favicon.ico", RedirectView.as_view(url=static("dashboard/favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("calls.urls")),
    path("", include("campaigns.urls")),
    path("", include("telephony.urls")),
]
