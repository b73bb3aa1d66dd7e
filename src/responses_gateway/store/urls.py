"""Store URL pieces that several modules read."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["postgres_dsn"]


def postgres_dsn(url: str) -> tuple[str, str | None]:
    """A postgresql:// (or postgres://) store URL -> the DSN for the driver and the `schema`
    query parameter, if any (other parameters stay in the DSN)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), None)
    if schema is not None and not schema.replace("_", "").isalnum():
        raise ValueError(f"store URL: schema must be letters, digits and _, got {schema!r}")
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, rest, "")), schema
