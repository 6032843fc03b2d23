"""Load a policy from YAML into the validated :class:`~shared.core.policy_model.Policy`.

Two layouts:

* **a file** — the whole policy; tenants (if any) inline under ``tenants: {<id>: ...}``;
* **a directory** — ``policy.yaml`` plus ``tenants/<tenant_id>.yaml``, one tenant per
  file, the file name (without ``.yaml``) being the tenant id. A tenant defined both
  inline and in a file is an error.

Every problem becomes a :class:`~shared.errors.PolicyError` whose lines read
``<file>: <field path>: <problem>``, the path relative to the file that holds the field
(``tenants/acme.yaml: profiles.public_assistant.categories.violence.bands[1].min: ...``).
Duplicate YAML keys are rejected rather than silently overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError

from shared.core.policy_checks import Loc, PolicyProblems, Problem, format_loc
from shared.core.policy_model import Policy
from shared.errors import PolicyError

__all__ = ["DEFAULT_POLICY_PATH", "POLICY_FILE", "TENANTS_DIR", "load_policy"]

#: The packaged default policy (a directory; ships in the wheel under ``shared/``).
DEFAULT_POLICY_PATH: Final = Path(__file__).resolve().parent.parent / "policies" / "default"
POLICY_FILE: Final = "policy.yaml"
TENANTS_DIR: Final = "tenants"
_MAX_REPORTED: Final = 10


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate the policy at ``path`` (a file or a directory; None: the default)."""
    path = DEFAULT_POLICY_PATH if path is None else Path(path)
    tenant_files: dict[str, Path] = {}
    if path.is_dir():
        main = path / POLICY_FILE
        if not main.is_file():
            raise PolicyError(f"{path}: directory has no {POLICY_FILE}")
        data = _read(main)
        tenants = data.setdefault("tenants", {})
        if not isinstance(tenants, dict):
            raise PolicyError(f"{main}: tenants: must be a mapping of tenant id to tenant")
        for file in sorted((path / TENANTS_DIR).glob("*.yaml")):
            if file.stem in tenants:
                raise PolicyError(f"{file}: tenant '{file.stem}' is also defined in {main}")
            tenants[file.stem] = _read(file)
            tenant_files[file.stem] = file
    elif path.is_file():
        main = path
        data = _read(path)
    else:
        raise PolicyError(f"{path}: no such file or directory")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_describe(exc, main, tenant_files)) from None


def _read(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{file}: cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(f"{file}: invalid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{file}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{file}: expected a mapping at the top level")
    return data


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys in a mapping."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool):
            continue  # unhashable or exotic keys: construct_mapping reports them
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _describe(exc: ValidationError, main: Path, tenant_files: dict[str, Path]) -> str:
    problems: list[Problem] = []
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, PolicyProblems):
            problems.extend(cause.problems)
            continue
        message = error["msg"].removeprefix("Value error, ")
        loc: Loc = tuple(error["loc"])
        if loc and loc[-1] == "[key]":
            loc, message = loc[:-1], f"invalid name: {message}"
        problems.append((loc, message))
    lines = [_line(loc, msg, main, tenant_files) for loc, msg in problems[:_MAX_REPORTED]]
    if len(problems) > _MAX_REPORTED:
        lines.append(f"(+{len(problems) - _MAX_REPORTED} more problems)")
    return "\n".join(lines)


def _line(loc: Loc, message: str, main: Path, tenant_files: dict[str, Path]) -> str:
    file = main
    if len(loc) >= 2 and loc[0] == "tenants" and str(loc[1]) in tenant_files:
        file, loc = tenant_files[str(loc[1])], loc[2:]
    return f"{file}: {format_loc(loc) or '(top level)'}: {message}"
