"""A throwaway local PostgreSQL + PostGIS cluster on loopback, for tests and benchmarks (Debian packages)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
INSTALL = "apt-get install -y postgresql-15 postgresql-15-postgis-3"


def pg_bin() -> Path | None:
    """The newest installed server's bin/ with initdb and pg_ctl, or None."""
    found = sorted(PG_ROOT.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def unavailable() -> str | None:
    """Why a throwaway PostGIS cluster cannot start here, or None when it can."""
    bin_dir = pg_bin()
    if bin_dir is None:
        return f"no PostgreSQL server binaries under {PG_ROOT} ({INSTALL})"
    version = bin_dir.parent.name
    if not Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
        return f"PostgreSQL {version} has no PostGIS extension ({INSTALL})"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start the server as the postgres user"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    data: Path
    port: int
    bin_dir: Path
    as_pg: list[str]
    options: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop_server(self) -> None:
        """Stop the server, keeping its data (start_server brings it back)."""
        subprocess.run([*self.as_pg, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # fmt: skip

    def start_server(self) -> None:
        subprocess.run([*self.as_pg, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "log"),
                        "-w", "-o", self.options, "start"], stdout=subprocess.DEVNULL, check=True)  # fmt: skip

    def stop(self) -> None:
        """Stop the server and remove its data."""
        self.stop_server()
        shutil.rmtree(self.data, ignore_errors=True)


def start(settings: dict[str, str] | None = None) -> Cluster:
    """initdb a cluster in a new temporary folder and start it on 127.0.0.1 at a free port (trust auth)."""
    why = unavailable()
    if why:
        raise RuntimeError(why)
    bin_dir = pg_bin()
    assert bin_dir is not None
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="corridor-pg-"))
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    run = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run([*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], **run)  # fmt: skip
    conf = {"listen_addresses": "127.0.0.1", "fsync": "off", **(settings or {})}
    opts = f"-p {port} -k {data} " + " ".join(f"-c {k}={v}" for k, v in conf.items())
    c = Cluster(data, port, bin_dir, as_pg, opts)
    c.start_server()
    return c
