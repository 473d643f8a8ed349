"""Where s2p runs, as far as the network goes: container or host, this
machine's LAN address, and which addresses are loopback or our own."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path


def in_container() -> bool:
    if Path("/.dockerenv").exists() or Path("/run/.containerenv").exists():
        return True
    try:
        text = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(word in text for word in ("docker", "containerd", "kubepods", "libpod"))


def lan_address() -> str | None:
    """This machine's address on its default route (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
    except OSError:
        return None


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_address(address: str) -> bool:
    """Whether this network namespace owns the address (binding to it works)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
        return True
    except OSError:
        return False


def plex_refuses_image_host(host: str) -> bool:
    """Whether Plex 1.43.5+ refuses image URLs on this host: loopback, LAN
    (private, link-local, CGNAT) addresses and ``.local`` names."""
    host = host.strip("[]").lower().rstrip(".")
    if is_loopback_host(host) or host.endswith(".local") or "." not in host and ":" not in host:
        return True  # a bare name (nas, s2p) resolves only on the LAN
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_link_local or ip in ipaddress.ip_network("100.64.0.0/10")
