"""The Docker HEALTHCHECK: `python -m ragsite.healthcheck` exits 0 when GET /health answers 200, else 1.

Standard library only and no Django settings (it runs every 30 s, and curl is not in the slim image), so it reads
the two variables it needs itself.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def health_host(allowed_hosts: str) -> str:
    """The Host header to send: Django answers any host outside ALLOWED_HOSTS (127.0.0.1 included) with 400."""
    hosts = [host.strip() for host in allowed_hosts.split(",") if host.strip() and host.strip() != "*"]
    # ".example.com" allows example.com and its subdomains.
    return hosts[0].lstrip(".") if hosts else "localhost"


def main() -> int:
    port = os.environ.get("PORT", "").strip() or "8000"
    host = health_host(os.environ.get("ALLOWED_HOSTS", ""))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=8) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"ragsite health check failed: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
