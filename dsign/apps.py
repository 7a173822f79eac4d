from django.apps import AppConfig


class DsignConfig(AppConfig):
    name = "dsign"
    verbose_name = "dsign"

    def ready(self):
        from django.contrib import admin
        from django_otp.admin import OTPAdminSite

        from . import checks  # noqa: F401  (registers the system checks)

        # Every admin page needs a session verified with a second factor (django-otp's admin site: the
        # login form asks for the code, has_permission() requires request.user.is_verified()).
        admin.site.__class__ = OTPAdminSite
