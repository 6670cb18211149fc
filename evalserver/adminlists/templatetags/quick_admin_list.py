from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from evalserver.adminlists.rows import quick_result_list

register = template.Library()


@register.tag(name="quick_result_list")
def quick_result_list_tag(parser, token):
    """``{% result_list cl %}``, the same template (an app's own override included)."""
    return InclusionAdminNode(
        parser,
        token,
        func=quick_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
