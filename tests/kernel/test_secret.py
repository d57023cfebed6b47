"""The signing secret: random per installation in embedded mode, required in production, and
the published development constant never accepted off loopback."""

from __future__ import annotations

import base64
import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from sincro.access.signin import start_session
from sincro.app import create_app
from sincro.config import DEFAULT_SECRET, SECRET_FILE, Settings, embedded_secret
from sincro.console import SESSION_COOKIE
from sincro.db import Database
from sincro.sharedstate import DatabaseSharedState
from tests.console.support import seed_world


def test_embedded_mode_makes_one_private_random_secret(tmp_path: Path) -> None:
    first = Settings(var_dir=tmp_path).secret_key
    assert len(first) >= 40 and first != DEFAULT_SECRET
    assert Settings(var_dir=tmp_path).secret_key == first, "kept across restarts"
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert Settings(var_dir=tmp_path / "other").secret_key != first


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: embedded_secret(tmp_path), range(32)))
    assert len(secrets) == 1


@pytest.mark.parametrize("secret", ["", DEFAULT_SECRET, "short"])
def test_production_requires_a_private_secret(secret: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SINCRO_SECRET_KEY"):
        Settings(mode="production", secret_key=secret, var_dir=tmp_path)


def test_the_development_secret_is_refused_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        Settings(secret_key=DEFAULT_SECRET, host="0.0.0.0", var_dir=tmp_path)
    assert Settings(secret_key=DEFAULT_SECRET, host="127.0.0.1", var_dir=tmp_path)


def _forged_cookie(secret: str, user_id: int, session: tuple[str, str]) -> str:
    """A session cookie for ``user_id`` naming a registered server-side ``session``."""
    content = {"user_id": user_id, "sid": session[0], "stoken": session[1]}
    payload = base64.b64encode(json.dumps(content).encode())
    return TimestampSigner(secret).sign(payload).decode()


def test_a_session_forged_with_the_published_constant_is_not_accepted(
    db: Database, settings: Settings
) -> None:
    with db.write() as session:
        seed_world(session)
    registered = start_session(DatabaseSharedState(db), 600)  # only the signature is forged
    with TestClient(create_app(settings)) as client:
        client.cookies.set(SESSION_COOKIE, _forged_cookie(DEFAULT_SECRET, 1, registered))
        response = client.get("/console/skus", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in")
        client.cookies.set(SESSION_COOKIE, _forged_cookie(settings.secret_key, 1, registered))
        assert client.get("/console/skus", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(("base", "secure"), [("https://testserver", True), ("http://t", False)])
def test_the_session_cookie_is_secure_over_https_and_expires_when_idle(
    db: Database, settings: Settings, base: str, secure: bool
) -> None:
    with TestClient(create_app(settings), base_url=base) as client:
        cookie = client.get("/console/sign-in").headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure
    assert "max-age=7200" in cookie and "httponly" in cookie and "samesite=lax" in cookie
