"""Hostile multipart uploads, built byte by byte (the test client cannot send broken UTF-8): file names with NUL,
path segments, RTL overrides, double extensions or bytes that are not UTF-8, and form fields that are not UTF-8.
Each is read under a clean title or refused in the envelope with nothing written; never a 500."""

from __future__ import annotations

import pytest

from documents.models import Chunk, Document
from tests.ragsite.test_errors import assert_envelope

pytestmark = pytest.mark.django_db

BOUNDARY = b"----hostile-boundary"
CONTENT = b"Employees get 25 days of paid leave per year."


def post_multipart(api_client, *, filename: bytes, title: bytes | None = None, content: bytes = CONTENT):
    parts = []
    if title is not None:
        parts.append(b'Content-Disposition: form-data; name="title"\r\n\r\n' + title)
    parts.append(
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content
    )
    body = b"".join(b"--" + BOUNDARY + b"\r\n" + part + b"\r\n" for part in parts) + b"--" + BOUNDARY + b"--\r\n"
    return api_client.generic(
        "POST", "/ingest", body, content_type="multipart/form-data; boundary=" + BOUNDARY.decode()
    )


@pytest.mark.parametrize(
    ("filename", "title"),
    [
        (b"../../etc/passwd.txt", "passwd.txt"),  # only the name is kept, never a path
        (b"C:\\Users\\me\\notes.md", "notes.md"),
        (b"a\x00b.txt", "ab.txt"),
        ("leave\u202etxt.md".encode(), "leavetxt.md"),  # Django drops unprintable characters (an RTL override)
        (b"LEAVE.TXT", "LEAVE.TXT"),
    ],
)
def test_a_hostile_file_name_becomes_a_clean_title(api_client, openai_settings, filename, title):
    response = post_multipart(api_client, filename=filename)

    assert response.status_code == 200, response.content
    document = Document.objects.get()
    assert (document.title, document.text) == (title, CONTENT.decode())


@pytest.mark.parametrize(
    ("filename", "status"),
    [
        (b"a.txt\x00.png", 415),  # the extension is what comes last, NUL or not
        (b"a.txt%00.png", 415),
        (b".txt", 415),  # a dot file: no extension
        ("leave\u202egpj.pdf".encode(), 422),  # shown as "leavefdp.jpg"; read as the PDF it is named, and corrupt
        (b"\xed\xa0\x80.txt", 422),  # not UTF-8: Django drops the part, so no file and no text
        (b"\xff\xfe.md", 422),
        ("😀".encode() * 300 + b".txt", 422),  # a part header over Django's limit
    ],
)
def test_an_unreadable_or_refused_file_name_is_a_4xx_with_nothing_written(
    api_client, openai_settings, filename, status
):
    response = post_multipart(api_client, filename=filename)

    assert_envelope(response, status, "UNSUPPORTED_MEDIA_TYPE" if status == 415 else "VALIDATION_ERROR")
    assert Document.objects.count() == Chunk.objects.count() == 0


def test_form_fields_that_are_not_utf8_or_hold_nul_are_cleaned(api_client, openai_settings):
    response = post_multipart(api_client, filename=b"leave.txt", title=b"Leave\x00 \xed\xa0\x80 policy \xff")

    assert response.status_code == 200, response.content
    assert Document.objects.get().title == "Leave \ufffd\ufffd\ufffd policy \ufffd"
