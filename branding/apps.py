from django.apps import AppConfig


class BrandingConfig(AppConfig):
    name = "branding"
    verbose_name = "ตราและชื่อหน่วยงาน / Branding"
