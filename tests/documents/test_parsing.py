"""Every supported file type becomes text; anything else is refused with a reason, never a crash."""

from __future__ import annotations

import pytest

from documents.services.parsing import file_parse, text_clean
from ragsite.errors import UnsupportedMediaType, ValidationFailed
from tests.documents.files import docx_bytes, encrypted_pdf_bytes, pdf_bytes


def test_plain_text_and_markdown_are_taken_as_they_are():
    assert file_parse(name="notes.txt", data=b"Line one\r\nLine two").text == "Line one\nLine two"
    parsed = file_parse(name="README.md", data=b"# Title\n\n* item")
    assert parsed.text == "# Title\n\n* item"
    assert parsed.title == "README.md"


def test_text_in_another_encoding_is_decoded_not_mangled():
    text = "Le café coûte très cher à Zürich, déjà."
    assert file_parse(name="fr.txt", data=text.encode("cp1252")).text == text


def test_invalid_utf8_and_nul_bytes_are_cleaned():
    parsed = file_parse(name="bad.txt", data=b"ok \x00 then \xff\xfe mojibake \x00")
    assert "\x00" not in parsed.text
    assert parsed.text.startswith("ok")


def test_html_becomes_text_with_its_title_and_without_scripts():
    html = (
        b"<html><head><title> Quarterly   report </title><style>p{color:red}</style></head>"
        b"<body><h1>Revenue</h1><p>Grew by <b>12%</b>.</p><script>alert('x')</script></body></html>"
    )
    parsed = file_parse(name="report.html", data=html)
    assert parsed.title == "Quarterly report"
    assert "Revenue" in parsed.text and "Grew by 12%." in parsed.text
    assert "alert" not in parsed.text and "color:red" not in parsed.text


def test_html_without_a_title_is_named_after_the_file():
    assert file_parse(name="page.htm", data=b"<p>Just a paragraph</p>").title == "page.htm"


def test_xhtml_with_an_encoding_declaration_is_read():
    xhtml = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        b"<head><title>Leave</title></head><body><p>Employees get 25 days.</p></body></html>"
    )
    parsed = file_parse(name="leave.xhtml.html", data=xhtml)
    assert parsed.title == "Leave"
    assert parsed.text.strip() == "Employees get 25 days."


def test_html_nested_hundreds_of_levels_deep_is_read_to_the_end():
    # Unclosed <font> tags, one per paragraph: libxml2's default limit of 255 levels used to drop the rest silently.
    html = "".join(f"<font size=2>Paragraph {number}. " for number in range(400)).encode()
    words = file_parse(name="legacy.html", data=html).text.split()
    assert words[:2] == ["Paragraph", "0."]
    assert words[-2:] == ["Paragraph", "399."]


@pytest.mark.parametrize("depth", [1_500, 100_000])
def test_html_nested_too_deeply_to_read_whole_is_refused_not_cut_short(depth):
    with pytest.raises(ValidationFailed) as caught:
        file_parse(name="deep.html", data=b"<div>" * depth + b"lost at the bottom")
    assert caught.value.detail == {"file": ["the HTML is nested too deeply"]}


def test_pdf_text_is_extracted_page_by_page():
    parsed = file_parse(name="paper.pdf", data=pdf_bytes("First page about otters.", "Second page about beavers."))
    assert "otters" in parsed.text and "beavers" in parsed.text
    assert parsed.text.index("otters") < parsed.text.index("beavers")
    assert parsed.title == "paper.pdf"


def test_an_encrypted_pdf_is_refused_naming_the_problem():
    with pytest.raises(ValidationFailed) as caught:
        file_parse(name="locked.pdf", data=encrypted_pdf_bytes("secret plans"))
    assert caught.value.status == 422
    assert caught.value.detail == {"file": ["the PDF is encrypted with a password"]}


def test_a_pdf_encrypted_with_an_empty_password_opens():
    parsed = file_parse(name="open.pdf", data=encrypted_pdf_bytes("printable but open", password=""))
    assert "printable but open" in parsed.text


@pytest.mark.parametrize("data", [b"%PDF-1.4 garbage", b"not a pdf at all", b"", pdf_bytes("x")[:60]])
def test_a_corrupt_pdf_is_refused_naming_the_problem(data):
    with pytest.raises(ValidationFailed) as caught:
        file_parse(name="broken.pdf", data=data)
    assert caught.value.status == 422
    assert "PDF is corrupt" in caught.value.detail["file"][0]


def test_docx_paragraphs_and_tables_are_extracted_in_order():
    data = docx_bytes("Intro paragraph.", "Second paragraph.", table=[["Name", "Role"], ["Ada", "Engineer"]])
    text = file_parse(name="memo.docx", data=data).text
    assert text.index("Intro paragraph.") < text.index("Second paragraph.") < text.index("Ada\tEngineer")


@pytest.mark.parametrize("data", [b"PK\x03\x04 truncated zip", b"plain text, not a zip", b""])
def test_a_corrupt_docx_is_refused_naming_the_problem(data):
    with pytest.raises(ValidationFailed) as caught:
        file_parse(name="broken.docx", data=data)
    assert "DOCX is corrupt" in caught.value.detail["file"][0]


@pytest.mark.parametrize("name", ["image.png", "archive.zip", "old.doc", "noextension"])
def test_unsupported_types_are_415(name):
    with pytest.raises(UnsupportedMediaType) as caught:
        file_parse(name=name, data=b"\x89PNG...")
    assert caught.value.status == 415
    assert ".pdf" in caught.value.detail


def test_text_clean_removes_nul_and_lone_surrogates():
    assert text_clean("a\x00b\ud800c\r\nd") == "ab\ufffdc\nd"


def test_a_docx_whose_document_part_has_no_body_is_a_clear_422():
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(docx_bytes("Badgers dig setts.")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                data = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
            target.writestr(item, data)

    with pytest.raises(ValidationFailed) as raised:
        file_parse(name="empty.docx", data=out.getvalue())
    assert "corrupt" in raised.value.summary()
