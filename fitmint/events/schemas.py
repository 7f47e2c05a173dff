"""JSON Schema (2020-12) of every event payload, generated from the catalogue, for consumers in other
languages: one file per CloudEvents type in schemas/events/ (the legacy types still read included).

    python -m fitmint.events.schemas --write   # regenerate the committed files
    python -m fitmint.events.schemas --check   # exit 1 if they are stale (tests/test_event_schemas.py)
"""

import argparse
import json
import sys
from pathlib import Path

import msgspec

from fitmint.events.catalogue import CURRENT, LEGACY, EventType

FOLDER = Path(__file__).resolve().parents[2] / "schemas" / "events"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def wire_key(payload: type, key: str) -> str:
    """The key's path as the JSON spells it (`original.account`, `orderId`)."""
    names, info = [], msgspec.inspect.type_info(payload)
    for attribute in key.split("."):
        field = next(f for f in info.fields if f.name == attribute)
        names.append(field.encode_name)
        info = field.type
    return ".".join(names)


def schema(ce_type: str, payload: type, current: EventType) -> dict:
    document = {"$schema": DIALECT, "title": f"{current.name} ({ce_type})",
                "x-cloudevents-type": ce_type, "x-topic": current.topic}
    if ce_type == current.ce_type:
        document["x-key"] = wire_key(payload, current.key)
    else:
        document["x-superseded-by"] = current.ce_type
    return document | msgspec.json.schema(payload)


def documents() -> dict[str, str]:
    """File name -> its text, for every type the catalogue writes or still reads."""
    schemas = {ce: schema(ce, t.payload, t) for ce, t in CURRENT.items()}
    schemas |= {ce: schema(ce, legacy.payload, legacy.current) for ce, legacy in LEGACY.items()}
    return {f"{ce}.json": json.dumps(document, indent=2, sort_keys=True) + "\n" for ce, document in schemas.items()}


def stale(folder: Path = FOLDER) -> list[str]:
    """The files that differ from what the catalogue generates (missing, changed or left over)."""
    wanted = documents()
    present = {path.name for path in folder.glob("*.json")} if folder.is_dir() else set()
    return sorted(name for name in wanted.keys() | present
                  if name not in wanted or name not in present or (folder / name).read_text() != wanted[name])


def write(folder: Path = FOLDER) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = documents()
    for path in folder.glob("*.json"):
        if path.name not in wanted:
            path.unlink()
    for name, text in wanted.items():
        (folder / name).write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"regenerate {FOLDER}")
    action.add_argument("--check", action="store_true", help="exit 1 if the committed files are stale")
    arguments = parser.parse_args(argv)
    if arguments.write:
        write()
        return 0
    if names := stale():
        print(f"stale event schemas in {FOLDER}: {', '.join(names)}; run python -m fitmint.events.schemas --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
