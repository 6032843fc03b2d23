"""load_policy(): both layouts, and errors that name the file and the field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.core.policy_model import Policy
from shared.errors import PolicyError
from shared.policy.loader import DEFAULT_POLICY_PATH, load_policy
from tests.support.policy_factories import default_data, write_policy


def load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return str(caught.value)


def bands(*pairs: tuple[float, str]) -> dict[str, Any]:
    return {"bands": [{"min": m, "action": a, "clause": 1} for m, a in pairs]}


def test_default_policy_loads_from_none_and_from_its_directory() -> None:
    policy = load_policy(None)
    assert policy == load_policy(DEFAULT_POLICY_PATH)
    assert (policy.id, policy.version) == ("clearpath-default", 7)
    assert {"public_assistant", "internal_tool"} <= set(policy.profiles)
    assert set(policy.tenants) == {"acme", "nocache"}
    assert policy.cache_allowed("nocache") is False
    assert policy.cache_allowed("acme") is True and policy.cache_allowed("anyone") is True
    assert policy.version_for("anyone") == "clearpath-default@7"
    assert policy.version_for("nocache") == "clearpath-default@7+nocache@1"


def test_lists_for_merges_global_and_tenant_lists() -> None:
    data = default_data()
    data["lists"] = {"blocklist": [{"id": "g-1", "term": "globalterm"}]}
    data["tenants"] = {"acme": {"version": 1, "lists": {"blocklist": [{"id": "a-1", "term": "x"}]}}}
    loaded = Policy.model_validate(data)
    assert [e.id for e in loaded.lists_for("acme").blocklist] == ["g-1", "a-1"]
    assert [e.id for e in loaded.lists_for("other").blocklist] == ["g-1"]


def test_fingerprint_changes_with_content_and_tenant() -> None:
    policy = load_policy(None)
    assert policy.fingerprint("acme").startswith("clearpath-default@7+acme@2#")
    assert policy.fingerprint("acme") != policy.fingerprint("nocache")
    assert policy.fingerprint("x") == policy.fingerprint("y")
    data = default_data()
    data["categories"]["violence"]["clauses"][1] = "Edited without a version bump."
    assert Policy.model_validate(data).fingerprint("x") != policy.fingerprint("x")


def test_single_file_layout_with_inline_tenants(tmp_path: Path) -> None:
    data = default_data()
    data["tenants"] = {"beta": {"version": 7, "cache_allowed": False}}
    policy = load_policy(write_policy(tmp_path / "one.yaml", data))
    assert policy.version_for("beta") == "clearpath-default@7+beta@7"


def test_bands_not_ascending(tmp_path: Path) -> None:
    data = default_data()
    data["profiles"]["public_assistant"]["categories"]["violence"] = bands(
        (0.6, "allow_with_guidance"), (0.5, "refuse")
    )
    path = write_policy(tmp_path / "x.yaml", data)
    assert (
        f"{path}: profiles.public_assistant.categories.violence.bands[1].min: must be > "
        "previous band's min (0.6)" in load_error(path)
    )


def test_bands_must_not_get_less_restrictive(tmp_path: Path) -> None:
    data = default_data()
    data["profiles"]["public_assistant"]["categories"]["violence"] = bands(
        (0.5, "refuse"), (0.8, "allow_with_guidance")
    )
    message = load_error(write_policy(tmp_path / "x.yaml", data))
    assert "categories.violence.bands[1].action: must be at least as restrictive" in message


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["profiles"]["public_assistant"]["categories"].update(
                gore=bands((0.5, "refuse"))
            ),
            "profiles.public_assistant.categories.gore: unknown category 'gore'",
        ),
        (
            lambda d: d["profiles"]["internal_tool"]["categories"].update(
                violence=bands((0.5, "obliterate"))
            ),
            "profiles.internal_tool.categories.violence.bands[0].action: Input should be",
        ),
        (
            lambda d: d["profiles"]["public_assistant"]["categories"].update(
                violence={"bands": [{"min": 0.5, "action": "refuse", "clause": 9}]}
            ),
            "categories.violence.bands[0].clause: clause 9 is not defined in "
            "categories.violence.clauses",
        ),
        (
            lambda d: d["floors"].update(gore={"min": 0.5, "clause": 1}),
            "floors.gore: unknown category 'gore'",
        ),
        (
            lambda d: d["categories"]["violence"]["intent"].update(clause=7),
            "categories.violence.intent.clause: clause 7 is not defined",
        ),
        (
            lambda d: d["categories"]["prompt_attack"].update(
                intent={"purposes": ["research"], "clause": 1}
            ),
            "categories.prompt_attack.relaxable: must be true when an intent rule is given",
        ),
        (
            lambda d: d["profiles"]["public_assistant"].update(colour="blue"),
            "profiles.public_assistant.colour: Extra inputs are not permitted",
        ),
        (
            lambda d: d["categories"].update({"Bad-Name": d["categories"]["hate"]}),
            "categories.Bad-Name: invalid name: String should match pattern",
        ),
        (
            lambda d: d["lists"].update(blocklist=[{"id": "bad", "regex": "(unclosed"}]),
            "lists.blocklist[0]: list entry 'bad': invalid regex",
        ),
        (
            lambda d: d["lists"].update(blocklist=[{"id": "g", "term": "x", "category": "nope"}]),
            "lists.blocklist[0].category: unknown category 'nope'",
        ),
        (
            lambda d: d["intent"].update(verified_shift=0.05),
            "intent.verified_shift: must be ≥ intent.unverified_shift",
        ),
    ],
)
def test_validation_errors_name_file_and_field(tmp_path: Path, edit: Any, expected: str) -> None:
    data = default_data()
    edit(data)
    path = write_policy(tmp_path / "policies" / "x.yaml", data)
    message = load_error(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_profile_band_less_restrictive_than_floor_is_rejected(tmp_path: Path) -> None:
    data = default_data()
    data["profiles"]["internal_tool"]["categories"]["sexual_minors"] = bands((0.5, "refuse"))
    message = load_error(write_policy(tmp_path / "x.yaml", data))
    assert (
        "profiles.internal_tool.categories.sexual_minors.bands: less restrictive than " in message
    )
    assert "floors.sexual_minors" in message


def test_tenant_override_below_a_floor_names_the_tenant_file(tmp_path: Path) -> None:
    write_policy(tmp_path / "policy.yaml", default_data())
    tenant = {
        "version": 1,
        "profiles": {"public_assistant": {"categories": {"weapons_cbrn": bands((0.7, "refuse"))}}},
    }
    tenant_file = write_policy(tmp_path / "tenants" / "evil.yaml", tenant)
    message = load_error(tmp_path)
    assert message.startswith(f"{tenant_file}: profiles.public_assistant.categories.weapons_cbrn")
    assert "less restrictive than floors.weapons_cbrn" in message


def test_tenant_may_not_relax_non_relaxable_but_may_relax_relaxable(tmp_path: Path) -> None:
    write_policy(tmp_path / "policy.yaml", default_data())
    relaxed_privacy = {
        "version": 1,
        "profiles": {"public_assistant": {"categories": {"privacy": bands((0.9, "refuse"))}}},
    }
    write_policy(tmp_path / "tenants" / "t1.yaml", relaxed_privacy)
    message = load_error(tmp_path)
    assert "categories.privacy.bands: 'privacy' is not relaxable: at score 0.43" in message

    relaxed_violence = {
        "version": 1,
        "profiles": {"public_assistant": {"categories": {"violence": bands((0.9, "refuse"))}}},
    }
    write_policy(tmp_path / "tenants" / "t1.yaml", relaxed_violence)
    assert load_policy(tmp_path).version_for("t1").endswith("+t1@1")


def test_tenant_may_not_stop_redacting_pii(tmp_path: Path) -> None:
    data = default_data()
    data["tenants"] = {
        "t": {"version": 1, "profiles": {"public_assistant": {"pii_action": "allow"}}}
    }
    message = load_error(write_policy(tmp_path / "x.yaml", data))
    assert "tenants.t.profiles.public_assistant.pii_action: 'privacy' is not relaxable" in message


def test_tenant_unknown_profile_and_duplicate_entry_ids(tmp_path: Path) -> None:
    data = default_data()
    data["lists"] = {"blocklist": [{"id": "dup", "term": "a"}]}
    data["tenants"] = {
        "t": {
            "version": 1,
            "lists": {"blocklist": [{"id": "dup", "term": "b"}]},
            "profiles": {"kiosk": {}},
        }
    }
    message = load_error(write_policy(tmp_path / "x.yaml", data))
    assert "tenants.t.profiles.kiosk: unknown profile 'kiosk'" in message
    assert "tenants.t.lists.blocklist[0].id: duplicate list entry id 'dup'" in message


def test_tenant_both_inline_and_in_a_file(tmp_path: Path) -> None:
    data = default_data()
    data["tenants"] = {"acme": {"version": 1}}
    write_policy(tmp_path / "policy.yaml", data)
    tenant_file = write_policy(tmp_path / "tenants" / "acme.yaml", {"version": 2})
    assert load_error(tmp_path).startswith(f"{tenant_file}: tenant 'acme' is also defined")


def test_yaml_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nversion: [1\n", encoding="utf-8")
    assert load_error(broken).startswith(f"{broken}: invalid YAML at line 3")

    duplicate = tmp_path / "dup.yaml"
    duplicate.write_text("id: a\nversion: 1\nid: b\n", encoding="utf-8")
    assert (
        load_error(duplicate)
        == f"{duplicate}: invalid YAML at line 3, column 1: duplicate key 'id'"
    )

    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n", encoding="utf-8")
    assert load_error(scalar) == f"{scalar}: expected a mapping at the top level"


def test_missing_paths(tmp_path: Path) -> None:
    assert (
        load_error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file or directory"
    )
    assert load_error(tmp_path) == f"{tmp_path}: directory has no policy.yaml"


def test_missing_required_fields_are_listed(tmp_path: Path) -> None:
    path = write_policy(tmp_path / "x.yaml", {"id": "p", "version": 1})
    message = load_error(path)
    for field in ("title", "categories", "blocklist", "pii", "profiles"):
        assert f"{path}: {field}: Field required" in message
