"""Recipient resolution as pure decisions: environments, channels, limit_to, filters, placeholders."""

from typing import Any

import pytest

from clarion.occurrences.resolution import MISSING, Candidate, NotificationRule, UserFields, context_selected, fill_placeholders, resolve_recipients, rules_match, select_notifications, user_selected, value_matches
from clarion.occurrences.schemas import TriggerFilters, TriggerOptions

pytestmark = pytest.mark.no_db

ALICE = UserFields("alice", "alice@example.com", "Alice", "Liddell", {"team": "ops", "tags": ["a", "b"], "level": 3, "vip": True, "geo": {"country": "IT"}})
BOB = UserFields("bob", "bob@example.com", "Bob", "Builder", {"team": "dev", "level": 1, "vip": False})
CAROL = UserFields("carol", "carol@example.com", "Carol", "", {}, locked=True)


def select(include: Any = None, exclude: Any = None, context: dict[str, Any] | None = None) -> list[str]:
    return [user.username for user in (ALICE, BOB) if user_selected(user, include, exclude, context or {})]


class TestFilters:
    def test_missing_or_empty_include_is_everyone_and_exclude_no_one(self) -> None:
        assert select() == ["alice", "bob"]
        assert select(include={}, exclude={}) == ["alice", "bob"]
        assert select(include=[], exclude=[]) == ["alice", "bob"]

    def test_a_mapping_needs_every_rule(self) -> None:
        assert select(include={"custom_fields.team": "ops", "first_name": "Alice"}) == ["alice"]
        assert select(include={"custom_fields.team": "ops", "first_name": "Bob"}) == []

    def test_a_list_of_mappings_needs_any(self) -> None:
        assert select(include=[{"username": "bob"}, {"email": "alice@example.com"}]) == ["alice", "bob"]
        assert select(exclude=[{"username": "bob"}, {"username": "nobody"}]) == ["alice"]

    def test_a_list_value_means_membership(self) -> None:
        assert select(include={"username": ["bob", "zed"]}) == ["bob"]
        assert select(include={"username": []}) == []

    def test_a_list_valued_field_matches_when_it_contains_the_value(self) -> None:
        assert select(include={"custom_fields.tags": "b"}) == ["alice"]
        assert select(include={"custom_fields.tags": ["z", "a"]}) == ["alice"]

    def test_nested_custom_fields_and_typed_values(self) -> None:
        assert select(include={"custom_fields.geo.country": "IT"}) == ["alice"]
        assert select(include={"custom_fields.level": 3}) == ["alice"]
        assert select(include={"custom_fields.level": "3"}) == []
        assert select(include={"custom_fields.vip": True}) == ["alice"]
        # JSON true is not 1
        assert select(include={"custom_fields.level": True}) == []

    def test_a_missing_field_matches_nothing(self) -> None:
        assert select(include={"custom_fields.nope": None}) == []
        assert select(exclude={"custom_fields.nope": None}) == ["alice", "bob"]
        assert select(include={"age": 3}) == []

    def test_include_then_exclude(self) -> None:
        assert select(include={"custom_fields.level": [1, 3]}, exclude={"username": "alice"}) == ["bob"]


class TestPlaceholders:
    CONTEXT = {"team": "ops", "order": {"owner": "bob", "level": 3, "teams": ["dev", "qa"]}, "n": None}

    def test_a_lone_placeholder_keeps_the_context_type(self) -> None:
        assert fill_placeholders("{{ order.level }}", self.CONTEXT) == 3
        assert fill_placeholders("{{order.teams}}", self.CONTEXT) == ["dev", "qa"]
        assert fill_placeholders("{{ n }}", self.CONTEXT) is None

    def test_placeholders_inside_text_are_replaced_by_text(self) -> None:
        assert fill_placeholders("{{ order.owner }}@example.com", self.CONTEXT) == "bob@example.com"
        assert fill_placeholders("L{{ order.level }}", self.CONTEXT) == "L3"

    def test_a_missing_path_matches_nothing(self) -> None:
        assert fill_placeholders("{{ nope.x }}", self.CONTEXT) is MISSING
        assert fill_placeholders("x{{ nope }}", self.CONTEXT) is MISSING
        assert not value_matches(MISSING, MISSING)

    def test_it_is_not_jinja(self) -> None:
        assert fill_placeholders("{{ team|upper }}", self.CONTEXT) == "{{ team|upper }}"
        assert fill_placeholders("{% if x %}", self.CONTEXT) == "{% if x %}"

    def test_placeholders_in_list_values_and_rules(self) -> None:
        assert fill_placeholders(["{{ team }}", "x"], self.CONTEXT) == ["ops", "x"]
        assert select(include={"custom_fields.team": "{{ team }}"}, context=self.CONTEXT) == ["alice"]
        assert select(include={"custom_fields.team": "{{ order.teams }}"}, context=self.CONTEXT) == ["bob"]
        assert select(exclude={"username": "{{ order.owner }}"}, context=self.CONTEXT) == ["alice"]
        assert select(include={"email": "{{ order.owner }}@example.com"}, context=self.CONTEXT) == ["bob"]
        assert select(include={"username": "{{ missing }}"}, context=self.CONTEXT) == []


class TestNotifications:
    def rule(self, id: int, environments: tuple[str, ...] = (), context_filter: Any = None) -> NotificationRule:
        return NotificationRule(id, f"n{id}", 1, environments=environments, context_filter=context_filter or {})

    def test_environs(self) -> None:
        rules = [self.rule(1), self.rule(2, ("production",)), self.rule(3, ("staging", "dev"))]
        ids = lambda environs: [r.id for r in select_notifications(rules, TriggerOptions(environs=environs), {})]  # noqa: E731
        assert ids(None) == [1, 2, 3]
        assert ids([]) == [1, 2, 3]
        assert ids(["production"]) == [1, 2]
        assert ids(["dev", "production"]) == [1, 2, 3]
        assert ids(["qa"]) == [1]

    def test_context_filter(self) -> None:
        assert context_selected({}, {"a": 1})
        assert context_selected({"severity": ["high", "critical"]}, {"severity": "high"})
        assert not context_selected({"severity": "high"}, {"severity": "low"})
        assert not context_selected({"severity": "high"}, {})
        assert context_selected({"order.country": "IT"}, {"order": {"country": "IT"}})
        assert context_selected([{"a": 1}, {"b": 2}], {"b": 2})

    def test_rules_match_rejects_garbage(self) -> None:
        assert not rules_match("nonsense", lambda _: "x", {})


class TestResolveRecipients:
    NOTIFICATIONS = [
        NotificationRule(1, "all channels", 1),
        NotificationRule(2, "email only", 1, channels=("email",)),
    ]

    def candidates(self) -> list[Candidate]:
        rows = []
        for notification in (1, 2):
            for assignment, (channel, address, user) in enumerate(
                [
                    ("email", "alice@example.com", ALICE),
                    ("webhook", "https://alice.example/hook", ALICE),
                    ("email", "bob@example.com", BOB),
                    ("email", "carol@example.com", CAROL),
                ],
                start=1,
            ):
                rows.append(Candidate(notification, assignment, channel, address, None, user))
        return rows

    def resolve(self, **options: Any) -> list[tuple[int, str]]:
        recipients = resolve_recipients(self.NOTIFICATIONS, self.candidates(), TriggerOptions(**options), {})
        return [(r.notification, r.address) for r in recipients]

    def test_everyone_but_the_locked_user_on_allowed_channels(self) -> None:
        assert self.resolve() == [
            (1, "alice@example.com"),
            (1, "https://alice.example/hook"),
            (1, "bob@example.com"),
            (2, "alice@example.com"),
            (2, "bob@example.com"),
        ]

    def test_options_channels_narrow(self) -> None:
        assert self.resolve(channels=["webhook"]) == [(1, "https://alice.example/hook")]
        assert self.resolve(channels=["sms"]) == []

    def test_limit_to(self) -> None:
        assert self.resolve(limit_to=["bob@example.com", "carol@example.com"]) == [
            (1, "bob@example.com"),
            (2, "bob@example.com"),
        ]

    def test_filters(self) -> None:
        assert self.resolve(filters=TriggerFilters(exclude={"username": "alice"})) == [
            (1, "bob@example.com"),
            (2, "bob@example.com"),
        ]

    def test_a_duplicate_candidate_is_one_recipient(self) -> None:
        doubled = self.candidates() * 2
        recipients = resolve_recipients(self.NOTIFICATIONS, doubled, TriggerOptions(), {})
        assert len(recipients) == 5
