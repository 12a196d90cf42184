"""One case seen from the API: a lead, a viewer, an outsider and one standard item."""

from __future__ import annotations

import io
from typing import Any

from casefile.model import Role
from tests.factories import add_member, bearer, make_case, make_user


def seed_case(session: Any, client: Any) -> dict[str, Any]:
    """Ids as strings; `lead`, `viewer` and `outsider` are each one's bearer headers."""
    lead = make_user(session, "lead@example.org")
    viewer = make_user(session, "viewer@example.org")
    outsider = make_user(session, "outsider@example.org")
    case = make_case(session, lead)
    add_member(session, case, lead, viewer, Role.VIEWER)
    lead_headers = bearer(session, lead)
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence",
        headers=lead_headers,
        data={"file": (io.BytesIO(b"witness statement\n"), "s.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201
    return {
        "case": str(case.id),
        "item": response.get_json()["id"],
        "viewer_id": str(viewer.id),
        "lead": lead_headers,
        "viewer": bearer(session, viewer),
        "outsider": bearer(session, outsider),
    }
