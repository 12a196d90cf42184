"""What every fault test checks against a served instance (tests/server/live.py): uploads and
what they acknowledged, and, after recovery, that nothing acknowledged was lost and that
`casefile scrub` and `casefile custody verify` pass."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field

import requests
from click.testing import CliRunner, Result

from casefile.cli import main
from tests.server.live import Live, multipart

MIB = 1 << 20
RETRIES = 4


@dataclass
class Ledger:
    """Every upload the server acknowledged (201), by item id, with its SHA-256."""

    live: Live
    acknowledged: dict[str, str] = field(default_factory=dict)

    def upload(self, size: int = MIB, timeout: float = 60) -> requests.Response:
        content = secrets.token_bytes(size)
        head, tail, content_type = multipart({}, f"item-{secrets.token_hex(3)}.bin")
        response = requests.post(
            f"{self.live.url}/api/v1/cases/{self.live.case_id}/evidence",
            data=head + content + tail,
            headers={**self.live.token, "Content-Type": content_type},
            timeout=timeout,
        )
        if response.status_code == 201:
            self.acknowledged[response.json()["id"]] = hashlib.sha256(content).hexdigest()
        return response

    def get(self, path: str, **params: object) -> requests.Response:
        """GET as a client that honours 503 does: sent again (a few times, after a pause).
        After a database restart each server worker may answer one 503 while its pool
        renews its connections."""
        for _ in range(RETRIES):
            response = requests.get(
                f"{self.live.url}{path}", params=params, headers=self.live.token, timeout=60
            )
            if response.status_code != 503:
                break
            time.sleep(0.5)
        return response

    def listed(self) -> set[str]:
        response = self.get(f"/api/v1/cases/{self.live.case_id}/evidence", limit=200)
        assert response.status_code == 200, response.text
        return {item["id"] for item in response.json()["items"]}

    def download_sha256(self, item_id: str) -> str:
        response = self.get(f"/api/v1/evidence/{item_id}/content")
        assert response.status_code == 200, (item_id, response.status_code, response.text)
        return hashlib.sha256(response.content).hexdigest()

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.live.env)

    def assert_intact(self) -> None:
        """Each acknowledged item listed and downloadable with its SHA-256, nothing else in
        the case; scrub (orphans and leftovers repaired first, no grace) and custody verify
        pass."""
        assert self.listed() == set(self.acknowledged)
        for item_id, sha256 in self.acknowledged.items():
            assert self.download_sha256(item_id) == sha256
        repaired = self.cli("scrub", "--repair", "--grace-minutes", "0")
        assert repaired.exit_code == 0, repaired.output
        scrubbed = self.cli("scrub", "--grace-minutes", "0")
        assert scrubbed.exit_code == 0, scrubbed.output
        verified = self.cli("custody", "verify")
        assert verified.exit_code == 0, verified.output


def assert_json_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
