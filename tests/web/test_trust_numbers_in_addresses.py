"""Numbers in addresses that str.isdigit() accepts and int() does not ("²", a 5,000-digit page)
answer like any other wrong number, never a 500 (web/app.py, committee.py, held.py)."""
from __future__ import annotations

import re

import pytest

NOT_NUMBERS = ["²", "①", "9" * 5000]  # (Thai digits, which int() reads, stay numbers)


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_odd_digits_in_addresses_answer_as_a_wrong_number_does(client_for, text):
    committee = client_for("demo-committee")
    listing = committee.get("/pilots")
    every = len(re.findall(r"<tr data-pilot=", listing.text))
    assert every >= 6
    # /pilots: a filter that is not a number is no filter (the page's own rule).
    for name in ("layer", "strategy"):
        filtered = committee.get("/pilots", params={name: text})
        assert filtered.status_code == 200 and len(re.findall(r"<tr data-pilot=", filtered.text)) == every
    # /held/{id}: not a held file's number: 404, like one that does not exist.
    assert committee.get(f"/held/{text}").status_code == 404
    # /submissions/{sha256}?page=: not a page number: the first page.
    sha = re.search(r'href="/submissions/([0-9a-f]{64})"', committee.get("/submissions").text).group(1)
    first = committee.get(f"/submissions/{sha}")
    odd = committee.get(f"/submissions/{sha}", params={"page": text})
    assert first.status_code == odd.status_code == 200
    assert re.findall(r'data-row="(\d+)"', odd.text) == re.findall(r'data-row="(\d+)"', first.text) != []
