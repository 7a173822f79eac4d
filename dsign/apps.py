from django.apps import AppConfig


class DsignConfig(AppConfig):
    name = "dsign"
    verbose_name = "dsign"

    def ready(self):
        from django.contrib import admin
        from django.contrib.auth.signals import user_logged_in
        from django.core.signals import request_finished, request_started
        from django_otp.admin import OTPAdminSite
        from django_q.signals import post_spawn

        from . import checks  # noqa: F401  (registers the system checks)
        from .health import worker_spawned
        from .logsetup import on_request_finished, on_request_started
        from .security import session_started

        post_spawn.connect(worker_spawned, dispatch_uid="dsign.worker_spawned")
        request_started.connect(on_request_started, dispatch_uid="dsign-request-id")
        request_finished.connect(on_request_finished, dispatch_uid="dsign-request-id")
        user_logged_in.connect(session_started, dispatch_uid="dsign.session_started")
        # Every admin page needs a session verified with a second factor (django-otp's admin site: the
        # login form asks for the code, has_permission() requires request.user.is_verified()).
        admin.site.__class__ = OTPAdminSite
        from .admin_login import AdminAuthenticationForm

        admin.site.login_form = AdminAuthenticationForm
        from . import admin_thai

        admin_thai.install()
