from django import template

from dsign.admin_thai import be_years

register = template.Library()
register.filter("be_years", be_years)
