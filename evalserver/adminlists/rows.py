"""The rows of an admin change list, as Django's ``items_for_result`` writes them.

Django works out every cell of a page anew: which kind of column it is (a model field, a
relation, an admin method...), its CSS classes, its empty value, then ``format_html``.
At 50 rows x 9 columns that was about two thirds of the submission list's time (67-89 ms
of server CPU a page on the slowest of our 2-core machines, against a p95 target of
100 ms). Here each column is worked out once per page, and a row is its cells' values,
escaped, between tags made once. The HTML is byte for byte Django's (a test holds the two
against each other on every list that uses this).

Only the columns this knows are written here: model fields, relations and ModelAdmin
methods, with or without a link. A list with another kind of column (a callable, a model
property), list_editable, a popup or a to_field gets Django's rows, unchanged.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _coerce_field_name,
    result_headers,
    result_hidden_fields,
    results,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
)
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _


class QuickListAdmin:
    """Mix into a ModelAdmin whose list a crowd grows: its rows by ``quick_results``, and
    each row's action checkbox as Django's ModelAdmin.action_checkbox writes it, without
    rendering a form widget's template for every row."""

    change_list_template = "admin/quick_change_list.html"

    def action_checkbox(self, obj):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )


def _links(cl: ChangeList, name: Any, first: bool) -> bool:
    """Whether the column links to the row's change page (items_for_result's rule)."""
    if cl.list_display_links is None:
        return False
    if first and not cl.list_display_links:
        return True
    return name in cl.list_display_links


def _blank_as_empty(value: Any) -> Any:
    """A string of blanks shown as an empty one, as items_for_result has it."""
    return "" if isinstance(value, str) and value.strip() == "" else value


def _value_cell(attr: Any, get: Callable[[models.Model], Any], empty: str, classes: str):
    """A column of values with no model field behind them: an admin method, or a field
    Django made itself (the primary key)."""
    empty = getattr(attr, "empty_value_display", empty)
    boolean = getattr(attr, "boolean", False)

    def display(obj: models.Model) -> tuple[Any, str]:
        value = _blank_as_empty(get(obj))
        nowrap = isinstance(value, datetime.date | datetime.time)
        return display_for_value(value, empty, boolean), classes + (" nowrap" if nowrap else "")

    return display


def _field_cell(field: models.Field, empty: str, classes: str, links: bool):
    nowrap = isinstance(field, models.DateField | models.TimeField | models.ForeignKey)
    classes += " nowrap" if nowrap else ""
    if isinstance(field.remote_field, models.ManyToOneRel):
        name = field.name

        def related(obj: models.Model) -> tuple[Any, str]:
            value = getattr(obj, name)
            return (empty if value is None else value), classes

        return related
    attname = field.attname
    if getattr(field, "flatchoices", None):
        # display_for_field's first case, its dict made once (it made it for every cell).
        try:
            labels = dict(field.flatchoices)
        except TypeError:  # list-like choices: display_for_field's own way
            labels = None
        if labels is not None:

            def choice(obj: models.Model) -> tuple[Any, str]:
                value = _blank_as_empty(getattr(obj, attname))
                try:
                    return labels.get(value, empty), classes
                except TypeError:
                    return display_for_field(value, field, empty, avoid_link=links), classes

            return choice

    def display(obj: models.Model) -> tuple[Any, str]:
        value = _blank_as_empty(getattr(obj, attname))
        return display_for_field(value, field, empty, avoid_link=links), classes

    return display


# A column: what gives a row's (value, classes), whether it links, and its empty value.
Column = tuple[Callable[[models.Model], tuple[Any, str]], bool, str]


def _columns(cl: ChangeList) -> list[Column] | None:
    """The page's columns, each worked out once; None where one is of a kind left to
    Django."""
    model_admin = cl.model_admin
    opts = cl.lookup_opts
    empty = model_admin.get_empty_value_display()
    columns = []
    first = True
    for index, name in enumerate(cl.list_display):
        classes = f"field-{_coerce_field_name(name, index)}"
        links = _links(cl, name, first)
        first = first and not links
        try:
            field = _get_non_gfk_field(opts, name)
        except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
            if callable(name) or name == "__str__" or not hasattr(model_admin, name):
                return None
            attr = getattr(model_admin, name)
            if name == "action_checkbox":
                classes = "action-checkbox"
            cell = _value_cell(attr, attr, empty, classes)
        else:
            if field.auto_created:
                attname = field.attname
                cell = _value_cell(None, lambda obj, a=attname: getattr(obj, a), empty, classes)
            else:
                cell = _field_cell(field, empty, classes, links)
        columns.append((cell, links, empty))
    return columns


def quick_results(cl: ChangeList) -> list[ResultList]:
    """The page's rows: ``items_for_result``'s HTML, each column worked out once."""
    if cl.formset or cl.is_popup or cl.to_field:
        return list(results(cl))
    columns = _columns(cl)
    if columns is None:
        return list(results(cl))
    preserved = {"preserved_filters": cl.preserved_filters, "opts": cl.opts}
    # add_preserved_filters appends the same query to every change page's plain path (it
    # parses, resolves and re-encodes for each): worked out on the first, reused.
    suffixes: dict[str, str] = {}

    def with_filters(url: str) -> str:
        if "?" in url or "#" in url or ";" in url:
            return add_preserved_filters(preserved, url)
        if "suffix" not in suffixes:
            full = add_preserved_filters(preserved, url)
            if not full.startswith(url):
                return full
            suffixes["suffix"] = full[len(url) :]
        return url + suffixes["suffix"]

    rows = []
    for obj in cl.result_list:
        cells = []
        linked = False
        for cell, links, empty in columns:
            try:
                shown, classes = cell(obj)
            except ObjectDoesNotExist:
                shown, classes = empty, None
            if classes is None:
                # As items_for_result: the column's bare classes when the lookup failed.
                classes = _bare_classes(cl, len(cells))
            shown = conditional_escape(shown)
            if links:
                tag = "td" if linked else "th"
                linked = True
                try:
                    url = cl.url_for_result(obj)
                except NoReverseMatch:
                    pass
                else:
                    url = with_filters(url)
                    shown = f'<a href="{conditional_escape(url)}">{shown}</a>'
                cells.append(f'<{tag} class="{classes}">{shown}</{tag}>')
            else:
                cells.append(f'<td class="{classes}">{shown}</td>')
        # One item for the whole row: the template writes a row's items one after the
        # other, so it is the same HTML, and one {{ item }} to render instead of ten.
        rows.append(ResultList(None, [mark_safe("".join(cells))]))  # noqa: S308 - escaped
    return rows


def _bare_classes(cl: ChangeList, index: int) -> str:
    return f"field-{_coerce_field_name(cl.list_display[index], index)}"


def quick_result_list(cl: ChangeList) -> dict[str, Any]:
    """Django's ``result_list`` context, its rows by ``quick_results``."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": quick_results(cl),
    }
