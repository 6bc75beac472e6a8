"""Headless Chromium for the committee report: PDF printing and PNG screenshots.

Chromium is optional at run time (Debian: `apt-get install chromium fonts-thai-tlwg`); callers
get BrowserMissing with an install hint where it is not found. The flags keep it offline: without
the background-networking ones it keeps trying to reach Google's hosts on a closed network.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--mute-audio")
INSTALL_HINT = ("headless Chromium was not found. Install it with `apt-get install chromium fonts-thai-tlwg` "
                "(Debian/Ubuntu), or point PILOTKPI_CHROMIUM at a Chromium or Chrome binary.")


class BrowserMissing(RuntimeError):
    pass


def find_chromium() -> str:
    """PILOTKPI_CHROMIUM if set (it must exist), else the first Chromium on PATH."""
    configured = os.environ.get("PILOTKPI_CHROMIUM")
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return configured
        raise BrowserMissing(f"PILOTKPI_CHROMIUM={configured} is not an executable file; {INSTALL_HINT}")
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(INSTALL_HINT)


def _run(args: list[str], output: Path, timeout: int) -> Path:
    with tempfile.TemporaryDirectory(prefix="pilotkpi-chromium-") as profile:
        proc = subprocess.run([find_chromium(), *OFFLINE_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not output.exists():
        raise RuntimeError(f"Chromium failed ({proc.returncode}) writing {output}: {proc.stderr[-800:]}")
    return output


def print_pdf(html_path: Path, pdf_path: Path, timeout: int = 120) -> Path:
    """A4 PDF of an HTML file (the page's @page rule sets the size and margins)."""
    pdf_path.unlink(missing_ok=True)
    return _run([f"--print-to-pdf={pdf_path}", "--no-pdf-header-footer", html_path.resolve().as_uri()],
                pdf_path, timeout)


def screenshot(html_path: Path, png_path: Path, width: int = 1100, height: int = 1600, timeout: int = 120) -> Path:
    png_path.unlink(missing_ok=True)
    return _run([f"--screenshot={png_path}", f"--window-size={width},{height}", html_path.resolve().as_uri()],
                png_path, timeout)
