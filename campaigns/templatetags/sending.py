"""``{% sending_paused_banner %}``: a red line on the admin index and the dashboard while the kill
switch holds every send, so nobody wonders why nothing goes out."""

from django import template
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import SendingSwitch

register = template.Library()


@register.simple_tag
def sending_paused_banner() -> str:
    switch = SendingSwitch.objects.filter(pk=1, paused=True).select_related("changed_by").first()
    if switch is None:
        return ""
    return format_html(
        '<p class="errornote" role="alert">Sending is paused: nothing is sent, not even test pushes'
        ' ({}{}). <a href="{}">Resume it</a></p>',
        f"by {switch.changed_by}" if switch.changed_by else "paused",
        f": {switch.reason}" if switch.reason else "",
        reverse("admin:campaigns_sendingswitch_changelist"),
    )
