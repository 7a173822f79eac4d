from django import template

from dsign.admin_thai import be_years, thai_display_for_value

register = template.Library()
register.filter("be_years", be_years)


@register.filter
def admin_date(value) -> str:
    """A moment as the admin shows dates: Buddhist era in Thailand's time on Thai pages."""
    return thai_display_for_value(value, "-")
