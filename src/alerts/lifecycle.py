"""The alert lifecycle (闭环监管): which action is allowed when, its payload, its effect.

::

    raised --dispatch--> dispatched --verify--> verified --enforce--> enforcing --clear--> cleared
                         (claim: 签收,           | (confirmed)                             ^
                          no state change)      +--clear (explained) ---------------------+

``comment`` is allowed in every state but cleared (terminal); ``escalate`` is the system's
overdue check (``escalate_overdue``), never a user's. Pure functions: the store calls
:func:`check_allowed`, :func:`check_payload` and :func:`changes` inside its transaction.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NoReturn

from alerts.model import Alert, AlertState, Bilingual, Outcome, ReasonCode
from dianyan.errors import AlertActionError, AlertPayloadError


class Action(Bilingual, StrEnum):
    """What a user (or, for escalate, the system) does to an alert."""

    DISPATCH = "dispatch"
    CLAIM = "claim"
    VERIFY = "verify"
    ENFORCE = "enforce"
    CLEAR = "clear"
    COMMENT = "comment"
    ESCALATE = "escalate"

    @property
    def zh(self) -> str:
        return _ZH[self]


_ZH = {
    Action.DISPATCH: "推送",
    Action.CLAIM: "签收",
    Action.VERIFY: "核查",
    Action.ENFORCE: "立案",
    Action.CLEAR: "销警",
    Action.COMMENT: "备注",
    Action.ESCALATE: "超时督办",
}


def event_label(action: str) -> str:
    """Label of an event's action, including the store's own 'raised' first event."""
    if action == AlertState.RAISED.value:
        return AlertState.RAISED.label
    try:
        return Action(action).label
    except ValueError:
        return action


def allowed_actions(alert: Alert) -> tuple[Action, ...]:
    """The user actions the alert accepts now, in lifecycle order."""
    state = alert.state
    if state is AlertState.RAISED:
        return (Action.DISPATCH, Action.COMMENT)
    if state is AlertState.DISPATCHED:
        claim = (Action.CLAIM,) if alert.owner is None else ()
        return (*claim, Action.VERIFY, Action.COMMENT)
    if state is AlertState.VERIFIED:
        nxt = Action.ENFORCE if alert.outcome is Outcome.CONFIRMED else Action.CLEAR
        return (nxt, Action.COMMENT)
    if state is AlertState.ENFORCING:
        return (Action.CLEAR, Action.COMMENT)
    return ()


def parse_action(action: Action | str) -> Action:
    """The action named ``action``; an unknown name is a malformed request."""
    try:
        return Action(action)
    except ValueError:
        names = ", ".join(a.value for a in Action if a is not Action.ESCALATE)
        raise AlertPayloadError(f"unknown action {action!r}; use one of {names}.") from None


def check_allowed(alert: Alert, action: Action) -> None:
    """Raise AlertActionError (with the state and the allowed actions) unless allowed."""
    allowed = allowed_actions(alert)
    if action in allowed:
        return
    state = f"{alert.state.label}"
    if alert.state is AlertState.VERIFIED and alert.outcome is not None:
        state += f", {alert.outcome.label}"
    if alert.owner is not None and alert.state is AlertState.DISPATCHED:
        state += f", claimed by {alert.owner}"
    if action is Action.ESCALATE:
        why = "escalate is done by the system's overdue check (超时督办), not by a user"
    else:
        why = f"{action.value} ({action.zh}) is not allowed from there"
    if allowed:
        names = ", ".join(f"{a.value} ({a.zh})" for a in allowed)
        hint = f"allowed: {names}."
    else:
        hint = "cleared is final: no action is allowed."
    raise AlertActionError(
        f"alert {alert.id} is {state}; {why}; {hint}",
        state=alert.state.value,
        allowed=tuple(a.value for a in allowed),
    )


# Field kinds: "short" text (<= 200 characters), "text" (<= 2000), or an enum.
_SHORT, _TEXT = 200, 2000
_PAYLOADS: dict[Action, dict[str, tuple[bool, Any]]] = {
    # action: field -> (required, kind)
    Action.DISPATCH: {"department": (True, _SHORT), "comment": (False, _TEXT)},
    Action.CLAIM: {"owner": (True, _SHORT), "comment": (False, _TEXT)},
    Action.VERIFY: {
        "outcome": (True, Outcome),
        "reason_code": (False, ReasonCode),
        "comment": (False, _TEXT),
    },
    Action.ENFORCE: {"case_number": (True, _SHORT), "comment": (False, _TEXT)},
    Action.CLEAR: {"result": (True, _TEXT), "comment": (False, _TEXT)},
    Action.COMMENT: {"text": (True, _TEXT)},
}


def expected_payload(action: Action) -> str:
    """What the payload of ``action`` must hold, in words (for error messages and docs)."""
    parts = []
    for name, (required, kind) in _PAYLOADS[action].items():
        what = "|".join(kind) if isinstance(kind, type) else f"text up to {kind} characters"
        if action is Action.VERIFY and name == "reason_code":
            opt = "required when explained, absent when confirmed"
        elif action is Action.VERIFY and name == "comment":
            opt = "optional; required with reason_code other"
        else:
            opt = "required" if required else "optional"
        parts.append(f"{name}: {what} ({opt})")
    return f"{action.value} expects {{{'; '.join(parts)}}}"


def check_payload(action: Action, payload: object) -> dict[str, str]:
    """The cleaned payload (text stripped, empty optional fields dropped), or raise."""
    spec = _PAYLOADS[action]
    if not isinstance(payload, dict):
        _malformed(action, f"the payload is {type(payload).__name__}, not an object")
    unknown = sorted(str(k) for k in payload if k not in spec)
    if unknown:
        _malformed(action, f"unknown field(s) {', '.join(unknown)}")
    clean: dict[str, str] = {}
    for name, (required, kind) in spec.items():
        value = payload.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                _malformed(action, f"{name} is missing")
            continue
        clean[name] = _check_field(action, name, value, kind)
    if action is Action.VERIFY:
        _check_verify(clean)
    return clean


def _check_field(action: Action, name: str, value: object, kind: Any) -> str:
    if isinstance(kind, type):
        try:
            return kind(value).value
        except ValueError:
            _malformed(action, f"{name} is {value!r}")
    if not isinstance(value, str):
        _malformed(action, f"{name} is {type(value).__name__}, not text")
    if len(value) > kind:
        _malformed(action, f"{name} has {len(value)} characters")
    return value


def _check_verify(clean: dict[str, str]) -> None:
    explained = clean["outcome"] == Outcome.EXPLAINED
    if explained and "reason_code" not in clean:
        _malformed(Action.VERIFY, "an explained outcome needs a reason_code")
    if not explained and "reason_code" in clean:
        _malformed(Action.VERIFY, "a confirmed outcome takes no reason_code")
    if clean.get("reason_code") == ReasonCode.OTHER and "comment" not in clean:
        _malformed(Action.VERIFY, "reason_code other needs a comment saying what it was")


def _malformed(action: Action, problem: str) -> NoReturn:
    raise AlertPayloadError(
        f"malformed {action.value} payload: {problem}; {expected_payload(action)}."
    )


def changes(alert: Alert, action: Action, payload: dict[str, str], now_ms: int) -> dict[str, Any]:
    """The alert columns an allowed, checked action sets (besides seq and updated_at_ms)."""
    if action is Action.COMMENT:
        return {}
    out: dict[str, Any] = {"overdue_since_ms": None}  # a new stage starts on time
    if action is Action.DISPATCH:
        out |= {
            "state": AlertState.DISPATCHED,
            "department": payload["department"],
            "dispatched_at_ms": now_ms,
        }
    elif action is Action.CLAIM:
        out |= {"owner": payload["owner"], "claimed_at_ms": now_ms}
    elif action is Action.VERIFY:
        reason = payload.get("reason_code")
        out |= {
            "state": AlertState.VERIFIED,
            "outcome": Outcome(payload["outcome"]),
            "reason_code": None if reason is None else ReasonCode(reason),
            "verified_at_ms": now_ms,
        }
    elif action is Action.ENFORCE:
        out |= {
            "state": AlertState.ENFORCING,
            "case_number": payload["case_number"],
            "enforcing_at_ms": now_ms,
        }
    elif action is Action.CLEAR:
        out |= {"state": AlertState.CLEARED, "result": payload["result"], "cleared_at_ms": now_ms}
    else:  # pragma: no cover - check_allowed refuses escalate
        raise AlertActionError(f"{action.value} changes nothing through act()")
    return out
