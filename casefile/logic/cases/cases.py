"""Cases: creation, listing, reading. The creator becomes the case's first lead."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.authz import CaseAction
from casefile.logic.cases import ern
from casefile.logic.custody import log as custody_log
from casefile.logic.errors import ValidationFailed
from casefile.logic.pagination import Page, paginate
from casefile.logic.text import Line, LongText, Name, Short, refuse_nul
from casefile.model import Case, CaseMember, CustodyAction, Forum, Role, User

LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")

# Checked by the list's validator (so an error names `languages`); documented per item.
LanguageTag = Annotated[str, WithJsonSchema({"type": "string", "pattern": LANGUAGE_TAG.pattern})]
# Checked by ern.pattern_problem (whose messages say what is wrong); documented as a pattern.
ErnPattern = Annotated[
    str,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100, "pattern": ern.GRAMMAR}),
]


class CaseInput(BaseModel):
    """A case as a user describes it. Shared by the API, the web form and the CLI."""

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="after")(refuse_nul)

    title: Name
    forum: Forum
    court: Line | None = None
    reference: Short | None = None
    ern_pattern: ErnPattern = ern.DEFAULT_PATTERN
    languages: list[LanguageTag] = Field(default_factory=list, max_length=20)
    description: LongText | None = None

    @field_validator("ern_pattern")
    @classmethod
    def _ern_pattern(cls, value: str) -> str:
        problem = ern.pattern_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not LANGUAGE_TAG.fullmatch(tag):
                raise ValueError(f"{tag!r} is not a language tag such as 'en', 'my' or 'fr'")
        return list(dict.fromkeys(value))  # each tag once, in the order given


@retry.transaction
def create_case(session: Session, actor: User | None, data: CaseInput) -> Case:
    user = authz.require_active(actor)
    case = Case(created_by_id=user.id, **_blank_to_none(data))
    session.add(case)
    session.flush()
    session.add(CaseMember(case_id=case.id, user_id=user.id, role=Role.LEAD, added_by_id=user.id))
    custody_log.append(
        session,
        user,
        CustodyAction.CASE_CREATED,
        case_id=case.id,
        details={**case.as_fields(), "lead": str(user.id)},
    )
    session.commit()
    return case


def _blank_to_none(data: CaseInput) -> dict[str, object]:
    fields = data.model_dump()
    for name in ("court", "reference", "description"):
        if isinstance(fields[name], str) and not fields[name].strip():
            fields[name] = None
    return fields


def get_case(session: Session, actor: User | None, case_id: uuid.UUID) -> Case:
    return authz.authorize_case(session, actor, case_id, CaseAction.VIEW)


def list_cases(
    session: Session, actor: User | None, *, limit: int = 50, cursor: str | None = None
) -> Page[Case]:
    return paginate(
        session, authz.visible_cases(actor), Case.created_at, Case.id, limit=limit, cursor=cursor
    )


def parse_case_input(fields: dict[str, object]) -> CaseInput:
    try:
        return CaseInput.model_validate(fields)
    except ValidationError as error:
        raise ValidationFailed.from_pydantic(error) from error
