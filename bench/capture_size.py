"""How big [debug] capture grows under hostile requests: each request carries
240 X-Plex-* headers of 1 KB (a 240 KB request head, under waitress's 256 KiB)
and an 8 KB query string.

    python bench/capture_size.py              # 300 requests, [debug] capture = 10000

Runs s2p's app in this process (falcon.testing; no Stash needed: the route
answers without one) and prints the largest record, the /debug/requests
answer and the capture file, next to the limits in s2p/ops/capture.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from falcon import testing

from s2p.app.runtime import build as build_services
from s2p.app.webapp import create_app
from s2p.config import Settings
from s2p.ops.capture import FILE_NAME, MAX_RECORD_BYTES, MAX_TOTAL_BYTES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--capture", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        settings = Settings.model_validate({
            "stash": {"url": "http://127.0.0.1:9"}, "state": {"dir": state},
            "debug": {"capture": args.capture}, "index": {"enabled": False}})
        services = build_services(settings)
        try:
            client = testing.TestClient(create_app(services), headers={"Host": "127.0.0.1"})
            headers = {f"X-Plex-Header-{n}": "v" * 1024 for n in range(240)}
            for n in range(args.requests):
                client.simulate_get(f"/library/metadata/{n + 1}/extras", headers=headers,
                                    query_string="x=" + "y" * 8000)
            answer = client.simulate_get("/debug/requests")
            records = answer.json["requests"]
            largest = max(len(json.dumps(r, ensure_ascii=False).encode()) for r in records)
            file_size = (Path(state) / FILE_NAME).stat().st_size
        finally:
            services.stop()
    print(f"{args.requests} requests of 240 X-Plex-* headers of 1 KB and an 8 KB query string")
    print(f"  records kept:          {len(records)}")
    print(f"  largest record:        {largest / 1024:8.1f} KiB  (limit {MAX_RECORD_BYTES / 1024:.0f} KiB)")
    print(f"  /debug/requests:       {len(answer.content) / 2**20:8.2f} MiB (records limited to "
          f"{MAX_TOTAL_BYTES / 2**20:.0f} MiB)")
    print(f"  {FILE_NAME}: {file_size / 2**20:8.2f} MiB (at most twice the records)")


if __name__ == "__main__":
    main()
