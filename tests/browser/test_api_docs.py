"""/api/docs/ in Chromium: Swagger UI from our own static files, under the site's CSP."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_offline_under_the_csp(live_server, page, csp_violations, shot):
    origin = urlsplit(live_server.url).netloc
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(live_server.url + "/api/docs/")
    # Swagger UI fetched the schema and drew the operations from it.
    expect(page.get_by_text("/api/v1/challenges/", exact=True)).to_be_visible(timeout=15_000)
    expect(page.locator(".opblock").first).to_be_visible()
    # Calling an endpoint from the page works too (fetch to our own origin).
    page.get_by_text("/api/v1/challenges/", exact=True).click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody td.response-col_status")).to_have_text(
        "200", timeout=15_000
    )
    shot(page, "api-docs", phone=False)

    assert csp_violations == []
    assert requested, "the page made no requests"
    foreign = [url for url in requested if not url.startswith("data:")]
    foreign = [url for url in foreign if urlsplit(url).netloc != origin]
    assert foreign == []
