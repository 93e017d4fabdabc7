"""The tables. Times are stored in UTC (`UTCDateTime` gives them back time-zone aware
on SQLite too); ids of people are Telegram user ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back time-zone aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_type=UTCDateTime(), nullable=nullable, **kw)


def created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)


def json_field(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON(), nullable=False)


class Township(SQLModel, table=True):
    __tablename__ = "township"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=200)
    created_at: datetime = created()


class DutyListRow(SQLModel, table=True):
    __tablename__ = "duty_list"
    __table_args__ = (sa.UniqueConstraint("township_id", "version", name="uq_duty_list_township_version"),)
    id: int | None = Field(default=None, primary_key=True)
    township_id: int = Field(foreign_key="township.id", index=True)
    version: str = Field(max_length=50)
    status: str = Field(default="draft", max_length=20)
    source_file: str = Field(default="", max_length=500)
    created_at: datetime = created()


class DutyItemRow(SQLModel, table=True):
    __tablename__ = "duty_item"
    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="duty_list.id", index=True)
    position: int = 0
    part: str = Field(max_length=20, index=True)
    seq: int | None = None
    category: str = ""
    subcategory: str = ""
    name: str = ""
    content: str = ""
    basis: str = ""
    county_department: str = ""
    county_duty: str = ""
    receiving_department: str = ""
    working_mode: str = ""
    remarks: str = ""


class Person(SQLModel, table=True):
    """Anyone who talked to the bot. `role`: resident, cadre or organizer
    (organizers from ORGANIZER_IDS are organizers whatever this says)."""

    __tablename__ = "person"
    id: int = Field(primary_key=True, sa_type=sa.BigInteger(), sa_column_kwargs={"autoincrement": False})
    first_name: str = ""
    # the language messages go out in: chosen with /language (language_chosen), else the one
    # Telegram reported when the person last wrote (so the scheduler's messages follow it)
    language: str = Field(default="", max_length=10)
    language_chosen: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    role: str = Field(default="resident", max_length=20)
    township_id: int | None = Field(default=None, foreign_key="township.id")
    active: bool = True
    created_at: datetime = created()


class Consultation(SQLModel, table=True):
    __tablename__ = "consultation"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    intro: str = ""
    questionnaire: str = ""  # the questionnaire's YAML text
    opens_at: datetime | None = ts()
    closes_at: datetime = Field(sa_type=UTCDateTime(), nullable=False)
    status: str = Field(default="draft", max_length=20, index=True)
    settings: dict = json_field()  # reminder/digest settings, see surveys.reminders
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger())
    created_at: datetime = created()
    closed_at: datetime | None = ts()
    last_digest_at: datetime | None = ts()


class ConsultationTownship(SQLModel, table=True):
    __tablename__ = "consultation_township"
    __table_args__ = (sa.UniqueConstraint("consultation_id", "township_id", name="uq_ct_consultation_township"),)
    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    township_id: int = Field(foreign_key="township.id")
    list_id: int = Field(foreign_key="duty_list.id")
    code: str = Field(unique=True, index=True, max_length=32)


class Response(SQLModel, table=True):
    """One person's answers to one consultation's questionnaire."""

    __tablename__ = "response"
    __table_args__ = (sa.UniqueConstraint("consultation_id", "person_id", name="uq_response_person"),)
    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    person_id: int = Field(index=True, sa_type=sa.BigInteger())
    township_id: int = Field(foreign_key="township.id")
    started_at: datetime = created()
    updated_at: datetime = created()
    completed_at: datetime | None = ts()
    message_id: int | None = None  # the question message edited in place
    # The resident's screen: current question, multi-select and rating drafts, page
    # (bot.routers.resident). Kept here rather than in the FSM so one row holds it all.
    screen: dict = Field(default_factory=dict, sa_type=sa.JSON(), nullable=False,
                         sa_column_kwargs={"server_default": "{}"})  # as migration 0002 made it
    # Bumped by every write of the row; a write names the version it read, so a
    # process acting on a stale copy (another bot process moved on) writes nothing.
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Answer(SQLModel, table=True):
    __tablename__ = "answer"
    __table_args__ = (sa.UniqueConstraint("response_id", "question_id", name="uq_answer_question"),)
    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    question_id: str = Field(max_length=64)
    value: Any = Field(default=None, sa_type=sa.JSON(), nullable=True)
    answered_at: datetime = created()


class ProcessedUpdate(SQLModel, table=True):
    """update_ids already handled, so a redelivered update changes nothing."""

    __tablename__ = "processed_update"
    update_id: int = Field(primary_key=True, sa_type=sa.BigInteger(), sa_column_kwargs={"autoincrement": False})
    processed_at: datetime = created()


# the person_id of what is kept of someone erased (/delete_me: an answered comment); no Telegram
# user has id 0, so nobody's /mycomments, /mydata or reply note reaches it
ANONYMOUS = 0


class Comment(SQLModel, table=True):
    """A cadre's comment on an item, or (item_id empty, `missing` set) a proposal of a missing item."""

    __tablename__ = "comment"
    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="duty_item.id", index=True)
    person_id: int = Field(index=True, sa_type=sa.BigInteger())
    township_id: int = Field(foreign_key="township.id")
    kind: str = Field(max_length=30)
    text: str = ""
    proposed_wording: str = ""
    missing: dict = json_field()
    status: str = Field(default="open", max_length=20)  # open, withdrawn
    decision: str | None = Field(default=None, max_length=20)  # adopted, partly, rejected
    reply: str = ""
    replied_by: int | None = Field(default=None, sa_type=sa.BigInteger())
    replied_at: datetime | None = ts()
    hidden: bool = False
    hidden_by: int | None = Field(default=None, sa_type=sa.BigInteger())  # the organizer who hid it
    created_at: datetime = created()
    updated_at: datetime = created()


class OffListReport(SQLModel, table=True):
    """A cadre's report of a task pushed onto the township outside the list (清单外事项)."""

    __tablename__ = "offlist_report"
    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int | None = Field(default=None, foreign_key="consultation.id", index=True)
    person_id: int = Field(index=True, sa_type=sa.BigInteger())
    township_id: int = Field(foreign_key="township.id")
    department: str = ""
    task: str = ""
    assigned_on: str = ""
    method: str = Field(default="", max_length=30)
    details: str = ""
    created_at: datetime = created()


class Invite(SQLModel, table=True):
    __tablename__ = "invite"
    code: str = Field(primary_key=True, max_length=40)
    township_id: int | None = Field(default=None, foreign_key="township.id")
    role: str = Field(default="cadre", max_length=20)
    created_by: int | None = Field(default=None, sa_type=sa.BigInteger())
    created_at: datetime = created()
    expires_at: datetime | None = ts()
    used_by: int | None = Field(default=None, sa_type=sa.BigInteger())
    used_at: datetime | None = ts()
    revoked_at: datetime | None = ts()


# Delivery statuses (bot.broadcaster tells what each means): a run sends TODO rows and never
# sends DONE ones again ("sending" = maybe sent; "blocked" and "refused" were refused for good;
# "skipped": no longer due when its turn came — a reminder to one who had finished meanwhile)
PENDING, SENDING, SENT, BLOCKED, FAILED, REFUSED = "pending", "sending", "sent", "blocked", "failed", "refused"
SKIPPED = "skipped"
TODO = (PENDING, FAILED)
DONE = (SENT, BLOCKED, SENDING, REFUSED, SKIPPED)


class Delivery(SQLModel, table=True):
    """One message of a broadcast to one person. The unique (key, person) pair is
    what makes every broadcast, reminder and report resumable without doubles."""

    __tablename__ = "delivery"
    __table_args__ = (sa.UniqueConstraint("broadcast_key", "person_id", name="uq_delivery_key_person"),)
    id: int | None = Field(default=None, primary_key=True)
    broadcast_key: str = Field(max_length=120, index=True)
    person_id: int = Field(index=True, sa_type=sa.BigInteger())
    status: str = Field(default=PENDING, max_length=20)  # see TODO and DONE above
    attempts: int = 0
    created_at: datetime = created()
    sent_at: datetime | None = ts()
    message_id: int | None = None


class Outbox(SQLModel, table=True):
    """A broadcast a person started (an organizer's /announce, the cadres told of a moved
    deadline): what to send and to whom (`payload`), so that one cut off by a stop or a crash
    is resumed (storage.outbox). Its messages are its key's `Delivery` rows, as every broadcast's."""

    __tablename__ = "outbox"
    key: str = Field(primary_key=True, max_length=120)
    kind: str = Field(max_length=20)
    payload: dict = json_field()
    created_at: datetime = created()
    lease_until: datetime = created()  # a process sends it until then (and renews it meanwhile)
    done_at: datetime | None = ts()


class FSMRecord(SQLModel, table=True):
    """aiogram FSM state and data, when no Redis is configured."""

    __tablename__ = "fsm_state"
    key: str = Field(primary_key=True, max_length=200)
    state: str | None = None
    data: dict = json_field()
    # when the row was last written: rows not written for FSM_TTL are dropped by the scheduler
    # (storage.fsm.drop_stale), as Redis lets its FSM keys expire
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False,
                                 sa_column_kwargs={"server_default": sa.text("CURRENT_TIMESTAMP")})
