"""Files to text: plain text and Markdown as they are, HTML through inscriptis, PDF through pypdf, DOCX through
python-docx. Every failure is a ServiceError naming the problem (415 for a type we cannot read, 422 for a file we
cannot make sense of); nothing here touches the database.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from ragsite.errors import UnsupportedMediaType, ValidationFailed
from ragsite.parsers import LONE_SURROGATE

logger = logging.getLogger(__name__)

# Extension -> parser kind. Uploads are recognised by their name, like the files of ingest_folder.
FILE_KINDS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".markdown": "text",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
SUPPORTED_EXTENSIONS = tuple(sorted(FILE_KINDS))

# PostgreSQL text cannot hold NUL; lone surrogates cannot be encoded as UTF-8 at all.
_NUL = "\x00"
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


@dataclass(frozen=True)
class ParsedFile:
    title: str
    text: str


def text_clean(text: str) -> str:
    """Text PostgreSQL accepts and clients can read: no NUL, no lone surrogates, \\n line ends."""
    if _NUL in text:
        text = text.replace(_NUL, "")
    text = LONE_SURROGATE.sub("\ufffd", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_decode(data: bytes) -> str:
    """Bytes of a text file as str: UTF-8 (with or without BOM) when it is, else the most likely charset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return data.decode("utf-8", errors="replace")
    # Short western texts fit many single-byte code pages equally well; Windows-1252 is by far the likeliest.
    least_chaos = min(match.chaos for match in matches)
    plausible = [match for match in matches if match.chaos == least_chaos]
    preferred = next((match for match in plausible if match.encoding == "cp1252"), plausible[0])
    return str(preferred)


def file_kind(name: str) -> str | None:
    return FILE_KINDS.get(PurePath(name).suffix.lower())


def file_parse(*, name: str, data: bytes) -> ParsedFile:
    """Extract the text and title of an uploaded or ingested file. Title: HTML's <title>, else the file name."""
    kind = file_kind(name)
    if kind is None:
        suffix = PurePath(name).suffix or "(no extension)"
        raise UnsupportedMediaType(
            detail=f"{suffix} files cannot be read; supported: {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    file_title = PurePath(name).name
    if kind == "text":
        return ParsedFile(title=file_title, text=text_clean(text_decode(data)))
    if kind == "html":
        title, text = _html_parse(data)
        return ParsedFile(title=title or file_title, text=text_clean(text))
    if kind == "pdf":
        return ParsedFile(title=file_title, text=text_clean(_pdf_text(data)))
    return ParsedFile(title=file_title, text=text_clean(_docx_text(data)))


def _unreadable(problem: str) -> ValidationFailed:
    return ValidationFailed("The file cannot be read", detail={"file": [problem]})


def _html_parse(data: bytes) -> tuple[str, str]:
    import lxml.html
    from inscriptis.html_engine import Inscriptis
    from lxml.etree import ParserError

    # lxml refuses a str that declares its encoding (XHTML files do); the text is already decoded.
    html = _XML_DECLARATION.sub("", text_clean(text_decode(data)), count=1)
    if not html.strip():
        return "", ""
    # libxml2 stops at 255 levels of nesting and silently drops the rest of the page; sloppy HTML (unclosed <div>
    # or <font> tags) nests that deep easily. huge_tree raises the limit to 2048, and whatever still hits a limit
    # (or Python's recursion limit in inscriptis) is refused rather than read in part.
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        tree = lxml.html.document_fromstring(html, parser=parser)
    except (ParserError, ValueError) as exc:
        raise _unreadable(f"the HTML cannot be parsed ({exc})") from None
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise _unreadable("the HTML is nested too deeply")
    title = " ".join((tree.findtext(".//title") or "").split())
    try:
        return title, Inscriptis(tree).get_text()
    except RecursionError:
        raise _unreadable("the HTML is nested too deeply") from None


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing; those open.
            try:
                opened = reader.decrypt("")
            except (FileNotDecryptedError, NotImplementedError):
                opened = 0
            if not opened:
                raise _unreadable("the PDF is encrypted with a password")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except ValidationFailed:
        raise
    except (PdfReadError, PdfStreamError, FileNotDecryptedError) as exc:
        raise _unreadable(f"the PDF is corrupt or not a PDF ({_short(exc)})") from None
    except Exception as exc:  # pypdf raises many kinds of errors on malformed input
        logger.info("event=pdf_unreadable error=%s", type(exc).__name__)
        raise _unreadable(f"the PDF is corrupt ({type(exc).__name__})") from None


def _docx_text(data: bytes) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise _unreadable(f"the DOCX is corrupt or not a DOCX ({_short(exc)})") from None
    except Exception as exc:  # malformed XML inside a valid zip, among others
        logger.info("event=docx_unreadable error=%s", type(exc).__name__)
        raise _unreadable(f"the DOCX is corrupt ({type(exc).__name__})") from None
    from docx.table import Table

    blocks: list[str] = []
    try:
        for block in document.iter_inner_content():  # paragraphs and tables in document order
            if isinstance(block, Table):
                blocks.extend("\t".join(cell.text for cell in row.cells) for row in block.rows)
            else:
                blocks.append(block.text)
    except Exception as exc:  # a package that opens but whose document part lacks the expected shape (no body)
        logger.info("event=docx_unreadable error=%s", type(exc).__name__)
        raise _unreadable(f"the DOCX is corrupt ({type(exc).__name__})") from None
    return "\n".join(blocks).strip()


def _short(exc: Exception) -> str:
    message = " ".join(str(exc).split())
    return message[:200] or type(exc).__name__
