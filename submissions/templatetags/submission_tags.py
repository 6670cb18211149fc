from django import template

from submissions.selectors import UploadCaps, submission_upload_caps

register = template.Library()


@register.simple_tag
def upload_caps(phase) -> UploadCaps:
    """``{% upload_caps phase as caps %}``: the limits the upload form enforces."""
    return submission_upload_caps(phase=phase)
