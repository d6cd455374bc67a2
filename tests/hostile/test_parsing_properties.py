"""Arbitrary bytes as an upload of every supported type: text comes out, or the clear 415/422 error, never a crash."""

from __future__ import annotations

import io
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from documents.services.parsing import SUPPORTED_EXTENSIONS, ParsedFile, file_parse
from ragsite.errors import ServiceError
from tests.documents.files import docx_bytes, pdf_bytes

PDF = pdf_bytes("Employees get 25 days of leave.", "Travel (by train) is reimbursed \\ in full.")
DOCX = docx_bytes("Employees get 25 days of leave.", "Travel is reimbursed.", table=[["day", "rate"], ["1", "2"]])
DOCUMENT_XML = zipfile.ZipFile(io.BytesIO(DOCX)).read("word/document.xml")


def parse_or_clear_error(name: str, data: bytes) -> ParsedFile | None:
    """file_parse's result, checked to be text PostgreSQL and JSON can hold; None when it raised a clear error."""
    try:
        parsed = file_parse(name=name, data=data)
    except ServiceError as error:
        # Anything else (a 500, or an exception that is no ServiceError) is what these tests exist to catch.
        assert (error.status, error.code) in {(415, "UNSUPPORTED_MEDIA_TYPE"), (422, "VALIDATION_ERROR")}
        assert error.message and error.detail
        return None
    assert isinstance(parsed.text, str) and isinstance(parsed.title, str)
    assert "\x00" not in parsed.text and "\x00" not in parsed.title
    parsed.text.encode("utf-8")  # no lone surrogates: it must be storable and serialisable
    parsed.title.encode("utf-8")
    assert "\r" not in parsed.text
    return parsed


@st.composite
def mutations_of(draw: st.DrawFn, original: bytes) -> bytes:
    """A valid file with a few bytes overwritten, deleted or inserted: it reaches deep into the parser."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data)))
        piece = draw(st.binary(min_size=1, max_size=16))
        edit = draw(st.sampled_from(["overwrite", "delete", "insert"]))
        if edit == "overwrite":
            data[at : at + len(piece)] = piece
        elif edit == "delete":
            del data[at : at + len(piece)]
        else:
            data[at:at] = piece
    return bytes(data)


def docx_with_document_xml(xml: bytes) -> bytes:
    """The sample DOCX with its main part replaced: a valid package around arbitrary XML."""
    source = zipfile.ZipFile(io.BytesIO(DOCX))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        for item in source.infolist():
            package.writestr(item, xml if item.filename == "word/document.xml" else source.read(item))
    return out.getvalue()


@settings(max_examples=150)
@given(data=st.binary(max_size=4096), extension=st.sampled_from([*SUPPORTED_EXTENSIONS, ".png", ""]))
def test_arbitrary_bytes_under_any_name_are_text_or_a_clear_error(data, extension):
    parsed = parse_or_clear_error(f"upload{extension}", data)
    if extension in {".txt", ".text", ".md", ".markdown"}:
        assert parsed is not None  # any bytes decode to some text: a text file is never refused
    if extension in {".png", ""}:
        assert parsed is None


@settings(max_examples=100)
@given(text=st.text(max_size=2000), extension=st.sampled_from([".txt", ".md", ".html"]))
def test_any_utf8_text_file_is_read_and_keeps_its_words(text, extension):
    parsed = parse_or_clear_error(f"upload{extension}", text.encode("utf-8"))
    if extension != ".html":
        assert parsed is not None
        # What cleaning changes: NUL goes, line ends become \n, a leading BOM is taken as the encoding mark.
        assert parsed.text == text.removeprefix("\ufeff").replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=120)
@given(data=mutations_of(PDF))
def test_a_damaged_pdf_is_text_or_a_clear_error(data):
    parse_or_clear_error("damaged.pdf", data)


@settings(max_examples=120)
@given(data=mutations_of(DOCX))
def test_a_damaged_docx_package_is_text_or_a_clear_error(data):
    parse_or_clear_error("damaged.docx", data)


@settings(max_examples=120)
@given(xml=mutations_of(DOCUMENT_XML))
def test_a_docx_with_damaged_xml_inside_a_valid_package_is_text_or_a_clear_error(xml):
    parse_or_clear_error("damaged.docx", docx_with_document_xml(xml))


@settings(max_examples=100)
@given(
    html=st.lists(
        st.one_of(
            st.sampled_from(["<div>", "</div>", "<p>", "<table><tr><td>", "</td>", "<title>", "</title>", "<!--"]),
            st.sampled_from(["<script>", "</script>", "<?xml version='1.0'?>", "<![CDATA[", "]]>", "&amp;", "&#0;"]),
            st.text(max_size=20),
        ),
        max_size=300,
    ).map("".join)
)
def test_any_tag_soup_is_text_or_a_clear_error(html):
    parse_or_clear_error("soup.html", html.encode("utf-8", errors="surrogatepass"))
